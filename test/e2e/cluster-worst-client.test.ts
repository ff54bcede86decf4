import test, { type ExecutionContext } from 'ava';
import { registerFrom, type TestClient } from '../helpers/client';
import { startDaemon } from '../helpers/daemon';
import { startPostgres, type PostgresServer } from '../helpers/postgres';
import { redisQuery, startCluster, startRedis, TEST_LEASE_ARGS } from '../helpers/redis';

let postgres: PostgresServer | undefined;
test.before(async () => {
  postgres = await startPostgres();
});
test.after.always(() => postgres?.destroy());

// The worst client across nodes, with a real redis-server: one client on node a floods a room spanning
// both nodes as fast as it can write and never reads, while two users on each node keep talking there.
// Flood control decides what of it is published, so node b and its subscription in Redis carry a bounded
// trickle; the calm users' lines keep arriving; the flooder is told and then cut off.

/** Flood settings as shipped, but a flood-kick of 2 s (30 by default) so the test sees the flooder cut off. */
const DEFAULT_FLOOD = ['--flood-burst', '20', '--flood-rate', '5', '--flood-address-burst', '100', '--flood-address-rate', '20'];
const DEFAULT_INPUT = ['--input-rate', '8192', '--input-address-rate', '32768', '--flood-kick', '2'];

/** The largest output buffer (omem, bytes) Redis holds for any pub/sub subscriber, i.e. for a node's subscriber connection. */
async function largestSubscriberBacklog(redisPort: number): Promise<number> {
  const list = await redisQuery(redisPort, 'CLIENT', 'LIST', 'TYPE', 'pubsub');
  return Math.max(0, ...[...list.matchAll(/ omem=(\d+)/g)].map((match) => Number(match[1])));
}

/**
 * The flood across two nodes started with `store` (their history options): the flooder on node a, two
 * calm users on each node. Run with each node's own SQLite and with one shared PostgreSQL.
 */
