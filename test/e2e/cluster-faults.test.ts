import test from 'ava';
import { connect, register, type TestClient } from '../helpers/client';
import { startCluster } from '../helpers/redis';

// Faults of a two-node cluster with a real redis-server: Redis stopped and started again on the same port
// (empty: it saves nothing), and a node killed with SIGKILL. Each test has its own Redis and nodes.

/** Tries to register `nick` on `port` until it is accepted (bounded by `timeoutMs`); returns the refusals seen before. */
async function claimWhenFree(port: number, nick: string, timeoutMs: number): Promise<{ client: TestClient; refusals: string[] }> {
  const client = await connect(port);
  const refusals: string[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    client.send(nick);
    const answer = await client.waitForLine(/^(OK NICK|ERR) /);
    if (answer.startsWith('OK NICK')) return { client, refusals };
    refusals.push(answer);
    if (Date.now() > deadline) throw new Error(`${nick} still refused after ${timeoutMs} ms: ${answer}`);
    // Ask again once the server has answered something else: paced by round trips, bounded by the deadline.
    await client.sync();
  }
}

test.serial('Redis restarts: each node serves its own users meanwhile, affected users get one NOTICE, then chat and nicknames are back', async (t) => {
  const cluster = await startCluster(2);
  try {
    const [a, b] = cluster.nodes;
    const ann = await register(a!.port, 'ann');
    const amy = await register(a!.port, 'amy');
    const ben = await register(b!.port, 'ben');
    for (const [client, nick] of [[ann, 'ann'], [amy, 'amy'], [ben, 'ben']] as const) {
      client.send('/join #r');
      await client.waitForLine('OK JOIN #r Now talking in #r.');
      if (nick !== 'ann') await ann.waitForLine(`JOIN #r ${nick}`);
    }
    ben.send('before the outage');
    await ann.waitForLine('MSG #r ben before the outage');

    const aLog = a!.stderr().length;
    const bLog = b!.stderr().length;
    await cluster.redis.stop();
    await a!.waitForLog(/warn cluster-degraded/, aLog);
    await b!.waitForLog(/warn cluster-degraded/, bLog);
    t.regex(await ann.waitForLine(/^NOTICE Cross-server/), /^NOTICE Cross-server delivery is degraded/);
    t.regex(await ben.waitForLine(/^NOTICE Cross-server/), /^NOTICE Cross-server delivery is degraded/);
    // Local delivery goes on; a second line in the same outage brings no second NOTICE.
    ann.send('during the outage');
    t.is(await amy.waitForLine(/^MSG #r ann/), 'MSG #r ann during the outage');
    ann.send('still during the outage');
    t.is(await amy.waitForLine(/^MSG #r ann/), 'MSG #r ann still during the outage');
    await ann.sync();
    t.is(ann.all(/^NOTICE Cross-server delivery is degraded/).length, 1);

    await cluster.redis.restart();
    await a!.waitForLog(/warn cluster-recovered/, aLog);
    await b!.waitForLog(/warn cluster-recovered/, bLog);
    t.regex(await ann.waitForLine(/^NOTICE Cross-server/), /^NOTICE Cross-server delivery is back/);
    // Redis came back empty: the nodes asserted their users' names again.
    const imitator = await connect(b!.port);
    imitator.send('ann');
    t.regex(await imitator.waitForLine(/^ERR /), /^ERR NICK_IN_USE /);
    ben.send('after the outage');
    t.is(await ann.waitForLine(/^MSG #r ben/), 'MSG #r ben after the outage');
    ann.send('hello again');
    t.is(await ben.waitForLine(/^MSG #r ann/), 'MSG #r ann hello again');
    // At most once: what was said during the outage is not delivered late, and nothing twice.
    await ben.sync();
    t.deepEqual(ben.all(/during the outage/), []);
    t.is(ben.all(/^MSG #r ann hello again$/).length, 1);
    t.is(ann.all(/^MSG #r ben before the outage$/).length, 1);
    for (const c of [ann, amy, ben, imitator]) c.end();
  } finally {
    await cluster.stop();
  }
});

test.serial('a node killed with SIGKILL: its users quit for the others and its nicknames are free within the lease', async (t) => {
  const cluster = await startCluster(2, ['--nick-lease', '3']);
  try {
    const [a, b] = cluster.nodes;
    const kim = await register(a!.port, 'kim');
    const lee = await register(b!.port, 'lee');
    kim.send('/join #k');
    await kim.waitForLine('OK JOIN #k Now talking in #k.');
    lee.send('/join #k');
    await kim.waitForLine('JOIN #k lee');
    await lee.waitForLine('OK JOIN #k Now talking in #k.');
    await a!.stop('SIGKILL');
    // Within the lease the name is still held for kim (a node that is only slow keeps its users).
    const early = await connect(b!.port);
    early.send('kim');
    t.regex(await early.waitForLine(/^(OK NICK|ERR) /), /^ERR NICK_IN_USE /);
    t.is(await lee.waitForLine(/^QUIT kim /, 10_000), 'QUIT kim Server lost');
    const { client } = await claimWhenFree(b!.port, 'kim', 10_000);
    client.send('/who');
    t.is(await client.waitForLine(/^OK WHO \* /), 'OK WHO * 2 online.');
    t.regex(b!.stderr(), /warn cluster-node-lost node=n1-\w+ users=1/);
    for (const c of [lee, early, client]) c.end();
  } finally {
    await cluster.stop();
  }
});

test.serial('the same nickname taken on both nodes while Redis is down: when it is back exactly one keeps it, the other is told by NOTICE and can move to another name', async (t) => {
  const cluster = await startCluster(2);
  try {
    const [a, b] = cluster.nodes;
    const aLog = a!.stderr().length;
    const bLog = b!.stderr().length;
    await cluster.redis.stop();
    await a!.waitForLog(/warn cluster-degraded/, aLog);
    await b!.waitForLog(/warn cluster-degraded/, bLog);
    // Each node can only check its own users meanwhile: both say yes.
    const onA = await register(a!.port, 'twin');
    const onB = await register(b!.port, 'TWIN');
    await cluster.redis.restart();
    await a!.waitForLog(/warn cluster-recovered/, aLog);
    await b!.waitForLog(/warn cluster-recovered/, bLog);
    const clashText = /^NOTICE Your nickname (twin|TWIN) was given to someone on another server while the servers were apart; please pick another with \/nick\.$/;
    // Both nodes have re-asserted their names once each logged cluster-recovered; a /ping orders the NOTICE before PONG.
    await Promise.all([onA.sync(), onB.sync()]);
    const told = [onA, onB].filter((client) => client.all(clashText).length === 1);
    t.is(told.length, 1, `NOTICEs: a ${JSON.stringify(onA.all(/^NOTICE/))}, b ${JSON.stringify(onB.all(/^NOTICE/))}`);
    const loser = told[0]!;
    const winner = loser === onA ? onB : onA;
    const [winnerNode, loserNode] = loser === onA ? [b!, a!] : [a!, b!];
    t.deepEqual(winner.all(clashText), []);
    // The way out: another name, which the cluster checks as usual.
    loser.send('/nick twin2');
    t.regex(await loser.waitForLine(/^(OK NICK|ERR) /), /^OK NICK twin2 /);
    // The name is the winner's on both nodes: refused to newcomers, and a /msg reaches the winner.
    for (const node of [loserNode, winnerNode]) {
      const newcomer = await connect(node.port);
      newcomer.send('twin');
      t.regex(await newcomer.waitForLine(/^(OK NICK|ERR) /), /^ERR NICK_IN_USE /);
      newcomer.end();
    }
    const asker = await register(loserNode.port, 'asker');
    asker.send('/msg twin are you the one?');
    await asker.waitForLine(/^OK MSG /);
    t.is(await winner.waitForLine(/^PRIVMSG asker /), 'PRIVMSG asker are you the one?');
    await loser.sync();
    t.deepEqual(loser.all(/^PRIVMSG /), []);
    for (const c of [onA, onB, asker]) c.end();
  } finally {
    await cluster.stop();
  }
});
