/*
 * npm run bench (memory part): the daemon's memory per idle registered connection, measured the settled
 * way. The daemon runs with --expose-gc and a bench-only preload (a data: URL given to --import, so the
 * daemon itself has no such hook) that, on SIGUSR2, runs a full GC and reports its heap and RSS on stderr.
 * Readings are repeated until two in a row agree, before and after N clients register; the difference
 * divided by N is the figure, checked against the target of at most 4 KiB RSS per connection.
 *
 *   node -r ts-node/register bench/memory-bench.ts [--daemon dist/daemon/mychatd.js] [N ...]   (default N: 2000 then 10000)
 *
 * Traffic goes only to 127.0.0.x; every loop is bounded in count and time.
 */
import net from 'node:net';
import path from 'node:path';
import { gcReading, GC_NODE_ARGS, spawnDaemon, type BenchDaemon, type GcReading } from './bench-daemon';

/** The target from issue 9: RSS per idle registered connection, after a forced GC. */
const TARGET_RSS_KIB = 4;
/** Registering stops after this long; the figure is then for the connections that did register. */
const REGISTER_DEADLINE_MS = 120_000;

/**
 * Time between two readings. A forced GC frees the garbage but leaves the young generation at the size a
 * burst grew it to (32 MiB after 2,000 registrations); V8's memory reducer shrinks it once the process has
 * been quiet for several seconds, which is the state of a server whose connections are idle.
 */
const SETTLE_GAP_MS = 8000;

/** Readings after forced GCs, SETTLE_GAP_MS apart, until two in a row agree within 1 % (at most 8). */
async function settled(daemon: BenchDaemon): Promise<GcReading> {
  let last = await gcReading(daemon);
  for (let i = 0; i < 8; i++) {
    await new Promise((r) => setTimeout(r, SETTLE_GAP_MS));
    const next = await gcReading(daemon);
    if (Math.abs(next.rss - last.rss) <= last.rss * 0.01 && Math.abs(next.heap - last.heap) <= last.heap * 0.01) return next;
    last = next;
  }
  return last;
}

/** Connects and registers one client; resolves once the daemon has put it in #lobby. */
function registered(port: number, nick: string, localAddress: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress });
    let tail = '';
    const onData = (chunk: Buffer): void => {
      const seen = tail + chunk.toString('latin1');
      // Only the tail is kept between chunks (the member list that follows the join can be long).
      tail = seen.slice(-64);
      if (seen.includes('OK JOIN #lobby ')) {
        socket.off('data', onData);
        // Keep reading (and discarding) so the daemon never holds output for an idle client.
        socket.on('data', () => undefined);
        resolve(socket);
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.once('connect', () => socket.write(`${nick}\r\n`));
  });
}

/** Registers clients `from`..`to`-1 (100 at a time, spread over 127.0.0.1-8) until done or the deadline; returns the sockets. */
async function registerRange(port: number, prefix: string, from: number, to: number, deadline: number): Promise<net.Socket[]> {
  const sockets: net.Socket[] = [];
  for (let i = from; i < to && Date.now() < deadline; i += 100) {
    const batch: Promise<net.Socket>[] = [];
    for (let k = i; k < Math.min(i + 100, to); k++) batch.push(registered(port, `${prefix}${k}`, `127.0.0.${1 + (k % 8)}`));
    sockets.push(...(await Promise.all(batch)));
  }
  return sockets;
}

/** Clients registered and dropped before the first reading, so that code compiled and pools grown on first use are not counted per connection. */
const WARM_UP_CLIENTS = 200;

async function measure(daemonPath: string | undefined, connections: number): Promise<void> {
  const daemon = await spawnDaemon(
    // Per-connection flood budgets stay at their defaults (they are part of what a connection costs); only
    // the per-address ones and the connection rate are lifted, since every client comes from 127.0.0.1-8.
    ['--flood-address-burst', '1000000', '--input-address-rate', '100000000', '--connect-rate', '0', '--max-clients', '100000', '--max-per-address', '0'],
    { nodeArgs: GC_NODE_ARGS, daemon: daemonPath },
  );
  try {
    const warm = await registerRange(daemon.port, 'warm', 0, WARM_UP_CLIENTS, Date.now() + REGISTER_DEADLINE_MS);
    for (const socket of warm) socket.destroy();
    const before = await settled(daemon);
    const started = Date.now();
    const deadline = started + REGISTER_DEADLINE_MS;
    const half = Math.floor(connections / 2);
    const sockets = await registerRange(daemon.port, 'idle', 0, half, deadline);
    const registerSeconds = (Date.now() - started) / 1000;
    const middle = await settled(daemon);
    sockets.push(...(await registerRange(daemon.port, 'idle', half, connections, deadline)));
    const after = await settled(daemon);
    const n = sockets.length;
    const kib = (bytes: number, count: number): string => (bytes / 1024 / count).toFixed(2);
    const rss = (after.rss - before.rss) / 1024 / n;
    console.log(
      `memory   idle registered connections=${n} (first ${half} registered in ${registerSeconds.toFixed(1)} s)  after forced GC, settled: ` +
        `RSS ${(before.rss / 1048576).toFixed(1)} -> ${(middle.rss / 1048576).toFixed(1)} -> ${(after.rss / 1048576).toFixed(1)} MiB = ${rss.toFixed(2)} KiB per connection ` +
        `(the second ${n - half}: ${kib(after.rss - middle.rss, n - half)} KiB each), ` +
        `heap ${kib(after.heap - before.heap, n)} KiB per connection (second half ${kib(after.heap - middle.heap, n - half)})  ` +
        `target <= ${TARGET_RSS_KIB} KiB RSS: ${n === connections && rss <= TARGET_RSS_KIB ? 'PASS' : 'FAIL'}` +
        (n < connections ? `  (only ${n} of ${connections} registered in time)` : ''),
    );
    for (const socket of sockets) socket.destroy();
  } finally {
    await daemon.stop();
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const at = args.indexOf('--daemon');
  const daemonPath = at >= 0 ? path.resolve(args.splice(at, 2)[1]!) : undefined;
  // 2,000 is the measuring point; 10,000 (quick since large rooms stopped the join storm) gives a
  // figure less disturbed by the few MiB that RSS readings vary between runs.
  const counts = args.length > 0 ? args.map(Number) : [2_000, 10_000];
  for (const n of counts) await measure(daemonPath, n);
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
