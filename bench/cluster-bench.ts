/*
 * npm run bench -- --nodes 3: delivery throughput of 1, 2, ... N mychatd nodes sharing one real
 * redis-server on this machine, and the scaling efficiency against N times one node (issue 10's target:
 * >= 0.8 x N where the cores allow). Then the same load on N nodes with the other subscription layout
 * (--redis-layout node: one channel per node instead of one per room), which is how the layout was chosen.
 *
 * Workload: one room of MEMBERS members spread evenly over the nodes, SENDERS of them (spread too) each
 * sending MESSAGES lines; every line reaches every other member, so deliveries = lines x (members - 1),
 * most of them across nodes. History is off (--history off) so the figure is the cluster's, not the disk's.
 * The load generator runs in this process: its CPU use is printed, and so are the machine's cores, since on
 * 2 cores N nodes, Redis and the generator share them and the nodes cannot all run at once.
 * Without --nodes it prints how to run it and exits 0 (npm run bench passes its arguments here).
 * Traffic goes only to 127.0.0.1; every wait is bounded.
 */
import os from 'node:os';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { startBenchDaemon, type BenchDaemon } from './bench-daemon';
import { startRedis, type RedisServer } from '../test/helpers/redis';

const MEMBERS = 120;
const SENDERS = 6;
const MESSAGES = 1500;
const ROUNDS = 2;
const TARGET_EFFICIENCY = 0.8;
const DEADLINE_MS = 120_000;

function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** A cheap client: counts lines, and waits for a substring in what arrives. */
class Client {
  received = 0;
  private tail = '';
  private waiting: { needle: string; resolve: () => void } | undefined;

  constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) this.received++;
      const seen = this.tail + chunk.toString('latin1');
      this.tail = seen.slice(-512);
      if (this.waiting !== undefined && seen.includes(this.waiting.needle)) {
        const { resolve } = this.waiting;
        this.waiting = undefined;
        resolve();
      }
    });
    socket.on('error', () => undefined);
  }

  /** True when the last few hundred bytes received contain `needle`. */
  seen(needle: string): boolean {
    return this.tail.includes(needle);
  }

  waitFor(needle: string, timeoutMs = DEADLINE_MS): Promise<void> {
    if (this.tail.includes(needle)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timeout waiting for ${needle}`)), timeoutMs);
      this.waiting = {
        needle,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
    });
  }
}

async function member(port: number, nick: string): Promise<Client> {
  const socket = net.connect({ port, host: '127.0.0.1' });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const client = new Client(socket);
  const joined = client.waitFor('OK JOIN #bench ');
  socket.write(`${nick}\r\n/join #bench\r\n`);
  await joined;
  return client;
}

/** Waits until a member on every node sees all MEMBERS in #bench (presence has crossed the cluster). */
async function settled(clients: Client[], nodes: number): Promise<void> {
  const deadline = Date.now() + DEADLINE_MS;
  for (let n = 0; n < nodes; n++) {
    const probe = clients[n]!;
    for (let attempt = 0; ; attempt++) {
      const token = `who${n}x${attempt}`;
      const answered = probe.waitFor(`PONG ${token}`);
      probe.socket.write(`/who #bench\r\n/ping ${token}\r\n`);
      await answered;
      // OK WHO comes just before the PONG, so it is in the client's tail.
      if (probe.seen(`OK WHO #bench ${MEMBERS} in`)) break;
      if (Date.now() > deadline) throw new Error('presence did not settle');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

interface Result {
  nodes: number;
  layout: string;
  rate: number;
  nodeCpu: number;
  redisCpu: number;
  generatorCpu: number;
  complete: boolean;
}

/** One measurement: `nodes` nodes on `redis` with `layout`; returns deliveries per second and CPU shares. */
async function measure(redis: RedisServer, redisPid: number, nodes: number, layout: string): Promise<Result> {
  const daemons: BenchDaemon[] = [];
  for (let n = 0; n < nodes; n++) {
    daemons.push(await startBenchDaemon(['--history', 'off', '--auto-join', '', '--large-room', '0', '--redis', redis.url, '--node-id', `bench${n}`, '--redis-layout', layout]));
  }
  try {
    // Members i, i + nodes, ... on node i, so senders (the first SENDERS members) are spread too.
    const clients: Client[] = [];
    for (let i = 0; i < MEMBERS; i++) clients.push(await member(daemons[i % nodes]!.port, `m${i}`));
    await settled(clients, nodes);
    const before = clients.map((c) => c.received);
    const ticks0 = daemons.map((d) => cpuTicks(d.pid));
    const redisTicks0 = cpuTicks(redisPid);
    const gen0 = process.cpuUsage();
    const started = process.hrtime.bigint();
    const text = 'x'.repeat(60);
    const pongs = clients.slice(0, SENDERS).map((c, s) => c.waitFor(`PONG done${s}`));
    for (let s = 0; s < SENDERS; s++) {
      const socket = clients[s]!.socket;
      let sent = 0;
      const pump = (): void => {
        while (sent < MESSAGES) {
          let batch = '';
          for (let k = 0; k < 100 && sent < MESSAGES; k++, sent++) batch += `${sent} ${text}\r\n`;
          if (!socket.write(batch)) {
            socket.once('drain', pump);
            return;
          }
        }
        socket.write(`/ping done${s}\r\n`);
      };
      pump();
    }
    await Promise.all(pongs);
    // Senders get the others' lines and their PONG; the rest get every line.
    const expected = (i: number): number => (i < SENDERS ? (SENDERS - 1) * MESSAGES + 1 : SENDERS * MESSAGES);
    const deadline = Date.now() + DEADLINE_MS;
    while (clients.some((c, i) => c.received - before[i]! < expected(i)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const delivered = clients.reduce((sum, c, i) => sum + Math.min(c.received - before[i]!, expected(i)), 0) - SENDERS;
    const nodeCpu = daemons.reduce((sum, d, i) => sum + (cpuTicks(d.pid) - ticks0[i]!), 0) / 100 / seconds;
    const redisCpu = (cpuTicks(redisPid) - redisTicks0) / 100 / seconds;
    const gen = process.cpuUsage(gen0);
    for (const c of clients) c.socket.destroy();
    return {
      nodes,
      layout,
      rate: delivered / seconds,
      nodeCpu,
      redisCpu,
      generatorCpu: (gen.user + gen.system) / 1e6 / seconds,
      complete: clients.every((c, i) => c.received - before[i]! >= expected(i)),
    };
  } finally {
    await Promise.all(daemons.map((d) => d.stop()));
  }
}

/** Node CPU time per 1,000 deliveries, in microseconds: what a delivery costs the nodes, whatever else shares the cores. */
function costUs(r: Result): number {
  return (r.nodeCpu / r.rate) * 1e9;
}

function line(r: Result): string {
  const pct = (x: number): string => `${(x * 100).toFixed(0)}%`;
  return (
    `cluster  nodes=${r.nodes} layout=${r.layout}  ${Math.round(r.rate).toLocaleString('en')} deliveries/s  ` +
    `node CPU per 1,000 deliveries ${costUs(r).toFixed(0)} µs  nodes CPU ${pct(r.nodeCpu)}  redis CPU ${pct(r.redisCpu)}  generator CPU ${pct(r.generatorCpu)}${r.complete ? '' : '  INCOMPLETE'}`
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
  }, 10 * DEADLINE_MS);
  killer.unref();
  const cores = os.cpus().length;
  console.log(
    `cluster benchmark  node ${process.version}  ${new Date().toISOString()}  ${cores} cores  ` +
      `room of ${MEMBERS} members, ${SENDERS} senders x ${MESSAGES} lines, --history off, best of ${ROUNDS}`,
  );
  const redis = await startRedis();
  const redisPid = redis.pid();
  try {
    const best = new Map<number, Result>();
    const results: Result[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      for (let nodes = 1; nodes <= maxNodes; nodes++) {
        const result = await measure(redis, redisPid, nodes, 'room');
        results.push(result);
        console.log(line(result));
        if ((best.get(nodes)?.rate ?? 0) < result.rate) best.set(nodes, result);
      }
    }
    const one = best.get(1)!.rate;
    const cheapest = (nodes: number): number => Math.min(...[...results].filter((r) => r.nodes === nodes).map(costUs));
    for (let nodes = 2; nodes <= maxNodes; nodes++) {
      const r = best.get(nodes)!;
      const efficiency = r.rate / (nodes * one);
      // On machines of their own, N nodes deliver about N x one node x this share (while Redis keeps up).
      const cpuShare = cheapest(1) / cheapest(nodes);
      console.log(
        `cost     ${nodes} nodes: ${cheapest(nodes).toFixed(0)} µs of node CPU per 1,000 deliveries vs ${cheapest(1).toFixed(0)} µs on 1 node: ` +
          `each node does ${cpuShare.toFixed(2)} of a lone node's work per CPU second (the share of N x 1 node to expect on separate machines)`,
      );
      // Each node wants a core, Redis wants one, and so does the generator: past the cores, nodes take turns.
      const coreBound = nodes + 2 > cores;
      console.log(
        `scaling  ${nodes} nodes / (${nodes} x 1 node) = ${efficiency.toFixed(2)}  target >= ${TARGET_EFFICIENCY}: ` +
          (efficiency >= TARGET_EFFICIENCY
            ? 'PASS'
            : coreBound
              ? `FAIL (core-bound: ${nodes} nodes + Redis + generator on ${cores} cores; they used ${((r.nodeCpu + r.redisCpu + r.generatorCpu) * 100).toFixed(0)}% of ${cores * 100}%, the rest went to other work on the machine or to waiting)`
              : 'FAIL'),
      );
    }
    const other = await measure(redis, redisPid, maxNodes, 'node');
    console.log(line(other));
    const room = best.get(maxNodes)!;
    console.log(
      `layout   ${maxNodes} nodes, one room spanning all: per-room channels ${Math.round(room.rate).toLocaleString('en')} vs per-node channels ` +
        `${Math.round(other.rate).toLocaleString('en')} deliveries/s (the default is per room: Redis sends each line only to nodes that have the room)`,
    );
  } finally {
    await redis.stop();
  }
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
