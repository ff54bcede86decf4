/*
 * npm run bench -- --nodes 3: delivery throughput of 1, 2, ... N mychatd nodes sharing one real
 * redis-server on this machine, and the scaling efficiency against N times one node (issue 10's target:
 * >= 0.8 x N where the cores allow); then, in counters, why node CPU per delivery changes with the node
 * count; then the two subscription layouts (--redis-layout room: a channel per room; node: a channel per
 * node) on one room spanning every node and on many rooms each spanning a few nodes.
 *
 * One-room workload: a room of MEMBERS members spread evenly over the nodes, SENDERS of them (spread too)
 * each sending MESSAGES lines; every line reaches every other member, so deliveries = lines x (members - 1),
 * most of them across nodes. History is off (--history off) so the figure is the cluster's, not the disk's.
 * Each set of nodes gets one burst of that load while its processes are fresh ("cold") and WARM_BURSTS
 * more ("warm"); the figures are the warm ones, the cold one shows what a fresh process pays once.
 * The load generator runs in this process. Every burst also reads counters the kernel and Redis keep,
 * with no instrumentation of the daemon: /proc/PID/stat and task/PID/stat (CPU of all threads and of the
 * event loop, minor page faults), /proc/PID/io syscw (write system calls: nearly all of a node's are
 * socket writes to its members), /proc/PID/status context switches, Redis INFO (PUBLISH calls, bytes out).
 * Without --nodes it prints how to run it and exits 0 (npm run bench passes its arguments here);
 * `--only layout` runs only the layout comparisons (`--only scaling` only the scaling runs, `scaling,why` adds
 * the explanation).
 * The figures are CPU-time figures first: on 2 shared cores throughput mostly says how busy the machine was.
 * Traffic goes only to 127.0.0.0/8; every wait is bounded.
 */
import os from 'node:os';
import { execFileSync } from 'node:child_process';
import { createClient } from 'redis';
import { startBenchDaemon, type BenchDaemon } from './bench-daemon';
import { BENCH_DEADLINE_MS, counterDelta, counterSum, cpuTicks, procCounters, registered, sendAndCount, type BenchClient, type ProcCounters } from './bench-client';
import { startRedis, type RedisServer } from '../test/helpers/redis';

const MEMBERS = 120;
const SENDERS = 6;
const MESSAGES = 1500;
/** Measured bursts after the cold one, on the same processes. */
const WARM_BURSTS = 3;
const TARGET_EFFICIENCY = 0.8;

/** Many rooms: ROOMS rooms of ROOM_MEMBERS members, each room on ROOM_SPAN of the nodes, ROOM_SENDERS sending in each. */
const ROOMS = 60;
const ROOM_MEMBERS = 6;
const ROOM_SPAN = 2;
const ROOM_SENDERS = 2;
const ROOM_MESSAGES = 500;

/** Who is where: each member's node, room and source address, and which members send. */
interface Topology {
  name: string;
  members: { node: number; room: string; address: string }[];
  senders: number[];
  messagesEach: number;
}

/** One room of MEMBERS: member i on node i mod N, so the SENDERS first members are spread over the nodes too. */
function oneRoom(nodes: number): Topology {
  const members = Array.from({ length: MEMBERS }, (_, i) => ({ node: i % nodes, room: '#bench', address: '127.0.0.1' }));
  return { name: 'one room', members, senders: Array.from({ length: SENDERS }, (_, s) => s), messagesEach: MESSAGES };
}

/**
 * ROOMS rooms, room r on nodes r, r + 1, ... (mod N), its members spread over those, its first members
 * sending. Each room's members come from a /24 of their own (127.0.r.1): a network may create only 30
 * rooms an hour on a node.
 */
function manyRooms(nodes: number): Topology {
  const members: Topology['members'] = [];
  const senders: number[] = [];
  for (let r = 0; r < ROOMS; r++) {
    for (let m = 0; m < ROOM_MEMBERS; m++) {
      if (m < ROOM_SENDERS) senders.push(members.length);
      members.push({ node: (r + (m % ROOM_SPAN)) % nodes, room: `#r${r}`, address: `127.0.${r + 1}.1` });
    }
  }
  return { name: `${ROOMS} rooms on ${ROOM_SPAN} nodes each`, members, senders, messagesEach: ROOM_MESSAGES };
}

