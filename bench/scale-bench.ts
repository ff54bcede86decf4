/*
 * npm run bench (issue 10's table): runs the issue's workloads against mychatd (compiled, with history on)
 * and, when asked, the same workloads against another IRC server, and prints each figure with its target
 * and PASS/FAIL:
 *
 *   1. max sustained deliveries/s, 200 in a room, 10 % of them sending (and checking order), 90 % only
 *      counting: >= 2 x the IRC server, best of two interleaved rounds;
 *   2. server CPU per 1,000 deliveries at that load: <= the IRC server;
 *   3. registering 19,000 clients (each joins #lobby: mychatd's automatic join), from two generator
 *      processes on 127.0.0.1 and 127.0.0.2: < 10 s;
 *   4. RSS per idle registered connection at 19,000, after forced GCs, settled: <= 3 KiB;
 *   5. p99 latency, 1,000 in a room, 100 messages/s: <= the IRC server in the same run.
 *
 * Load comes from generator processes (bench/load-generator.ts, child_process.fork), which report their
 * own CPU: when one is near a full core, the figure is the generator's limit, a lower bound for the server.
 *
 *   node -r ts-node/register bench/scale-bench.ts [options]
 *     --vs-irc HOST:PORT   also run the workloads against this IRC server (NICK/USER/JOIN/PRIVMSG); HOST
 *                          must be a loopback address; --irc-pid PID lets its memory be read too
 *     --vs-ngircd          start ngircd (installing the Debian package with apt-get if it is missing) on a
 *                          loopback port with a temporary configuration, and compare with it; by default an
 *                          installed /usr/sbin/ngircd is used without asking, and nothing is installed
 *     --no-irc             compare with nothing (the relative targets then read n/a)
 *     --clients N          clients for registration and memory (default 19000)
 *     --members N --senders N --window N --seconds S   the fan-out workload (default 200, 20, 50, 5)
 *     --latency-members N --rate R                      the latency workload (default 1000, 100)
 *     --rounds N           interleaved fan-out rounds, best kept (default 2)
 *     --only fanout,register,latency                    run only these parts
 *     --node-arg ARG       a Node option for mychatd (repeatable), e.g. --node-arg --cpu-prof
 *     --quick              a scaled-down run (2,000 clients, 3 s windows, one round): minutes less
 *
 * Traffic goes only to 127.0.0.0/8; every wait is bounded in time.
 */
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { gcReading, GC_NODE_ARGS, spawnDaemon } from './bench-daemon';
import type { Dialect, GeneratorJob, GeneratorResult } from './load-generator';

/**
 * Registrations in flight per generator. An IRC server may listen with a short backlog (ngircd: 10), and
 * connections past it wait for the kernel's SYN retries or hang half-accepted, which would measure the
 * backlog, not the server.
 */
function concurrency(server: Server, mychat: number): number {
  return server.dialect === 'irc' ? 4 : mychat;
}

/** A generator near this share of a core is what limits the figure. */
const GENERATOR_BOUND = 0.9;

// ---------------------------------------------------------------- options

interface Options {
  irc: { host: string; port: number; pid?: number } | 'ngircd' | 'ngircd-install' | undefined;
  clients: number;
  members: number;
  senders: number;
  window: number;
  seconds: number;
  latencyMembers: number;
  rate: number;
  rounds: number;
  only: Set<string>;
  /** Extra Node options for mychatd (e.g. --cpu-prof), from --node-arg. */
  nodeArgs: string[];
}

