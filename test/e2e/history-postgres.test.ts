import test from 'ava';
import { spawnSync } from 'node:child_process';
import pg from 'pg';
import { register } from '../helpers/client';
import { DAEMON_JS, daemonEnv, startDaemon } from '../helpers/daemon';
import { historyScenarios } from '../helpers/history-scenarios';
import { startPostgres, type PostgresServer } from '../helpers/postgres';
import { startCluster } from '../helpers/redis';
import { LIMITS } from '../../lib/protocol/limits';

/*
 * mychatd --database postgres://...: the history scenarios of history.test.ts against a real PostgreSQL 15
 * (one server for this file, a fresh database per test), two nodes sharing one database, and start-up errors.
 */

let server: PostgresServer | undefined;
test.before(async () => {
  server = await startPostgres();
});
test.after.always(() => server?.destroy());

historyScenarios('postgres', async () => ['--database', await server!.createDatabase()]);

test('two nodes on one database share rooms, topics, history and search', async (t) => {
  const database = await server!.createDatabase();
  const one = await startDaemon(['--database', database]);
  const two = await startDaemon(['--database', database]);
  const a = await register(one.port, 'nodeA');
  a.send('/join #shared');
  await a.waitForLine(/^OK JOIN #shared/);
  a.send('/topic #shared Shared topic');
  await a.waitForLine(/^OK TOPIC/);
  a.send('written on node one');
  await a.sync();
  t.teardown(() => Promise.all([one.stop('SIGKILL'), two.stop('SIGKILL')]));
  const b = await register(two.port, 'nodeB');
  // Node two loaded its rooms at start, before #shared existed: joining makes it there (the room's row is
  // shared) and replays what node one said; /history and /search read the shared history.
  b.send('/join #shared');
  await b.waitForLine(/^OK JOIN #shared/);
  t.deepEqual(
    b.all(/^(HISTORY|HISTEND) #shared /).map((l) => l.replace(/^HISTORY #shared \d+ \S+ /, '')),
    ['nodeA TOPIC Shared topic', 'nodeA MSG written on node one', 'HISTEND #shared 2 Replayed the last 2; /history #shared for more.'],
    'the first join on node two replays the shared history',
  );
  b.send('and on node two');
  const replayed = b.lines.length;
  b.send('/search #shared written');
  await b.waitForLine(/^OK SEARCH #shared 1/);
  t.regex(b.lines.slice(replayed).find((l) => l.startsWith('HISTORY #shared')) ?? '', /^HISTORY #shared \d+ \S+ nodeA MSG written on node one$/, "node two finds node one's message");
  a.send('/history #shared');
  await a.waitForLine(/^OK HISTORY #shared/);
  t.deepEqual(
    a.all(/^HISTORY #shared \d+ \S+ \S+ MSG /).map((l) => l.replace(/^HISTORY #shared \d+ \S+ /, '')),
    ['nodeA MSG written on node one', 'nodeB MSG and on node two'],
    "node one reads node two's message",
  );
  a.end();
  b.end();
  await one.stop();
  await two.stop();
  // A third node started now loads the room and its topic from the database.
  const three = await startDaemon(['--database', database]);
  const c = await register(three.port, 'nodeC');
  c.send('/rooms shared');
  t.is(await c.waitForLine(/^ROOM #shared/), 'ROOM #shared 0 Shared topic');
  c.end();
  await three.stop();
});

test('with one database, joining rooms another node made spends none of the joiner\'s room-creation allowance', async (t) => {
  const database = await server!.createDatabase();
  const cluster = await startCluster(2, ['--database', database]);
  t.teardown(() => cluster.stop());
  const [one, two] = cluster.nodes;
  // Node one makes a full hour's allowance of rooms for 127.0.0.0/24, says a line in each, and leaves:
  // no member is left anywhere, so only the database knows the rooms exist.
  const ann = await register(one!.port, 'ann');
  for (let i = 0; i < LIMITS.maxRoomsCreatedPerHour; i++) {
    ann.send(`/join #made${i}`);
    await ann.waitForLine(new RegExp(`^OK JOIN #made${i} `));
    ann.send(`said in #made${i}`);
    ann.send(`/part #made${i}`);
  }
  await ann.sync();
  ann.end();
  // Node two started before they existed: joining each looks like creating it, until the database says otherwise.
  const ben = await register(two!.port, 'ben');
  for (let i = 0; i < LIMITS.maxRoomsCreatedPerHour; i++) {
    ben.send(`/join #made${i}`);
    await ben.waitForLine(new RegExp(`^OK JOIN #made${i} `));
  }
  // The PONG comes once node two's writes (the room rows it tried to create) are done.
  await ben.sync();
  ben.send('/join #ben-made-this');
  t.regex(await ben.waitForLine(/^(OK JOIN|ERR) /), /^OK JOIN #ben-made-this /, 'the joins of existing rooms were given back');
  ben.end();
});

test('a database that stalls without failing (a lock held by another session): the other node shows the line and the sender gets its PONG while it stalls (bounded waits), and nothing is lost', async (t) => {
  const database = await server!.createDatabase();
  const cluster = await startCluster(2, ['--database', database]);
  t.teardown(() => cluster.stop());
  const [one, two] = cluster.nodes;
  const ann = await register(one!.port, 'ann');
  const ben = await register(two!.port, 'ben');
  ann.send('/join #stall');
  await ann.waitForLine(/^OK JOIN #stall /);
  ben.send('/join #stall');
  await ben.waitForLine(/^OK JOIN #stall /);
  await ann.waitForLine('JOIN #stall ben');
  ann.send('before the stall');
  await ben.waitForLine('MSG #stall ann before the stall');
  // Another session takes the messages table: node one's inserts wait for it, with no error before the
  // 5 s statement timeout, as a database that stalls does.
  const locker = new pg.Client({ connectionString: database });
  await locker.connect();
  t.teardown(() => locker.end().catch(() => undefined));
  await locker.query('BEGIN');
  await locker.query('LOCK TABLE messages IN ACCESS EXCLUSIVE MODE');
  ann.send('during the stall');
  // Both arrive while the lock is still held: the line on node two, and the sender's PONG.
  await Promise.all([ben.waitForLine('MSG #stall ann during the stall'), ann.sync()]);
  await locker.query('COMMIT');
  // Once the lock is gone the line is stored: node one's reads wait for its own writes.
  ann.send('/history #stall');
  await ann.waitForLine(/^OK HISTORY #stall /);
  t.deepEqual(ann.all(/^HISTORY #stall /).map((line) => line.split(' ').slice(6).join(' ')), ['before the stall', 'during the stall']);
  t.notRegex(one!.stderr(), /history-write-failed/, 'a stall shorter than the statement timeout is not an outage');
  ann.end();
  ben.end();
});

test('with Redis and one database, the first join on a node replays a room made and used on another node', async (t) => {
  const database = await server!.createDatabase();
  const cluster = await startCluster(2, ['--database', database]);
  t.teardown(() => cluster.stop());
  const [one, two] = cluster.nodes;
  const ann = await register(one!.port, 'ann');
  // #quiet is made on node one while node two runs; nothing is said there (node two sees it only as a name).
  ann.send('/join #quiet');
  await ann.waitForLine(/^OK JOIN #quiet/);
  ann.send('/join #made-on-one');
  await ann.waitForLine(/^OK JOIN #made-on-one/);
  ann.send('first on node one');
  ann.send('second on node one');
  // Stored: node one's reads wait for its own writes.
  ann.send('/history #made-on-one');
  await ann.waitForLine(/^OK HISTORY #made-on-one 2 /);

  const ben = await register(two!.port, 'ben');
  ben.send('/join #made-on-one');
  await ben.waitForLine(/^OK JOIN #made-on-one/);
  t.deepEqual(
    ben.all(/^(HISTORY|HISTEND) #made-on-one /).map((l) => l.replace(/^HISTORY #made-on-one \d+ \S+ /, '')),
    ['ann MSG first on node one', 'ann MSG second on node one', 'HISTEND #made-on-one 2 Replayed the last 2; /history #made-on-one for more.'],
  );
  // A room with nothing stored replays nothing, as a new room.
  ben.send('/join #quiet');
  await ben.waitForLine(/^OK JOIN #quiet/);
  t.deepEqual(ben.all(/^(HISTORY|HISTEND) #quiet /), []);
  // Live lines after the join come once, through Redis, and are not replayed again.
  await ann.waitForLine('JOIN #made-on-one ben');
  const cid = await register(two!.port, 'cid');
  ann.send('/join #made-on-one');
  ann.send('live after the join');
  t.is(await ben.waitForLine(/^MSG #made-on-one /), 'MSG #made-on-one ann live after the join');
  // A second node-two user joining the moment the line is shown there replays all three (the room is
  // now known as used on node two): a line reaches other nodes only once it is in the database.
  cid.send('/join #made-on-one');
  await cid.waitForLine(/^OK JOIN #made-on-one/);
  t.deepEqual(cid.all(/^HISTORY #made-on-one /).map((l) => l.replace(/^HISTORY #made-on-one \d+ \S+ /, '')), ['ann MSG first on node one', 'ann MSG second on node one', 'ann MSG live after the join']);
  await ben.sync();
  t.is(ben.all(/^MSG #made-on-one /).length, 1);
  ann.end();
  ben.end();
  cid.end();
});

test.serial('a database that cannot be reached stops mychatd at start with status 1 and a message naming it, password hidden', (t) => {
  // A port nothing listens on: PostgreSQL's, just stopped, would be one; here the server's port plus one is closed.
  const url = `postgres://mychat:secret@127.0.0.1:${server!.port + 1}/nowhere`;
  const result = spawnSync(process.execPath, [DAEMON_JS, '--port', '0', '--database', url], { encoding: 'utf8', timeout: 20_000, env: daemonEnv() });
  t.is(result.status, 1, result.stderr);
  t.regex(result.stderr, /^mychatd: cannot use the history database postgres:\/\/mychat:\*\*\*@127\.0\.0\.1:\d+\/nowhere: .*ECONNREFUSED/m);
  t.false(result.stderr.includes('secret'));
  const bad = spawnSync(process.execPath, [DAEMON_JS, '--port', '0', '--database', 'mysql://db/x'], { encoding: 'utf8', timeout: 20_000, env: daemonEnv() });
  t.is(bad.status, 2);
  t.regex(bad.stderr, /--database must be empty \(SQLite in --data-dir\) or a PostgreSQL URL/);
});