/** One burst on some nodes; `node` holds the sum of their counters. */
interface Result {
  label: string;
  nodes: number;
  layout: string;
  seconds: number;
  /** Lines said, and lines received by members (deliveries). */
  lines: number;
  deliveries: number;
  node: ProcCounters;
  redisCpu: number;
  publishes: number;
  redisBytesOut: number;
  generatorCpu: number;
  complete: boolean;
}

const rate = (r: Result): number => r.deliveries / r.seconds;
const ticks = (r: Result): number => r.node.user + r.node.system;
/** Node CPU time per 1,000 deliveries in µs (ticks are 10 ms): what a delivery costs the nodes, whatever else shares the cores. */
const costUs = (r: Result, t = ticks(r)): number => ((t * 10_000) / r.deliveries) * 1000;
const fastest = (rs: readonly Result[]): Result => rs.reduce((a, b) => (rate(a) >= rate(b) ? a : b));
const cheapest = (rs: readonly Result[]): Result => rs.reduce((a, b) => (costUs(a) <= costUs(b) ? a : b));
const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Waits until, on every node a room spans, one of its members sees the room's full member count (presence has crossed). */
async function settled(clients: BenchClient[], topology: Topology): Promise<void> {
  const counts = new Map<string, number>();
  for (const m of topology.members) counts.set(m.room, (counts.get(m.room) ?? 0) + 1);
  const probes = new Map<string, { client: BenchClient; room: string }>();
  topology.members.forEach((m, i) => {
    if (!probes.has(`${m.room} ${m.node}`)) probes.set(`${m.room} ${m.node}`, { client: clients[i]!, room: m.room });
  });
  const deadline = Date.now() + BENCH_DEADLINE_MS;
  let attempt = 0;
  for (const { client, room } of probes.values()) {
    for (;;) {
      const token = `who${attempt++}`;
      const answered = client.waitFor(`PONG ${token}`);
      client.socket.write(`/who ${room}\r\n/ping ${token}\r\n`);
      await answered;
      // OK WHO comes just before the PONG, so it is in the client's tail.
      if (client.seen(`OK WHO ${room} ${counts.get(room)!} in`)) break;
      if (Date.now() > deadline) throw new Error('presence did not settle');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** Redis's own counters: PUBLISH calls and bytes sent, from INFO. */
async function redisInfo(url: string): Promise<{ publishes: number; bytesOut: number }> {
  const client = createClient({ url });
  await client.connect();
  try {
    const info = String(await client.sendCommand(['INFO', 'all']));
    return {
      publishes: Number(/cmdstat_publish:calls=(\d+)/.exec(info)?.[1] ?? 0),
      bytesOut: Number(/total_net_output_bytes:(\d+)/.exec(info)?.[1] ?? 0),
    };
  } finally {
    await client.close();
  }
}

/** Restricts every thread of `pid` to the CPUs in `cpus` (taskset syntax, e.g. "0" or "0-1"). */
function pin(pid: number, cpus: string): void {
  execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
}

interface RunOptions {
  label: string;
  nodes: number;
  layout: 'room' | 'node';
  topology: Topology;
  /** Every node on CPU 0, Redis and the generator on CPU 1: the nodes take turns on one core, however many. */
  pinned?: boolean;
}

/** Starts fresh nodes on `redis`, seats the members, and measures one cold burst and WARM_BURSTS warm ones. */
async function measure(redis: RedisServer, options: RunOptions): Promise<{ cold: Result; warm: Result[] }> {
  const { nodes, layout, topology } = options;
  const daemons: BenchDaemon[] = [];
  const allCpus = `0-${os.cpus().length - 1}`;
  const clients: BenchClient[] = [];
  try {
    for (let n = 0; n < nodes; n++) {
      daemons.push(await startBenchDaemon(['--history', 'off', '--auto-join', '', '--large-room', '0', '--nick-hold', '0', '--redis', redis.url, '--node-id', `bench${n}`, '--redis-layout', layout]));
      if (options.pinned) pin(daemons[n]!.pid, '0');
    }
    if (options.pinned) {
      pin(redis.pid(), '1');
      pin(process.pid, '1');
    }
    for (const [i, m] of topology.members.entries()) {
      clients.push(
        await registered(daemons[m.node]!.port, `m${i}`, m.room, m.address).catch((e: unknown) => {
          throw new Error(`m${i} could not join ${m.room} on node ${m.node}: ${String(e)}`);
        }),
      );
    }
    await settled(clients, topology);
    // A member receives each line said in its room by someone else, and a sender its own PONG.
    const sendersIn = new Map<string, number>();
    for (const s of topology.senders) sendersIn.set(topology.members[s]!.room, (sendersIn.get(topology.members[s]!.room) ?? 0) + 1);
    const isSender = new Set(topology.senders);
    const expected = (i: number): number => {
      const own = isSender.has(i) ? 1 : 0;
      return (sendersIn.get(topology.members[i]!.room)! - own) * topology.messagesEach + own;
    };
    const bursts: Result[] = [];
    for (let burst = 0; burst <= WARM_BURSTS; burst++) {
      const counters0 = daemons.map((d) => procCounters(d.pid));
      const redisTicks0 = cpuTicks(redis.pid());
      const info0 = await redisInfo(redis.url);
      const gen0 = process.cpuUsage();
      const sent = await sendAndCount(clients, topology.senders, topology.messagesEach, expected);
      const gen = process.cpuUsage(gen0);
      const redisTicks = cpuTicks(redis.pid()) - redisTicks0;
      const node = daemons.map((d, i) => counterDelta(counters0[i]!, procCounters(d.pid))).reduce(counterSum);
      const info = await redisInfo(redis.url);
      bursts.push({
        label: burst === 0 ? 'cold' : options.label,
        nodes,
        layout,
        seconds: sent.seconds,
        lines: topology.senders.length * topology.messagesEach,
        deliveries: sent.delivered,
        node,
        redisCpu: redisTicks / 100 / sent.seconds,
        publishes: info.publishes - info0.publishes,
        redisBytesOut: info.bytesOut - info0.bytesOut,
        generatorCpu: (gen.user + gen.system) / 1e6 / sent.seconds,
        complete: sent.complete,
      });
    }
    return { cold: bursts[0]!, warm: bursts.slice(1) };
  } finally {
    for (const c of clients) c.socket.destroy();
    if (options.pinned) {
      pin(process.pid, allCpus);
      pin(redis.pid(), allCpus);
    }
    await Promise.all(daemons.map((d) => d.stop()));
  }
}

const pct = (x: number): string => `${(x * 100).toFixed(0)}%`;
const num = (x: number, digits = 0): string => x.toLocaleString('en', { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** A burst's figures, two lines: throughput and CPU, then the counters that explain the cost. */
function report(r: Result): string {
  const c = r.node;
  const perK = (x: number): string => num((x * 1000) / r.deliveries, 1);
  return (
    `${r.label.padEnd(8)} nodes=${r.nodes} layout=${r.layout}  ${num(rate(r))} deliveries/s  node CPU per 1,000 deliveries ${num(costUs(r))} µs ` +
    `(event loop ${num(costUs(r, c.main))}, kernel ${num(costUs(r, c.system))})  nodes CPU ${pct(ticks(r) / 100 / r.seconds)}  ` +
    `redis CPU ${pct(r.redisCpu)}  generator CPU ${pct(r.generatorCpu)}${r.complete ? '' : '  INCOMPLETE'}\n` +
    `         counters per 1,000 deliveries: ${perK(c.syscw)} write syscalls (${num(r.deliveries / c.syscw)} deliveries each), ${perK(c.faults)} page faults, ` +
    `context switches ${perK(c.voluntary)} waiting / ${perK(c.involuntary)} preempted; ` +
    (r.publishes > 0 ? `${num(r.lines / r.publishes)} lines per PUBLISH, Redis ${num(r.redisBytesOut / r.lines)} bytes out per line` : 'no PUBLISH')
  );
}

async function main(): Promise<void> {
  const at = process.argv.indexOf('--nodes');
  if (at < 0) {
    console.log('cluster  skipped: npm run bench -- --nodes 3 measures 1 to 3 nodes behind Redis');
    return;
  }
  const maxNodes = Number(process.argv[at + 1]);
  if (!Number.isInteger(maxNodes) || maxNodes < 1 || maxNodes > 8) throw new Error('--nodes takes a whole number from 1 to 8');
  const killer = setTimeout(() => {
    console.error('cluster bench: hard deadline reached');
    process.exit(1);
  }, 10 * BENCH_DEADLINE_MS);
  killer.unref();
  const cores = os.cpus().length;
  console.log(
    `cluster benchmark  node ${process.version}  ${new Date().toISOString()}  ${cores} cores, load average ${os.loadavg()[0]!.toFixed(2)}  ` +
      `room of ${MEMBERS} members, ${SENDERS} senders x ${MESSAGES} lines, --history off, one cold burst then best of ${WARM_BURSTS} warm`,
  );
  const onlyAt = process.argv.indexOf('--only');
  const parts = onlyAt < 0 ? ['scaling', 'why', 'layout'] : (process.argv[onlyAt + 1] ?? '').split(',');
  const redis = await startRedis();
  try {
    if (!parts.includes('scaling')) {
      if (parts.includes('layout')) await layouts(redis, maxNodes, undefined);
      return;
    }
    const runs = new Map<number, { cold: Result; warm: Result[] }>();
    for (let nodes = 1; nodes <= maxNodes; nodes++) {
      const run = await measure(redis, { label: 'cluster', nodes, layout: 'room', topology: oneRoom(nodes) });
      runs.set(nodes, run);
      for (const r of [run.cold, ...run.warm]) console.log(report(r));
    }
    const one = rate(fastest(runs.get(1)!.warm));
    for (let nodes = 2; nodes <= maxNodes; nodes++) {
      const r = fastest(runs.get(nodes)!.warm);
      const efficiency = rate(r) / (nodes * one);
      // Each node wants a core, Redis wants one, and so does the generator: past the cores, nodes take turns.
      const coreBound = nodes + 2 > cores;
      const used = ticks(r) / 100 / r.seconds + r.redisCpu + r.generatorCpu;
      console.log(
        `scaling  ${nodes} nodes / (${nodes} x 1 node), warm = ${efficiency.toFixed(2)}  target >= ${TARGET_EFFICIENCY}: ` +
          (efficiency >= TARGET_EFFICIENCY
            ? 'PASS'
            : coreBound
              ? `FAIL (core-bound: ${nodes} nodes + Redis + generator on ${cores} cores; they used ${pct(used)} of ${cores * 100}%, the rest went to other work on the machine or to waiting)`
              : 'FAIL'),
      );
    }
    if (maxNodes > 1 && parts.includes('why')) await explain(redis, maxNodes, runs);
    if (maxNodes > 1 && parts.includes('layout')) await layouts(redis, maxNodes, runs.get(maxNodes)!.warm);
  } finally {
    await redis.stop();
  }
}

/**
 * Why node CPU per delivery grows with the node count, in three figures: what a fresh process pays once
 * (cold burst minus a warm one: compiling the hot code, growing the heap), what each node pays per line
 * it handles (a fit of warm CPU against the node count: every node handles every line of the room once,
 * whatever its share of the members), and whether the nodes slow each other down by running at the same
 * time (the same nodes again, all on one core).
 */
async function explain(redis: RedisServer, maxNodes: number, runs: Map<number, { cold: Result; warm: Result[] }>): Promise<void> {
  for (let nodes = 1; nodes <= maxNodes; nodes++) {
    const { cold, warm } = runs.get(nodes)!;
    const w = cheapest(warm);
    const once = (ticks(cold) - mean(warm.map(ticks))) * 10 / nodes;
    console.log(
      `why      ${nodes} node${nodes > 1 ? 's' : ' '}: cold ${num(costUs(cold))} µs per 1,000 deliveries, warm ${num(costUs(w))}; a fresh node pays about ${num(once)} ms of CPU once ` +
        `(${num((cold.node.faults - mean(warm.map((r) => r.node.faults))) / nodes)} more page faults per node); write syscalls per 1,000 deliveries cold ${num((cold.node.syscw * 1000) / cold.deliveries, 1)}, warm ${num((w.node.syscw * 1000) / w.deliveries, 1)}`,
    );
  }
  // Warm CPU per burst (ms) against the node count: intercept + slope x nodes. The slope is what one more
  // node costs per burst; every node handles each of the burst's lines, so slope / lines is per line per node.
  const points = [...runs].map(([nodes, run]) => ({ x: nodes, y: ticks(cheapest(run.warm)) * 10 }));
  const mx = mean(points.map((p) => p.x));
  const my = mean(points.map((p) => p.y));
  const slope = points.reduce((s, p) => s + (p.x - mx) * (p.y - my), 0) / points.reduce((s, p) => s + (p.x - mx) ** 2, 0);
  const sample = cheapest(runs.get(1)!.warm);
  console.log(
    `why      warm node CPU per burst of ${num(sample.lines)} lines (${num(sample.deliveries)} deliveries), fitted over 1 to ${maxNodes} nodes: ${num(slope)} ms more per node, ` +
      `i.e. each node spends ${num((slope * 1000) / sample.lines, 1)} µs on each line of its rooms (Redis message, JSON, the line's encoding, garbage) whatever its share of the members; ` +
      `1 node delivers the whole burst with ${num(ticks(sample) * 10)} ms, ${num((ticks(sample) * 10_000) / sample.lines, 1)} µs per line with its ${MEMBERS - 1} deliveries, ${num(sample.deliveries / sample.node.syscw)} deliveries per write`,
  );
  if (os.cpus().length < 2) return;
  const pinned = await measure(redis, { label: 'one-core', nodes: maxNodes, layout: 'room', topology: oneRoom(maxNodes), pinned: true });
  for (const r of pinned.warm) console.log(report(r));
  console.log(
    `why      ${maxNodes} nodes warm: ${num(costUs(cheapest(runs.get(maxNodes)!.warm)))} µs per 1,000 deliveries on all cores vs ${num(costUs(cheapest(pinned.warm)))} µs with every node on one core ` +
      `(Redis and the generator on the other): near-equal figures mean the nodes do not slow each other down by running at once`,
  );
}

/** The two subscription layouts: on one room spanning every node, and on many rooms each on a few nodes. */
async function layouts(redis: RedisServer, maxNodes: number, measured: Result[] | undefined): Promise<void> {
  if (maxNodes < 2) {
    console.log('layout   skipped: the layouts differ only with 2 nodes or more (--nodes 2)');
    return;
  }
  const roomWarm = measured ?? (await measure(redis, { label: 'layout', nodes: maxNodes, layout: 'room', topology: oneRoom(maxNodes) })).warm;
  if (measured === undefined) for (const r of roomWarm) console.log(report(r));
  const other = await measure(redis, { label: 'layout', nodes: maxNodes, layout: 'node', topology: oneRoom(maxNodes) });
  for (const r of other.warm) console.log(report(r));
  const [room, node] = [cheapest(roomWarm), cheapest(other.warm)];
  console.log(
    `layout   ${maxNodes} nodes, one room spanning all (warm): per-room channels ${num(rate(fastest(roomWarm)))} vs per-node channels ${num(rate(fastest(other.warm)))} deliveries/s; ` +
      `node CPU per 1,000 deliveries ${num(costUs(room))} vs ${num(costUs(node))} µs`,
  );
  const result: Partial<Record<'room' | 'node', Result>> = {};
  for (const layout of ['room', 'node'] as const) {
    const run = await measure(redis, { label: 'rooms', nodes: maxNodes, layout, topology: manyRooms(maxNodes) });
    for (const r of run.warm) console.log(report(r));
    result[layout] = cheapest(run.warm);
  }
  const perLine = (r: Result): string =>
    `${num((ticks(r) * 10_000) / r.lines, 1)} µs node CPU, ${num((r.redisCpu * r.seconds * 1e6) / r.lines, 1)} µs Redis CPU, ${num(r.redisBytesOut / r.lines)} Redis bytes out, ${num(r.lines / r.publishes)} lines per PUBLISH`;
  console.log(
    `layout   ${maxNodes} nodes, ${ROOMS} rooms of ${ROOM_MEMBERS} each on ${Math.min(ROOM_SPAN, maxNodes)} nodes, ${ROOM_SENDERS} senders x ${ROOM_MESSAGES} lines per room (warm, cheapest of ${WARM_BURSTS}), per line said: ` +
      `per-room channels ${perLine(result.room!)}; per-node channels ${perLine(result.node!)}`,
  );
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
