import test from 'ava';
import pg from 'pg';
import { register } from '../helpers/client';
import { startDaemon, type Daemon } from '../helpers/daemon';
import { startPostgres, type PostgresServer } from '../helpers/postgres';

/*
 * PostgreSQL going down while mychatd runs is handled as a full disk is (full-disk.test.ts): chat goes on,
 * each affected sender is told once, unsaved messages wait in memory (bounded) and are written in order
 * once the database is back. This file stops and starts its own server, so it shares it with no other file.
 */

let server: PostgresServer | undefined;
test.before(async () => {
  server = await startPostgres();
});
test.after.always(() => server?.destroy());

/** Bound on how long a recovery may take: the retry waits up to 30 s between attempts. */
const RECOVERY_TIMEOUT_MS = 45_000;

/** The stored #lobby lines as "nick text", in id order. */
async function storedLobby(url: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const result = await client.query<{ line: string }>(
      `SELECT m.nick || ' ' || m.text AS line FROM messages m JOIN rooms r ON r.id = m.room_id WHERE r.key = '#lobby' ORDER BY m.id`,
    );
    return result.rows.map((row) => row.line);
  } finally {
    await client.end();
  }
}

test.serial('PostgreSQL stopped mid-run: chat goes on, senders are told once, and the backlog is written in order when it is back', async (t) => {
  t.timeout(120_000);
  const url = await server!.createDatabase();
  const daemon: Daemon = await startDaemon(['--database', url]);
  t.teardown(() => daemon.stop('SIGKILL'));
  const alice = await register(daemon.port, 'alice');
  const bob = await register(daemon.port, 'bob');
  alice.send('before the outage');
  await bob.waitForLine('MSG #lobby alice before the outage');
  // Stored before the server goes: a /history reply is read after this node's own writes.
  alice.send('/history #lobby 5');
  await alice.waitForLine(/^OK HISTORY #lobby 1 /);

  server!.stop();
  const expected = ['alice before the outage'];
  for (let i = 0; i < 20; i++) {
    alice.send(`from alice ${i}`);
    t.is(await bob.waitForLine(/^MSG #lobby alice /), `MSG #lobby alice from alice ${i}`);
    bob.send(`from bob ${i}`);
    t.is(await alice.waitForLine(/^MSG #lobby bob /), `MSG #lobby bob from bob ${i}`);
    expected.push(`alice from alice ${i}`, `bob from bob ${i}`);
  }
  await daemon.waitForLog(/history-write-failed/);
  await alice.sync();
  await bob.sync();
  t.is(alice.all(/^NOTICE History cannot be saved right now/).length, 1, 'alice is told once that her messages may not be kept');
  t.is(bob.all(/^NOTICE History cannot be saved right now/).length, 1);
  t.is(daemon.stderr().split('\n').filter((l) => l.includes('history-write-failed')).length, 1, 'the outage is logged once');
  bob.send('/history #lobby 5');
  t.regex(await bob.waitForLine(/^ERR /), /^ERR HISTORY_BUSY /, 'reads are refused, not hung, while the database is down');

  const restartedAt = daemon.stderr().length;
  server!.start();
  const recovered = await daemon.waitForLog(/history-write-recovered written=(\d+) lost=(\d+)/, restartedAt, RECOVERY_TIMEOUT_MS);
  t.is(recovered.match[2], '0', 'nothing was lost');
  t.deepEqual(await storedLobby(url), expected, 'every message is stored once, in the order sent');

  // Healthy again: new messages are stored, and reads work.
  alice.send('after recovery');
  await bob.waitForLine('MSG #lobby alice after recovery');
  bob.send('/search #lobby recovery');
  await bob.waitForLine(/^OK SEARCH #lobby 1 /);
  alice.end();
  bob.end();
  t.is(await daemon.stop(), 0);
  t.regex(daemon.stderr(), /info history-closed notKept=0/);
});
