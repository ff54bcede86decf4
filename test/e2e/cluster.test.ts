import test from 'ava';
import { connect, register, type TestClient } from '../helpers/client';
import { startCluster, type TestCluster } from '../helpers/redis';

// Two mychatd nodes sharing a real redis-server (and a third cluster of three nodes below): users on
// different nodes chat in rooms and privately, see each other in /who, /whois and /rooms, and get one
// nickname across the cluster.

let two: TestCluster;
test.before(async () => {
  two = await startCluster(2);
});
test.after.always(async () => {
  await two?.stop();
});

/** Joins `room` with each client in turn, and waits until every earlier one saw the later ones arrive. */
async function joinAll(room: string, clients: TestClient[], nicks: string[]): Promise<void> {
  for (let i = 0; i < clients.length; i++) {
    clients[i]!.send(`/join ${room}`);
    await clients[i]!.waitForLine(`OK JOIN ${room} Now talking in ${room}.`);
    for (let j = 0; j < i; j++) await clients[j]!.waitForLine(`JOIN ${room} ${nicks[i]}`);
  }
}

test('users on two nodes talk in a room: each line reaches the other node once, the sender not at all', async (t) => {
  const [a, b] = two.nodes;
  const ann = await register(a!.port, 'ann');
  const ben = await register(b!.port, 'ben');
  await joinAll('#two', [ann, ben], ['ann', 'ben']);
  ben.send('hello from node two');
  t.is(await ann.waitForLine(/^MSG #two /), 'MSG #two ben hello from node two');
  ann.send('/me waves back');
  t.is(await ben.waitForLine(/^ACTION #two /), 'ACTION #two ann waves back');
  ann.send('/topic #two cross-node topic');
  t.is(await ben.waitForLine(/^TOPIC #two /), 'TOPIC #two ann cross-node topic');
  await Promise.all([ann.sync(), ben.sync()]);
  t.is(ann.all(/^MSG #two /).length, 1);
  t.deepEqual(ben.all(/^MSG #two /), []);
  // The member count of the room is the cluster's.
  ben.send('/join #two');
  t.is(await ben.waitForLine(/^ROOM #two /), 'ROOM #two 2 cross-node topic');
  ben.send('/part #two bye now');
  t.is(await ann.waitForLine(/^PART #two /), 'PART #two ben bye now');
  ann.end();
  ben.end();
});

test('/msg reaches a user on the other node; /whois and /who see them', async (t) => {
  const [a, b] = two.nodes;
  const cat = await register(a!.port, 'cat');
  const dan = await register(b!.port, 'dan');
  await joinAll('#pm', [cat, dan], ['cat', 'dan']);
  cat.send('/msg DAN psst, over here');
  t.is(await cat.waitForLine(/^OK MSG /), 'OK MSG dan Message sent to dan.');
  t.is(await dan.waitForLine(/^PRIVMSG /), 'PRIVMSG cat psst, over here');
  dan.send('/whois cat');
  t.regex(await dan.waitForLine(/^WHOIS cat /), /^WHOIS cat .*#pm/);
  await dan.waitForLine('OK WHOIS cat End of WHOIS for cat.');
  dan.send('/who #pm');
  const names = await dan.waitForLine(/^NAMES #pm /);
  t.deepEqual(names.split(' ').slice(2).sort(), ['cat', 'dan']);
  t.is(await dan.waitForLine(/^OK WHO #pm /), 'OK WHO #pm 2 in #pm.');
  cat.send('/rooms pm');
  t.is(await cat.waitForLine(/^ROOM #pm/), 'ROOM #pm 2');
  cat.send('/msg nobody-here hi');
  t.regex(await cat.waitForLine(/^ERR /), /^ERR NO_SUCH_NICK /);
  cat.end();
  dan.end();
});

test('a nickname change and a quit on one node are seen by room members on the other', async (t) => {
  const [a, b] = two.nodes;
  const eve = await register(a!.port, 'eve');
  const fay = await register(b!.port, 'fay');
  await joinAll('#presence', [eve, fay], ['eve', 'fay']);
  fay.send('/nick fay2');
  t.is(await eve.waitForLine(/^NICK fay/), 'NICK fay fay2');
  // The old name is free across the cluster once given up; the new one is taken.
  const other = await connect(a!.port);
  other.send('fay2');
  t.regex(await other.waitForLine(/^ERR /), /^ERR NICK_IN_USE /);
  other.send('fay');
  await other.waitForLine(/^OK NICK fay /);
  fay.send('/quit gone home');
  t.is(await eve.waitForLine(/^QUIT fay2 /), 'QUIT fay2 Quit: gone home');
  eve.end();
  other.end();
});

test('a room message from a room nobody on the other node is in is not published there', async (t) => {
  const [a, b] = two.nodes;
  const gus = await register(a!.port, 'gus');
  const hal = await register(b!.port, 'hal');
  gus.send('/join #alone');
  await gus.waitForLine('OK JOIN #alone Now talking in #alone.');
  gus.send('only me here');
  await gus.sync();
  hal.send('/join #alone');
  await hal.waitForLine('OK JOIN #alone Now talking in #alone.');
  await gus.waitForLine('JOIN #alone hal');
  gus.send('now you hear me');
  t.is(await hal.waitForLine(/^MSG #alone /), 'MSG #alone gus now you hear me');
  t.deepEqual(hal.all(/only me here/), []);
  gus.end();
  hal.end();
});

test('two nodes race for one nickname: exactly one wins, the other gets NICK_IN_USE (ten rounds)', async (t) => {
  const [a, b] = two.nodes;
  for (let round = 0; round < 10; round++) {
    const [x, y] = await Promise.all([connect(a!.port), connect(b!.port)]);
    const nick = `race${round}`;
    x.send(nick);
    y.send(nick);
    const answers = await Promise.all([x.waitForLine(/^(OK NICK|ERR) /), y.waitForLine(/^(OK NICK|ERR) /)]);
    const winners = answers.filter((line) => line.startsWith('OK NICK'));
    const losers = answers.filter((line) => line.startsWith('ERR NICK_IN_USE'));
    t.is(winners.length, 1, JSON.stringify(answers));
    t.is(losers.length, 1, JSON.stringify(answers));
    x.end();
    y.end();
  }
});

test('look-alike nicknames clash across nodes (the same skeleton keys as on one node)', async (t) => {
  const [a, b] = two.nodes;
  const ivy = await register(a!.port, 'ivyalice');
  const imitator = await connect(b!.port);
  imitator.send('ivyaIice'); // capital I for l
  t.is(await imitator.waitForLine(/^ERR /), 'ERR NICK_IN_USE The nickname ivyaIice looks like ivyalice, who is online; pick another.');
  imitator.send('IVYALICE');
  t.is(await imitator.waitForLine(/^ERR /), 'ERR NICK_IN_USE The nickname IVYALICE is taken; pick another.');
  imitator.send('ivyаlice'); // Cyrillic а
  t.regex(await imitator.waitForLine(/^ERR /), /^ERR NICK_IN_USE .*ivyalice/);
  ivy.end();
  imitator.end();
});

test.serial('three nodes: a room spanning them delivers each line to the two other nodes, and /who counts everyone', async (t) => {
  const three = await startCluster(3);
  try {
    const clients = await Promise.all(three.nodes.map((node, i) => register(node.port, `tri${i}`)));
    const nicks = ['tri0', 'tri1', 'tri2'];
    await joinAll('#tri', clients, nicks);
    for (let i = 0; i < 3; i++) {
      clients[i]!.send(`line from node ${i}`);
      for (let j = 0; j < 3; j++) if (j !== i) t.is(await clients[j]!.waitForLine(/^MSG #tri /), `MSG #tri tri${i} line from node ${i}`);
    }
    await Promise.all(clients.map((c) => c.sync()));
    for (const c of clients) t.is(c.all(/^MSG #tri /).length, 2);
    clients[2]!.send('/who');
    t.is(await clients[2]!.waitForLine(/^OK WHO \* /), 'OK WHO * 3 online.');
    for (const c of clients) c.end();
  } finally {
    await three.stop();
  }
});
