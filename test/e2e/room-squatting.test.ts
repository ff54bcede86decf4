import test from 'ava';
import net from 'node:net';
import { TestClient } from '../helpers/client';
import { scratchDir, startDaemon } from '../helpers/daemon';

/** Connects to the daemon from a given loopback address (all of 127.0.0.0/8 reaches it) and waits for HELLO. */
async function connectFrom(port: number, localAddress: string): Promise<TestClient> {
  const socket = net.connect({ port, host: '127.0.0.1', localAddress });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const client = new TestClient(socket);
  await client.waitForLine(/^HELLO /);
  return client;
}

/** Connects from `localAddress` and registers `nick`. */
async function registerFrom(port: number, localAddress: string, nick: string): Promise<TestClient> {
  const client = await connectFrom(port, localAddress);
  client.send(nick);
  await client.waitForLine(/^OK JOIN #lobby /);
  return client;
}

/** Attacker addresses: 127.0.0.2 to 127.0.0.254, one /24, as in the issue. */
const ATTACKERS = 253;
/** Rooms each attacker address tries to create. */
const ROOMS_EACH = 2;
/** Attackers working at once. */
const PARALLEL = 23;

test('room squatting from 253 addresses, then a restart: a user from another network still creates a room and talks in it', async (t) => {
  const dataDir = scratchDir();
  // A small room cap so the test fills it in seconds; the rest are the defaults (30 new rooms an hour per /24).
  const args = ['--data-dir', dataDir, '--max-rooms', '20'];
  const first = await startDaemon(args);
  t.teardown(() => void first.stop('SIGKILL'));
  const attackers: TestClient[] = [];
  const replies: string[] = [];
  for (let start = 0; start < ATTACKERS; start += PARALLEL) {
    const batch = Array.from({ length: Math.min(PARALLEL, ATTACKERS - start) }, (_, k) => start + k);
    await Promise.all(
      batch.map(async (i) => {
        const client = await registerFrom(first.port, `127.0.0.${i + 2}`, `squatter${i}`);
        attackers.push(client);
        for (let r = 0; r < ROOMS_EACH; r++) {
          const room = `#squat${i}x${r}`;
          client.send(`/join ${room}`);
          const reply = await client.waitForLine(/^(OK JOIN|ERR) /);
          replies.push(reply);
          if (!reply.startsWith('OK')) continue;
          // A topic, then leave: the room looks claimed but nobody is in it and nothing was said.
          client.send(`/topic ${room} taken`);
          client.send(`/part ${room}`);
          await client.waitForLine(`OK PART ${room} Left ${room}; now talking in #lobby.`);
        }
      }),
    );
  }
  const created = replies.filter((line) => line.startsWith('OK JOIN'));
  t.is(created.length, 30, 'one /24 creates 30 rooms an hour, however many addresses it uses');
  t.deepEqual(replies.filter((line) => !line.startsWith('OK JOIN') && !line.startsWith('ERR TOO_MANY_ROOMS ')), []);
  t.is(first.stderr().match(/ warn rooms-near-cap /g)?.length, 1, 'the operator was warned once that the room cap is near');
  for (const client of attackers) client.end();
  t.is(await first.stop(), 0);

  const second = await startDaemon(args);
  t.teardown(() => void second.stop('SIGKILL'));
  const back = await registerFrom(second.port, '127.0.0.99', 'squatterBack');
  back.send('/join #again');
  t.regex(await back.waitForLine(/^(OK JOIN|ERR) /), /^ERR TOO_MANY_ROOMS .*try again in \d+ minutes\.$/, 'the count survived the restart');

  const alice = await registerFrom(second.port, '127.0.1.1', 'alice');
  alice.send('/join #myteam');
  t.is(await alice.waitForLine(/^(OK JOIN|ERR) /), 'OK JOIN #myteam Now talking in #myteam.', 'the full server made room for a new one');
  alice.send('hello team');
  await alice.sync();
  const bob = await registerFrom(second.port, '127.0.1.2', 'bob');
  bob.send('/join #myteam');
  t.regex(await bob.waitForLine(/^HISTORY #myteam /), / alice MSG hello team$/);
  await bob.waitForLine('OK JOIN #myteam Now talking in #myteam.');
  alice.send('welcome bob');
  t.is(await bob.waitForLine(/^MSG /), 'MSG #myteam alice welcome bob');
  for (const client of [back, alice, bob]) client.end();
  t.is(await second.stop(), 0);
});