function parseOptions(argv: string[]): Options {
  const o: Options = {
    irc: existsSync('/usr/sbin/ngircd') ? 'ngircd' : undefined,
    clients: 19_000,
    members: 200,
    senders: 20,
    window: 50,
    seconds: 5,
    latencyMembers: 1000,
    rate: 100,
    rounds: 2,
    only: new Set(['fanout', 'register', 'latency']),
    nodeArgs: [],
  };
  let ircPid: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    const number = (): number => {
      const n = Number(value());
      if (!Number.isFinite(n) || n <= 0) throw new Error(`${arg} needs a positive number`);
      return n;
    };
    switch (arg) {
      case '--vs-irc': {
        const match = /^(.+):(\d+)$/.exec(value());
        if (match === null) throw new Error('--vs-irc needs HOST:PORT');
        const host = match[1]!.replace(/^\[|\]$/g, '');
        if (!(net.isIPv4(host) && host.startsWith('127.')) && host !== '::1' && host !== 'localhost') throw new Error('--vs-irc: the benchmark sends traffic to loopback addresses only');
        o.irc = { host: host === 'localhost' ? '127.0.0.1' : host, port: Number(match[2]) };
        break;
      }
      case '--irc-pid':
        ircPid = number();
        break;
      case '--vs-ngircd':
        o.irc = 'ngircd-install';
        break;
      case '--no-irc':
        o.irc = undefined;
        break;
      case '--clients':
        o.clients = Math.floor(number());
        break;
      case '--members':
        o.members = Math.floor(number());
        break;
      case '--senders':
        o.senders = Math.max(2, Math.floor(number()));
        break;
      case '--window':
        o.window = Math.floor(number());
        break;
      case '--seconds':
        o.seconds = number();
        break;
      case '--latency-members':
        o.latencyMembers = Math.floor(number());
        break;
      case '--rate':
        o.rate = number();
        break;
      case '--rounds':
        o.rounds = Math.floor(number());
        break;
      case '--only':
        o.only = new Set(value().split(','));
        break;
      case '--node-arg':
        o.nodeArgs.push(value());
        break;
      case '--quick':
        o.clients = 2000;
        o.seconds = 3;
        o.rounds = 1;
        break;
      default:
        throw new Error(`unknown option ${arg}`);
    }
  }
  if (ircPid !== undefined && typeof o.irc === 'object') o.irc.pid = ircPid;
  return o;
}

// ---------------------------------------------------------------- processes

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function rssBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : NaN;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A load generator process and a way to give it jobs. */
class Generator {
  private readonly proc: ChildProcess;
  private pending: ((result: GeneratorResult) => void) | undefined;

  constructor() {
    this.proc = fork(path.join(__dirname, 'load-generator.ts'), [], { execArgv: ['-r', 'ts-node/register'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.proc.on('message', (result: GeneratorResult) => {
      const pending = this.pending;
      this.pending = undefined;
      pending?.(result);
    });
    this.proc.on('exit', () => this.pending?.({ ok: false, error: 'generator exited' }));
  }

  /** Runs one job; rejects if it failed or took longer than `timeoutMs`. */
  run(job: GeneratorJob, timeoutMs = 300_000): Promise<GeneratorResult> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`generator: ${job.cmd} took more than ${timeoutMs} ms`)), timeoutMs);
      this.pending = (result) => {
        clearTimeout(timer);
        if (result.ok) resolve(result);
        else reject(new Error(`generator: ${job.cmd}: ${result.error}`));
      };
      this.proc.send(job);
    });
  }

  stop(): void {
    this.proc.disconnect();
  }
}