async function floodAcrossNodes(t: ExecutionContext, store: string[]): Promise<void> {
  const cluster = await startCluster(2, [...DEFAULT_FLOOD, ...DEFAULT_INPUT, ...store]);
  try {
    const [a, b] = cluster.nodes;
    const flooder = await registerFrom(a!.port, '127.0.9.1', 'flooder');
    const calm: Array<{ client: TestClient; nick: string }> = [];
    for (const [node, from, nick] of [
      [a!, '127.0.9.2', 'calmA1'],
      [a!, '127.0.9.3', 'calmA2'],
      [b!, '127.0.9.4', 'calmB1'],
      [b!, '127.0.9.5', 'calmB2'],
    ] as const) {
      calm.push({ client: await registerFrom(node.port, from, nick), nick });
    }
    // One after another; the first joiner on node b gets OK JOIN once node a knows of it (see cluster-links).
    for (const { client } of [{ client: flooder }, ...calm]) {
      client.send('/join #storm');
      await client.waitForLine('OK JOIN #storm Now talking in #storm.');
    }

    // The flooder never reads again, and writes as fast as its socket takes it (bounded: 16 MiB).
    flooder.socket.pause();
    const line = `flood ${'x'.repeat(90)}\r\n`;
    const chunk = line.repeat(Math.floor(65536 / line.length));
    let written = 0;
    const pump = (): void => {
      while (!flooder.closed && written < 16 * 1024 * 1024 && flooder.socket.write(chunk)) written += chunk.length;
    };
    flooder.socket.on('drain', pump);
    pump();
    const start = Date.now();

    // The calm users take turns; each line reaches the three others, on both nodes, within the usual wait.
    let largest = 0;
    let kicked = false;
    // Until the flooder is cut off (bounded: 150 rounds, about 7 s once the calm users' own budgets pace them).
    for (let round = 0; round < 150 && !(kicked && round >= 12); round++) {
      const speaker = calm[round % calm.length]!;
      speaker.client.send(`calm line ${round}`);
      for (const other of calm) {
        if (other !== speaker) await other.client.waitForLine(`MSG #storm ${speaker.nick} calm line ${round}`);
      }
      largest = Math.max(largest, await largestSubscriberBacklog(cluster.redis.port));
      kicked = calm[3]!.client.all(/^QUIT flooder /).length > 0;
    }
    // Cut off by flood control, and seen leaving on both nodes.
    for (const { client } of calm) t.is(client.all(/^QUIT flooder /)[0] ?? (await client.waitForLine(/^QUIT flooder /, 10_000)), 'QUIT flooder Excess flood');
    const seconds = (Date.now() - start) / 1000;
    // A line from node a after the QUIT follows every earlier line of node a to node b.
    calm[0]!.client.send('after the flood');
    await calm[3]!.client.waitForLine(/^MSG #storm calmA1 after the flood$/, 10_000);
    // What reached node b of the flood is what flood control let through: the burst, then 5 lines a second.
    const trickle = calm[3]!.client.all(/^MSG #storm flooder /).length;
    t.true(trickle >= 20 && trickle <= 20 + 5 * (seconds + 1), `${trickle} flood lines reached node b in ${seconds.toFixed(1)} s`);
    t.deepEqual(calm[3]!.client.all(/^MSG #storm flooder /), calm[0]!.client.all(/^MSG #storm flooder /));
    // Redis never held more than a little for a node's subscriber connection.
    t.true(largest < 256 * 1024, `largest subscriber backlog in Redis: ${largest} bytes`);
    // The flooder was told (flood control, then the kick), in what it never read.
    flooder.socket.resume();
    await flooder.waitForLine(/^NOTICE Flood control: you are sending faster/);
    t.is(await flooder.waitForLine(/^BYE /), 'BYE Excess flood');
    t.true(flooder.all(/^ERR FLOODING /).length === 1);
    // Both nodes still answer at once.
    for (const { client } of calm) await client.sync();
    // What was said is stored up to the last line, on node a (with SQLite each node stores its own users' lines).
    calm[0]!.client.send('/history #storm 3');
    await calm[0]!.client.waitForLine(/^OK HISTORY #storm /);
    t.is(calm[0]!.client.all(/^HISTORY #storm /).at(-1)?.split(' ').slice(4).join(' '), 'calmA1 MSG after the flood');
    if (store.length > 0) {
      // With the shared database node b reads the same history.
      calm[3]!.client.send('/history #storm 3');
      await calm[3]!.client.waitForLine(/^OK HISTORY #storm /);
      t.is(calm[3]!.client.all(/^HISTORY #storm /).at(-1)?.split(' ').slice(4).join(' '), 'calmA1 MSG after the flood');
    }
    for (const { client } of calm) client.end();
  } finally {
    await cluster.stop();
  }
}

test('a client flooding a shared room on node a and never reading: users on both nodes keep talking, node b gets a bounded trickle, the flooder is cut off', (t) => floodAcrossNodes(t, []));

test('the same flood with one PostgreSQL shared by both nodes: users keep talking, the flooder is cut off, and what the calm users said is stored', async (t) => {
  t.timeout(120_000);
  await floodAcrossNodes(t, ['--database', await postgres!.createDatabase()]);
});

test('a node that falls far behind is cut off by Redis at its pub/sub buffer limit, not followed without bound, and comes back as after an outage', async (t) => {
  // Flood control off (the test defaults): one client may send as much as it likes, legitimately.
  const cluster = await startCluster(2, ['--nick-lease', '10']);
  try {
    const [a, b] = cluster.nodes;
    await redisQuery(cluster.redis.port, 'CONFIG', 'SET', 'client-output-buffer-limit', 'pubsub 1mb 0 0');
    const ann = await registerFrom(a!.port, '127.0.10.1', 'slowAnn');
    const ben = await registerFrom(b!.port, '127.0.10.2', 'slowBen');
    for (const client of [ann, ben]) {
      client.send('/join #slow');
      await client.waitForLine('OK JOIN #slow Now talking in #slow.');
    }
    await ann.waitForLine('JOIN #slow slowBen');
    const bLog = b!.stderr().length;
    const aLog = a!.stderr().length;
    // Node b stops reading (frozen), while 4 MB of chat is said on node a.
    b!.proc.kill('SIGSTOP');
    try {
      const line = `busy ${'y'.repeat(95)}\r\n`;
      for (let i = 0; i < 40; i++) ann.sendRaw(line.repeat(1000));
      await ann.sync();
      // Redis cuts node b's subscriber connection once it holds 1 MB for it (a bounded number of polls).
      // Node a's own may be cut too when the machine is loaded (it hears its own 4 MB of lines and may
      // fall behind as well, which is the same rule); node b's cut is proven by its log below.
      let subscribers = 2;
      let largest = 0;
      for (let poll = 0; poll < 200 && subscribers > 1; poll++) {
        const list = await redisQuery(cluster.redis.port, 'CLIENT', 'LIST', 'TYPE', 'pubsub');
        subscribers = list.split('\n').filter((entry) => entry.includes('cmd=')).length;
        largest = Math.max(largest, ...[...list.matchAll(/ omem=(\d+)/g)].map((match) => Number(match[1])));
      }
      t.true(subscribers <= 1, 'node b is no longer subscribed');
      t.true(largest <= 1.5 * 1024 * 1024, `Redis held ${largest} bytes for a subscriber`);
    } finally {
      b!.proc.kill('SIGCONT');
    }
    // Node b finds its link cut, tells its users, reconnects and is back.
    await b!.waitForLog(/warn cluster-degraded/, bLog);
    await b!.waitForLog(/warn cluster-recovered/, bLog);
    t.regex(await ben.waitForLine(/^NOTICE Cross-server delivery is degraded/), /degraded/);
    t.regex(await ben.waitForLine(/^NOTICE Cross-server delivery is back/), /back/);
    // If node a was cut as well, it is back too before the lines below are said.
    if (a!.stderr().slice(aLog).includes('warn cluster-degraded')) await a!.waitForLog(/warn cluster-recovered/, aLog);
    ann.send('after the cut');
    t.is(await ben.waitForLine('MSG #slow slowAnn after the cut'), 'MSG #slow slowAnn after the cut');
    ben.send('and back');
    t.is(await ann.waitForLine('MSG #slow slowBen and back'), 'MSG #slow slowBen and back');
    ann.end();
    ben.end();
  } finally {
    await cluster.stop();
  }
});

test('a node warns when Redis has no pub/sub output limit (it would buffer without bound for a node that falls behind), and not when it has one', async (t) => {
  const redis = await startRedis();
  try {
    await redisQuery(redis.port, 'CONFIG', 'SET', 'client-output-buffer-limit', 'pubsub 0 0 0');
    const unbounded = await startDaemon(['--redis', redis.url, '--node-id', 'unbounded', ...TEST_LEASE_ARGS]);
    t.regex((await unbounded.waitForLog(/cluster-redis-unbounded/)).line, /warn cluster-redis-unbounded .*client-output-buffer-limit/);
    await unbounded.stop();
    await redisQuery(redis.port, 'CONFIG', 'SET', 'client-output-buffer-limit', 'pubsub 32mb 8mb 60');
    const bounded = await startDaemon(['--redis', redis.url, '--node-id', 'bounded', ...TEST_LEASE_ARGS]);
    await bounded.waitForLog(/cluster-ready/, 0, 10_000);
    // Its check was sent right after cluster-ready; stopping closes the link after the answers it waits for.
    await bounded.stop();
    t.notRegex(bounded.stderr(), /cluster-redis-unbounded/);
  } finally {
    await redis.stop();
  }
});