/** A server under test: where it listens, its process (when known) and how its memory is read. */
interface Server {
  name: string;
  dialect: Dialect;
  host: string;
  port: number;
  pid: number | undefined;
  /** Memory after the heap settles: after forced GCs for mychatd, repeated equal readings otherwise. */
  settledRss(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Readings SETTLE_GAP_MS apart until two in a row agree within 1 % (at most 8): right after a burst, RSS
 * is mostly garbage and a young generation grown by it, which V8 shrinks once the process is quiet.
 */
const SETTLE_GAP_MS = 6000;
async function settle(read: () => Promise<number>): Promise<number> {
  let last = await read();
  for (let i = 0; i < 8; i++) {
    await sleep(SETTLE_GAP_MS);
    const next = await read();
    if (Math.abs(next - last) <= last * 0.01) return Math.min(next, last);
    last = next;
  }
  return last;
}

/** The daemon options of a mychatd run: history on (the default) in a temporary directory, unless `history` is 'off'. */
function mychatArgs(dataDir: string, floodOff: boolean, history: 'on' | 'off'): string[] {
  const common = ['--data-dir', dataDir, '--history', history, '--max-clients', '100000', '--max-per-address', '0', '--connect-rate', '0'];
  // Fan-out and latency: senders go as fast as the server takes them, so line pacing is off. Registration
  // and memory: per-connection budgets stay at their defaults (part of what a connection costs); only the
  // per-address ones are lifted, since every client comes from two addresses.
  return floodOff
    ? [...common, '--flood-rate', '0', '--input-rate', '0', '--input-address-rate', '0']
    : [...common, '--flood-address-burst', '1000000', '--input-address-rate', '100000000'];
}

async function startMychat(floodOff: boolean, nodeArgs: string[], history: 'on' | 'off' = 'on'): Promise<Server> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'mychat-scale-'));
  const daemon = await spawnDaemon(mychatArgs(dataDir, floodOff, history), { nodeArgs: [...GC_NODE_ARGS, ...nodeArgs] });
  return {
    name: 'mychatd',
    dialect: 'mychat',
    host: '127.0.0.1',
    port: daemon.port,
    pid: daemon.pid,
    settledRss: () => settle(async () => (await gcReading(daemon)).rss),
    stop: async () => {
      await daemon.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Installs ngircd from Debian when asked to and it is missing (never in npm test). */
function ensureNgircd(install: boolean): string {
  const binary = '/usr/sbin/ngircd';
  if (existsSync(binary)) return binary;
  if (!install) throw new Error('ngircd is not installed; pass --vs-ngircd to install it (apt-get install -y ngircd)');
  console.log('installing ngircd: apt-get update && apt-get install -y ngircd');
  execFileSync('apt-get', ['update'], { stdio: 'inherit' });
  execFileSync('apt-get', ['install', '-y', 'ngircd'], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  return binary;
}

/**
 * Starts ngircd in the foreground on a loopback port with a temporary configuration: no connection, join
 * or per-address limits, no flood penalties, no DNS or ident lookups (the same as mychatd's bench settings).
 */
async function startNgircd(install: boolean): Promise<Server> {
  const binary = ensureNgircd(install);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ngircd-scale-'));
  const port = await freePort();
  const conf = path.join(dir, 'ngircd.conf');
  writeFileSync(
    conf,
    [
      '[Global]',
      'Name = bench.irc.test',
      'Info = scale bench',
      'Listen = 127.0.0.1',
      `Ports = ${port}`,
      `PidFile = ${path.join(dir, 'ngircd.pid')}`,
      `MotdFile = ${path.join(dir, 'motd')}`,
      '[Limits]',
      'MaxConnections = 0',
      'MaxConnectionsIP = 0',
      'MaxJoins = 0',
      'MaxNickLength = 30',
      'MaxPenaltyTime = 0',
      'PingTimeout = 600',
      'PongTimeout = 600',
      '[Options]',
      'DNS = no',
      'Ident = no',
      'PAM = no',
      '',
    ].join('\n'),
  );
  writeFileSync(path.join(dir, 'motd'), 'bench\n');
  const proc = spawn(binary, ['-n', '-f', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-2000);
  });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const deadline = Date.now() + 10_000;
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (up) break;
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`ngircd did not start: ${err}`);
    await sleep(50);
  }
  return {
    name: 'ngircd',
    dialect: 'irc',
    host: '127.0.0.1',
    port,
    pid: proc.pid,
    settledRss: () => settle(async () => rssBytes(proc.pid!)),
    stop: async () => {
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function ircServer(irc: Exclude<Options['irc'], undefined>): Promise<Server> | Server {
  if (irc === 'ngircd' || irc === 'ngircd-install') return startNgircd(irc === 'ngircd-install');
  // An outside server: it is not restarted between workloads (its state carries over), and its memory is
  // read only when its pid was given.
  const pid = irc.pid;
  return {
    name: `irc ${irc.host}:${irc.port}`,
    dialect: 'irc',
    host: irc.host,
    port: irc.port,
    pid,
    settledRss: () => (pid === undefined ? Promise.resolve(NaN) : settle(async () => rssBytes(pid))),
    stop: async () => undefined,
  };
}

// ---------------------------------------------------------------- workloads

/** Distinct nickname prefixes per run, so an outside IRC server that is not restarted never sees a clash. */
let runId = 0;
const prefix = (what: string): string => `${what}${(Date.now() % 100000).toString(36)}${(runId++).toString(36)}x`;

interface FanoutFigure {
  deliveriesPerSecond: number;
  cpuUsPer1000: number;
  serverCpu: number;
  generatorCpu: number;
  gaps: number;
  lost: number;
}

async function fanout(server: Server, o: Options): Promise<FanoutFigure> {
  const gen = new Generator();
  try {
    const room = '#fanout';
    const joined = await gen.run({ cmd: 'room', host: server.host, port: server.port, localAddress: '127.0.0.1', dialect: server.dialect, prefix: prefix('f'), count: o.members, concurrency: concurrency(server, 50), room, deadlineMs: 120_000 });
    if (joined.done !== o.members) throw new Error(`${server.name}: only ${joined.done} of ${o.members} joined ${room}`);
    await sleep(500);
    const warmupMs = 1000;
    const measureMs = o.seconds * 1000;
    const job = gen.run({ cmd: 'fanout', senders: o.senders, window: o.window, warmupMs, measureMs, text: 40 });
    // The server's CPU over the generator's counting window (the same timers, give or take the IPC hop).
    await sleep(warmupMs);
    const cpu0 = server.pid === undefined ? NaN : cpuSeconds(server.pid);
    const started = Date.now();
    await sleep(measureMs);
    const serverCpu = server.pid === undefined ? NaN : (cpuSeconds(server.pid) - cpu0) / ((Date.now() - started) / 1000);
    const result = await job;
    const delivered = result.delivered!;
    const seconds = result.ms! / 1000;
    return {
      deliveriesPerSecond: delivered / seconds,
      cpuUsPer1000: (serverCpu * 1e6) / (delivered / seconds / 1000),
      serverCpu,
      generatorCpu: result.cpu!,
      gaps: result.gaps!,
      lost: result.lost!,
    };
  } finally {
    await gen.run({ cmd: 'close' }).catch(() => undefined);
    gen.stop();
  }
}

interface RegisterFigure {
  clients: number;
  seconds: number;
  /** The server's CPU during registration, as a share of one core (NaN when its pid is unknown). */
  serverCpu: number;
  kibPerConnection: number;
  generatorCpu: number;
}

/** Registers o.clients clients from two generator processes (127.0.0.1 and 127.0.0.2), then reads settled memory. */
async function register(server: Server, o: Options, join: boolean): Promise<RegisterFigure> {
  const gens = [new Generator(), new Generator()];
  try {
    // Warm up: code compiled and pools grown on first use are not counted per connection.
    await gens[0]!.run({ cmd: 'register', host: server.host, port: server.port, localAddress: '127.0.0.1', dialect: server.dialect, prefix: prefix('w'), count: 200, concurrency: concurrency(server, 50), join, deadlineMs: 60_000 });
    await gens[0]!.run({ cmd: 'close' });
    const before = await server.settledRss();
    const half = Math.ceil(o.clients / 2);
    const cpu0 = server.pid === undefined ? NaN : cpuSeconds(server.pid);
    const started = Date.now();
    const results = await Promise.all(
      gens.map((gen, g) =>
        gen.run({
          cmd: 'register',
          host: server.host,
          port: server.port,
          localAddress: `127.0.0.${g + 1}`,
          dialect: server.dialect,
          prefix: prefix(`r${g}`),
          count: g === 0 ? half : o.clients - half,
          concurrency: concurrency(server, 250),
          join,
          deadlineMs: 120_000,
        }),
      ),
    );
    const seconds = (Date.now() - started) / 1000;
    const serverCpu = server.pid === undefined ? NaN : (cpuSeconds(server.pid) - cpu0) / seconds;
    const clients = results.reduce((sum, r) => sum + r.done!, 0);
    const after = await server.settledRss();
    return { clients, seconds, serverCpu, kibPerConnection: (after - before) / 1024 / clients, generatorCpu: Math.max(...results.map((r) => r.cpu!)) };
  } finally {
    for (const gen of gens) {
      await gen.run({ cmd: 'close' }).catch(() => undefined);
      gen.stop();
    }
  }
}

interface LatencyFigure {
  p50: number;
  p99: number;
  samples: number;
  generatorCpu: number;
  lost: number;
}

async function latency(server: Server, o: Options): Promise<LatencyFigure> {
  const gen = new Generator();
  try {
    const room = '#latency';
    const joined = await gen.run({ cmd: 'room', host: server.host, port: server.port, localAddress: '127.0.0.1', dialect: server.dialect, prefix: prefix('l'), count: o.latencyMembers, concurrency: concurrency(server, 100), room, deadlineMs: 180_000 });
    if (joined.done !== o.latencyMembers) throw new Error(`${server.name}: only ${joined.done} of ${o.latencyMembers} joined ${room}`);
    await sleep(1000);
    const result = await gen.run({ cmd: 'latency', rate: o.rate, probes: Math.ceil(o.latencyMembers / 10), warmupMs: 1000, measureMs: o.seconds * 2000 });
    return { p50: result.p50!, p99: result.p99!, samples: result.samples!, generatorCpu: result.cpu!, lost: result.lost! };
  } finally {
    await gen.run({ cmd: 'close' }).catch(() => undefined);
    gen.stop();
  }
}

// ---------------------------------------------------------------- the table

interface Row {
  figure: string;
  mychat: string;
  other: string;
  target: string;
  verdict: 'PASS' | 'FAIL' | 'n/a';
  note?: string;
}

const fmt = (n: number, digits = 0): string => (Number.isFinite(n) ? n.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : 'n/a');
const millions = (n: number): string => (Number.isFinite(n) ? `${(n / 1e6).toFixed(2)} M` : 'n/a');
const verdict = (ok: boolean | undefined): Row['verdict'] => (ok === undefined ? 'n/a' : ok ? 'PASS' : 'FAIL');

function bound(generatorCpu: number): string | undefined {
  return generatorCpu >= GENERATOR_BOUND ? `generator at ${(generatorCpu * 100).toFixed(0)} % CPU: a lower bound` : undefined;
}

function printTable(rows: Row[], otherName: string): void {
  const head: Row = { figure: 'figure', mychat: 'mychatd', other: otherName, target: 'target', verdict: 'n/a' };
  const cells = (r: Row, isHead = false): string[] => [r.figure, r.mychat, r.other, r.target, isHead ? 'result' : r.verdict];
  const all = [cells(head, true), ...rows.map((r) => cells(r))];
  const widths = all[0]!.map((_, i) => Math.max(...all.map((c) => c[i]!.length)));
  const line = (c: string[]): string => `| ${c.map((v, i) => v.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(line(all[0]!));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const c of all.slice(1)) console.log(line(c));
  for (const r of rows) if (r.note !== undefined) console.log(`  ${r.figure}: ${r.note}`);
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  const killer = setTimeout(() => {
    console.error('scale-bench: hard deadline (30 min) reached');
    process.exit(1);
  }, 30 * 60_000);
  killer.unref();
  const otherName = o.irc === undefined ? '(none)' : typeof o.irc === 'object' ? `${o.irc.host}:${o.irc.port}` : 'ngircd';
  console.log(
    `scale benchmark  node ${process.version}  ${os.cpus().length} cores  load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}  ${new Date().toISOString()}  compared with: ${otherName}`,
  );
  const rows: Row[] = [];
  const log = (text: string): void => console.log(`  ${text}`);

  if (o.only.has('fanout')) {
    const best = { mychat: undefined as FanoutFigure | undefined, other: undefined as FanoutFigure | undefined, historyOff: undefined as FanoutFigure | undefined };
    const better = (a: FanoutFigure | undefined, b: FanoutFigure): FanoutFigure => (a === undefined || b.deliveriesPerSecond > a.deliveriesPerSecond ? b : a);
    for (let round = 0; round < o.rounds; round++) {
      const mychat = await startMychat(true, o.nodeArgs);
      try {
        const f = await fanout(mychat, o);
        log(`fan-out round ${round + 1} mychatd: ${millions(f.deliveriesPerSecond)} deliveries/s, server CPU ${fmt(f.serverCpu * 100)} %, ${fmt(f.cpuUsPer1000)} µs per 1,000, generator CPU ${fmt(f.generatorCpu * 100)} %, gaps ${f.gaps}, lost ${f.lost}`);
        best.mychat = better(best.mychat, f);
      } finally {
        await mychat.stop();
      }
      // The same workload with --history off: what storing history costs it (issue 10's 0.85 target).
      const unstored = await startMychat(true, o.nodeArgs, 'off');
      try {
        const f = await fanout(unstored, o);
        log(`fan-out round ${round + 1} mychatd --history off: ${millions(f.deliveriesPerSecond)} deliveries/s, server CPU ${fmt(f.serverCpu * 100)} %, ${fmt(f.cpuUsPer1000)} µs per 1,000, generator CPU ${fmt(f.generatorCpu * 100)} %, gaps ${f.gaps}, lost ${f.lost}`);
        best.historyOff = better(best.historyOff, f);
      } finally {
        await unstored.stop();
      }
      if (o.irc !== undefined) {
        const other = await ircServer(o.irc);
        try {
          const f = await fanout(other, o);
          log(`fan-out round ${round + 1} ${other.name}: ${millions(f.deliveriesPerSecond)} deliveries/s, server CPU ${fmt(f.serverCpu * 100)} %, ${fmt(f.cpuUsPer1000)} µs per 1,000, generator CPU ${fmt(f.generatorCpu * 100)} %, gaps ${f.gaps}, lost ${f.lost}`);
          best.other = better(best.other, f);
        } finally {
          await other.stop();
        }
      }
    }
    const m = best.mychat!;
    const x = best.other;
    const healthy = m.gaps === 0 && m.lost === 0;
    rows.push({
      figure: `deliveries/s, ${o.members} in a room, ${o.senders} sending (best of ${o.rounds})`,
      mychat: millions(m.deliveriesPerSecond),
      other: x === undefined ? 'n/a' : millions(x.deliveriesPerSecond),
      target: '>= 2 x other, history on',
      verdict: x === undefined ? 'n/a' : verdict(healthy && m.deliveriesPerSecond >= 2 * x.deliveriesPerSecond),
      note: [bound(m.generatorCpu), healthy ? undefined : `mychatd run had ${m.gaps} gaps, ${m.lost} lost clients`].filter(Boolean).join('; ') || undefined,
    });
    const off = best.historyOff!;
    const share = m.deliveriesPerSecond / off.deliveriesPerSecond;
    rows.push({
      figure: `the same with history on / off (best of ${o.rounds} each)`,
      mychat: `${share.toFixed(2)} (${millions(off.deliveriesPerSecond)} off)`,
      other: 'n/a',
      target: '>= 0.85',
      verdict: verdict(share >= 0.85),
      note: bound(off.generatorCpu) === undefined ? undefined : `history off: ${bound(off.generatorCpu)}, so this share is an upper bound`,
    });
    rows.push({
      figure: 'server CPU per 1,000 deliveries, same load',
      mychat: `${fmt(m.cpuUsPer1000)} µs`,
      other: x === undefined ? 'n/a' : `${fmt(x.cpuUsPer1000)} µs`,
      target: '<= other',
      verdict: x === undefined || !Number.isFinite(x.cpuUsPer1000) ? 'n/a' : verdict(m.cpuUsPer1000 <= x.cpuUsPer1000),
    });
  }

  if (o.only.has('register')) {
    const mychat = await startMychat(false, o.nodeArgs);
    let m: RegisterFigure;
    try {
      m = await register(mychat, o, true);
      log(`registration mychatd: ${fmt(m.clients)} clients (each auto-joins #lobby) in ${m.seconds.toFixed(2)} s, server CPU ${fmt(m.serverCpu * 100)} % (${fmt(m.serverCpu * m.seconds, 1)} s), generator CPU ${fmt(m.generatorCpu * 100)} %, settled RSS ${m.kibPerConnection.toFixed(2)} KiB per connection`);
    } finally {
      await mychat.stop();
    }
    let x: RegisterFigure | undefined;
    if (o.irc !== undefined) {
      const other = await ircServer(o.irc);
      try {
        // No JOIN for the IRC server: every JOIN goes to every member there, 180 M lines at 19,000.
        x = await register(other, o, false);
        log(`registration ${other.name}: ${fmt(x.clients)} clients (NICK/USER, no join) in ${x.seconds.toFixed(2)} s, server CPU ${fmt(x.serverCpu * 100)} % (${fmt(x.serverCpu * x.seconds, 1)} s), generator CPU ${fmt(x.generatorCpu * 100)} %, settled RSS ${x.kibPerConnection.toFixed(2)} KiB per connection`);
      } finally {
        await other.stop();
      }
    }
    const complete = m.clients === o.clients;
    rows.push({
      figure: `registering ${fmt(o.clients)} clients, each joining #lobby`,
      mychat: `${m.seconds.toFixed(2)} s`,
      other: x === undefined ? 'n/a' : x.clients < o.clients ? `${fmt(x.clients)} in ${x.seconds.toFixed(0)} s (no join)` : `${x.seconds.toFixed(2)} s (no join)`,
      target: '< 10 s',
      verdict: verdict(complete && m.seconds < 10),
      note: [bound(m.generatorCpu), complete ? undefined : `only ${m.clients} of ${o.clients} registered`].filter(Boolean).join('; ') || undefined,
    });
    rows.push({
      figure: `RSS per idle registered connection at ${fmt(o.clients)}, settled`,
      mychat: `${m.kibPerConnection.toFixed(2)} KiB`,
      other: x === undefined ? 'n/a' : `${x.kibPerConnection.toFixed(2)} KiB${x.clients < o.clients ? ` at ${fmt(x.clients)}` : ''}`,
      target: '<= 3 KiB',
      verdict: verdict(complete && m.kibPerConnection <= 3),
    });
  }

  if (o.only.has('latency')) {
    const mychat = await startMychat(true, o.nodeArgs);
    let m: LatencyFigure;
    try {
      m = await latency(mychat, o);
      log(`latency mychatd: p50 ${m.p50.toFixed(2)} ms, p99 ${m.p99.toFixed(2)} ms over ${fmt(m.samples)} samples, generator CPU ${fmt(m.generatorCpu * 100)} %, lost ${m.lost}`);
    } finally {
      await mychat.stop();
    }
    let x: LatencyFigure | undefined;
    if (o.irc !== undefined) {
      const other = await ircServer(o.irc);
      try {
        x = await latency(other, o);
        log(`latency ${other.name}: p50 ${x.p50.toFixed(2)} ms, p99 ${x.p99.toFixed(2)} ms over ${fmt(x.samples)} samples, generator CPU ${fmt(x.generatorCpu * 100)} %, lost ${x.lost}`);
      } finally {
        await other.stop();
      }
    }
    rows.push({
      figure: `p99 latency, ${fmt(o.latencyMembers)} in a room, ${fmt(o.rate)} msg/s`,
      mychat: `${m.p99.toFixed(1)} ms`,
      other: x === undefined ? 'n/a' : `${x.p99.toFixed(1)} ms`,
      target: '<= other, same run',
      verdict: x === undefined ? 'n/a' : verdict(m.lost === 0 && m.p99 <= x.p99),
    });
  }

  console.log('');
  printTable(rows, otherName);
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
