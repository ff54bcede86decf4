/*
 * Hostile benchmark (part of npm run bench): what two ordinary users chatting in #lobby see while
 * strangers attack the daemon the ways issue 8 lists, with the DEFAULT flood settings.
 *   0  baseline: the same two users with no attack
 *   1  expensive reads: a /search flood plus 100 clients looping /history 200 over 200,000 stored messages
 *   2  /rooms: 20 clients looping /rooms over 10,000 rooms
 *   3a empty lines: 4 unregistered connections sending only \n
 *   3b one address, 100 registered connections flooding #lobby
 *   3c connect storm from one address (and the daemon's log volume it causes)
 *   4  a 2 MB paste of 30,000 lines whose sender then closes its socket
 * Run all with `node -r ts-node/register bench/hostile-bench.ts`, or some: `... hostile-bench.ts 1 3b`
 * (3 means 3a 3b 3c). Every scenario starts its own daemon on a fresh data directory and has a hard
 * deadline; the load runs in a child process (hostile-load.ts) whose CPU use is printed. All traffic
 * goes to 127.0.0.1 from 127.0.0.0/8 source addresses. A FAIL line is a figure, not an error: the exit
 * status is 0 unless a scenario crashed or ran out of time.
 */
import { nameKey } from '../lib/protocol/text-hygiene';
import Database from 'better-sqlite3';
import { fork, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { LIMITS } from '../lib/protocol/limits';
import { spawnDaemon, type BenchDaemon } from './bench-daemon';
import { delay, LineClient } from './hostile-client';
import type { LoadSpec, ToChild, ToParent, WorkloadStats } from './hostile-load';

/** The attacker's query of scenario 1: ten one-letter prefixes, each walking a large part of the full-text index. */
const SEARCH = '/search #lobby a e i o u b c d f g';
/** Latency target for the chatting users (issue 8, items 1 and 2). */
const P99_TARGET_MS = 250;
/** How long the attacks of scenarios 1, 2, 3a and 3b last. */
const ATTACK_MS = 10_000;
/** How long lines still in flight may take to arrive after an attack before they count as lost. */
const GRACE_MS = 5_000;
/** Each chatter sends every 200 ms, the two staggered, so #lobby gets a chat line every 100 ms; 5 lines/s is the default flood rate, so the chatters themselves are never paced. */
const CHAT_INTERVAL_MS = 100;
/** Steady-state messages/s one address may put into a room to pass 3b: ten connections' worth at the default 5 lines/s. */
const PER_ADDRESS_TARGET = 50;
/** 3b skips the first seconds, where every connection's flood burst arrives, when it computes the steady rate. */
const FLOOD_BURST_SKIP_MS = 2_000;
/** Most daemon log bytes per connection attempt during the connect storm. */
const LOG_BYTES_TARGET = 20;
/** Longest a closed paster may stay online, and most of its lines that may still reach the room. */
const QUIT_TARGET_MS = 2_000;
/** How long scenario 4 waits for the paster's QUIT. */
const QUIT_WAIT_MS = 10_000;
/** The database file inside --data-dir (documented in the README). */
const DATABASE_FILE = 'history.sqlite3';

/** One line of the final table. */
interface Row {
  scenario: string;
  measure: string;
  figure: string;
  target: string;
  result: 'PASS' | 'FAIL' | 'info' | 'CRASH';
  /** CPU use of the load generator and of the daemon during the attack, where it matters. */
  cpu?: string;
}

/** CPU time (user + system) of a process in clock ticks (1/100 s), from /proc. */
function cpuTicks(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return NaN;
  }
}

/** Bytes a process has read through read(2)-like calls (sockets included), from /proc. */
function bytesRead(pid: number): number {
  try {
    return Number(/^rchar: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? NaN);
  } catch {
    return NaN;
  }
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function ms(value: number): string {
  if (value === Infinity) return 'never';
  return Number.isNaN(value) ? 'n/a' : `${Math.round(value).toLocaleString('en')} ms`;
}

/** The machine's load average: the cores are shared, so figures depend on it. */
function loadAverage(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}

/** Source addresses 127.0.X.1 … 127.0.X.n, so that many clients are many addresses. */
function addressRange(third: number, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `127.0.${third}.${i + 1}`);
}

/** Everything one scenario starts, so that it is all stopped at the end, even on failure. */
class Scenario {
  private readonly cleanups: Array<() => unknown> = [];
  /** Set by cleanup(): a scenario still running past its deadline gets whatever it starts stopped at once. */
  private closed = false;

  constructor(readonly id: string) {}

  defer(cleanup: () => unknown): void {
    if (this.closed) {
      void Promise.resolve()
        .then(cleanup)
        .catch(() => undefined);
      throw new Error(`scenario ${this.id} is over`);
    }
    this.cleanups.push(cleanup);
  }

  async cleanup(): Promise<void> {
    this.closed = true;
    for (const cleanup of this.cleanups.reverse()) {
      try {
        await cleanup();
      } catch (error) {
        console.error(`scenario ${this.id}: cleanup: ${(error as Error).message}`);
      }
    }
    this.cleanups.length = 0;
  }

  dataDir(): string {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mychat-hostile-'));
    this.defer(() => rmSync(dir, { recursive: true, force: true }));
    return dir;
  }

  /** Starts a daemon with its default flood settings on a data directory. */
  async daemon(dataDir: string, extra: string[] = []): Promise<BenchDaemon> {
    const daemon = await spawnDaemon(['--data-dir', dataDir, ...extra]);
    this.defer(() => daemon.stop());
    return daemon;
  }

  async client(port: number, address: string): Promise<LineClient> {
    const client = await LineClient.open(port, address);
    this.defer(() => client.destroy());
    return client;
  }

  /** A registered client, or an error naming the refusal. */
  async user(port: number, address: string, nick: string): Promise<LineClient> {
    const client = await this.client(port, address);
    const refusal = await client.register(nick);
    if (refusal !== undefined) throw new Error(`${nick} could not register: ${refusal}`);
    return client;
  }

  async generator(spec: LoadSpec): Promise<Generator> {
    const generator = await Generator.start(spec, (g) => this.defer(() => g.kill()));
    return generator;
  }
}

/** A load-generator child process (hostile-load.ts). */
class Generator {
  readyStats: WorkloadStats[] = [];
  /** The child's own CPU use between `go` and its report, in % of one core (read from /proc it would be gone by then). */
  cpuPercent = NaN;
  private done: Promise<WorkloadStats[]>;

  private constructor(private readonly child: ChildProcess) {
    this.done = new Promise((resolve, reject) => {
      child.on('message', (message: ToParent) => {
        if (message.type === 'done') {
          this.cpuPercent = message.cpuPercent;
          resolve(message.stats);
        }
      });
      child.once('exit', (code) => reject(new Error(`load generator exited with status ${code} before reporting`)));
    });
    this.done.catch(() => undefined);
  }

  /** Forks the generator and resolves once its connections are set up. */
  static async start(spec: LoadSpec, register: (g: Generator) => void): Promise<Generator> {
    const child = fork(path.join(__dirname, 'hostile-load.ts'), [JSON.stringify(spec)], {
      execArgv: ['-r', 'ts-node/register'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    child.on('error', (error) => console.error(`load generator: ${error.message}`));
    const generator = new Generator(child);
    register(generator);
    generator.readyStats = await new Promise<WorkloadStats[]>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('load generator was not ready in time')), spec.setupMs + 30_000);
      child.on('message', (message: ToParent) => {
        if (message.type === 'ready') {
          clearTimeout(timer);
          resolve(message.stats);
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`load generator exited with status ${code} during setup`));
      });
    });
    return generator;
  }

  get pid(): number {
    return this.child.pid!;
  }

  go(): void {
    this.child.send({ type: 'go' } satisfies ToChild);
  }

  /** Asks the generator to stop (unless it ends by itself) and resolves with its counts. */
  async stop(ask = true): Promise<WorkloadStats[]> {
    if (ask && this.child.connected) this.child.send({ type: 'stop' } satisfies ToChild);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('load generator did not report within 20 s')), 20_000);
    });
    try {
      return await Promise.race([this.done, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

/** Results of the two chatting users. */
interface ChatResult {
  sent: number;
  received: number;
  lost: number;
  latencies: number[];
  /** Reasons a chatter's connection ended early, if it did. */
  dropped: string[];
}

/**
 * Two ordinary users in #lobby (alice from 127.0.0.2, bob from 127.0.0.3). Each message carries its send
 * time; the other user records the receive time. Both live in this (measuring) process, one clock.
 */
class ChatPair {
  private readonly sent = [0, 0];
  private readonly got = [new Set<number>(), new Set<number>()];
  readonly latencies: number[] = [];
  /** Called for every line alice receives (3b counts the flood there). */
  onAliceLine: ((line: string) => void) | undefined;

  private constructor(private readonly users: [LineClient, LineClient]) {
    const nicks = ['alice', 'bob'];
    users.forEach((user, me) => {
      const prefix = `MSG #lobby ${nicks[1 - me]} lat `;
      user.onLine = (line) => {
        if (me === 0) this.onAliceLine?.(line);
        if (!line.startsWith(prefix)) return;
        const [seq, at] = line.slice(prefix.length).split(' ').map(Number) as [number, number];
        // Messages from the other user (index 1 - me) are recorded in got[1 - me].
        if (!this.got[1 - me]!.has(seq)) {
          this.got[1 - me]!.add(seq);
          this.latencies.push(performance.now() - at);
        }
      };
    });
  }

  static async start(sc: Scenario, port: number): Promise<ChatPair> {
    const alice = await sc.user(port, '127.0.0.2', 'alice');
    const bob = await sc.user(port, '127.0.0.3', 'bob');
    return new ChatPair([alice, bob]);
  }

  /** Sends `line` as one of the users (0 alice, 1 bob) and resolves with the first reply line passing `final`. */
  ask(user: number, line: string, final: (line: string) => boolean): Promise<string> {
    const reply = this.users[user]!.waitFor(final, 30_000, `the reply to ${line}`);
    this.users[user]!.send(line);
    return reply;
  }

  /** Chats for `durationMs`: one line every CHAT_INTERVAL_MS, alice and bob taking turns. */
  async chat(durationMs: number): Promise<void> {
    let tick = 0;
    const timer = setInterval(() => {
      const me = tick++ % 2;
      this.users[me]!.send(`lat ${this.sent[me]!++} ${performance.now().toFixed(2)}`);
    }, CHAT_INTERVAL_MS);
    await delay(durationMs);
    clearInterval(timer);
  }

  /** Waits (at most `graceMs`) until every chat line has arrived, then tallies. */
  async settle(graceMs: number): Promise<ChatResult> {
    const until = Date.now() + graceMs;
    const received = (): number => this.got[0]!.size + this.got[1]!.size;
    while (received() < this.sent[0]! + this.sent[1]! && Date.now() < until && !this.users.some((u) => u.closed)) await delay(20);
    const sent = this.sent[0]! + this.sent[1]!;
    return {
      sent,
      received: received(),
      lost: sent - received(),
      latencies: this.latencies,
      dropped: this.users.flatMap((u, i) => (u.closed ? [`${i === 0 ? 'alice' : 'bob'} was disconnected`] : [])),
    };
  }
}

/** The table row for the chatters' latency, and a detail line. */
function chatRow(scenario: string, measure: string, chat: ChatResult, cpu?: string): Row {
  // A line that never arrived counts as infinitely late, so a frozen daemon cannot show a good p99.
  const latencies = [...chat.latencies, ...new Array<number>(Math.max(0, chat.lost)).fill(Infinity)];
  const p99 = percentile(latencies, 99);
  const max = latencies.length ? Math.max(...latencies) : NaN;
  const pass = p99 <= P99_TARGET_MS && chat.lost === 0 && chat.dropped.length === 0;
  console.log(
    `  chat   ${chat.received}/${chat.sent} lines arrived; latency p50 ${ms(percentile(latencies, 50))}  p99 ${ms(p99)}  max ${ms(max)}  lost ${chat.lost} ` +
      `(not arrived ${GRACE_MS / 1000} s after the chat ended)` +
      (chat.dropped.length ? `  (${chat.dropped.join(', ')})` : ''),
  );
  return {
    scenario,
    measure,
    figure: `p99 ${ms(p99)}, max ${ms(max)}, lost ${chat.lost}/${chat.sent}`,
    target: `p99 ≤ ${P99_TARGET_MS} ms, lost 0`,
    result: pass ? 'PASS' : 'FAIL',
    ...(cpu === undefined ? {} : { cpu }),
  };
}

function describe(stats: WorkloadStats, seconds: number): string {
  const outcomes = Object.entries(stats.outcomes)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 6)
    .map(([what, n]) => `${what} ×${n}`)
    .join('; ');
  const parts = [`${stats.label}: ready ${stats.readyAtStart}`];
  if (stats.finals > 0) parts.push(`replies ${stats.finals.toLocaleString('en')} (${Math.round(stats.finals / seconds).toLocaleString('en')}/s)`);
  if (stats.bytesWritten > 0) parts.push(`written ${(stats.bytesWritten / 2 ** 20).toFixed(1)} MiB`);
  if (stats.connects > 0) parts.push(`connects during run ${stats.connects}`);
  if (stats.closedDuringRun > 0) parts.push(`dropped during run ${stats.closedDuringRun}`);
  if (outcomes) parts.push(outcomes);
  return `  load   ${parts.join(', ')}`;
}

/** Runs an attack for `durationMs` while the two users chat; returns their results and CPU use. */
async function attack(daemon: BenchDaemon, chat: ChatPair, generator: Generator, durationMs: number) {
  const daemon0 = cpuTicks(daemon.pid);
  const read0 = bytesRead(daemon.pid);
  const gen0 = cpuTicks(generator.pid);
  const started = performance.now();
  generator.go();
  await chat.chat(durationMs);
  const seconds = (performance.now() - started) / 1000;
  const daemonCpu = (cpuTicks(daemon.pid) - daemon0) / 100 / seconds;
  const genCpu = (cpuTicks(generator.pid) - gen0) / 100 / seconds;
  const daemonRead = bytesRead(daemon.pid) - read0;
  const stats = await generator.stop();
  const result = await chat.settle(GRACE_MS);
  const cpu = `load ${(genCpu * 100).toFixed(0)}%, daemon ${(daemonCpu * 100).toFixed(0)}%`;
  for (const s of stats) console.log(describe(s, seconds));
  console.log(`  cpu    ${cpu} of one core`);
  return { result, stats, seconds, cpu, daemonRead };
}

/** Deterministic pseudo-random numbers, so every run stores the same corpus. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Bump when seedMessages or seedRooms change what they store. */
const SEED_VERSION = 2;

/**
 * Where seeded databases are kept between runs: seeding 200,000 messages costs tens of seconds on
 * shared cores. The key is the schema the daemon created plus the seeding parameters, so a changed
 * schema never reuses an old file; each scenario still gets a fresh data directory holding a copy.
 */
function seedCacheFile(dataDir: string, what: string): string {
  // Fold any write-ahead log into the database first, so that the file alone is the whole state.
  const db = new Database(path.join(dataDir, DATABASE_FILE));
  let schema: string;
  try {
    db.pragma('wal_checkpoint(TRUNCATE)');
    schema = (db.prepare('SELECT sql FROM sqlite_master ORDER BY name').pluck().all() as Array<string | null>).join('\n');
  } finally {
    db.close();
  }
  const key = createHash('sha256').update(`${SEED_VERSION}\n${what}\n${schema}`).digest('hex').slice(0, 16);
  return path.join(os.tmpdir(), 'mychat-hostile-seed', `${key}.sqlite3`);
}

/** Runs `seed` on the (stopped) daemon's database, or copies an identical earlier result; says which. */
function seedCached(dataDir: string, what: string, seed: () => void): string {
  const file = path.join(dataDir, DATABASE_FILE);
  const cached = seedCacheFile(dataDir, what);
  if (existsSync(cached)) {
    for (const suffix of ['-wal', '-shm']) rmSync(file + suffix, { force: true });
    copyFileSync(cached, file);
    return 'copied from an earlier run';
  }
  seed();
  mkdirSync(path.dirname(cached), { recursive: true });
  copyFileSync(file, `${cached}.${process.pid}`);
  renameSync(`${cached}.${process.pid}`, cached);
  return 'seeded';
}

/**
 * Inserts `count` messages into the stored room of the message `templateNick` sent, copying that row's
 * columns (so the seeding follows the schema) with new times, senders and texts. The full-text index
 * is filled by the schema's own trigger, in one transaction.
 */
function seedMessages(dataDir: string, templateNick: string, count: number): void {
  const db = new Database(path.join(dataDir, DATABASE_FILE));
  try {
    db.pragma('cache_size = -200000');
    const template = db.prepare('SELECT * FROM messages WHERE nick = ? ORDER BY id DESC LIMIT 1').get(templateNick) as Record<string, unknown> | undefined;
    if (template === undefined) throw new Error('seeding: the template message was not stored');
    const columns = Object.keys(template).filter((column) => column !== 'id');
    const insert = db.prepare(`INSERT INTO messages (${columns.map((c) => `"${c}"`).join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`);
    const random = rng(8);
    const letters = 'abcdefghijklmnopqrstuvwxyz';
    const syllables = ['ba', 'ke', 'lo', 'mi', 'nu', 'ra', 'se', 'ti', 'vo', 'den', 'gar', 'pol', 'ster', 'wen', 'th', 'ing'];
    // Words starting with every letter, frequent ones first (Zipf-like), as in ordinary chat.
    const vocabulary = Array.from({ length: 4000 }, (_, i) => {
      let word = letters[i % 26]!;
      for (let n = i; word.length < 3 || n > 0; n = Math.floor(n / 16)) word += syllables[n % 16]!;
      return word;
    });
    const now = Date.now();
    db.transaction(() => {
      for (let i = 0; i < count; i++) {
        const words: string[] = [];
        for (let n = 5 + Math.floor(random() * 10); n > 0; n--) words.push(vocabulary[Math.floor(vocabulary.length * random() ** 3)]!);
        const row = { ...template, at: now - (count - i) * 1000, nick: `talker${i % 40}`, text: words.join(' ') };
        insert.run(columns.map((c) => (row as Record<string, unknown>)[c]));
      }
    })();
  } finally {
    db.close();
  }
}

/** Adds rooms named like the stored room `templateName`, copying its row (so the seeding follows the schema). Returns the total. */
function seedRooms(dataDir: string, templateName: string, count: number): number {
  const db = new Database(path.join(dataDir, DATABASE_FILE));
  try {
    const template = db.prepare('SELECT * FROM rooms WHERE name = ?').get(templateName) as Record<string, unknown> | undefined;
    if (template === undefined) throw new Error('seeding: the template room was not stored');
    const columns = Object.keys(template).filter((column) => column !== 'id');
    const insert = db.prepare(`INSERT INTO rooms (${columns.map((c) => `"${c}"`).join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`);
    db.transaction(() => {
      for (let i = 1; i < count; i++) {
        const name = `#seed${String(i).padStart(5, '0')}`;
        // The key is the daemon's own room key (the look-alike skeleton of the name).
        const row = { ...template, name, key: nameKey(name) };
        insert.run(columns.map((c) => (row as Record<string, unknown>)[c]));
      }
    })();
    return Number(db.prepare('SELECT count(*) FROM rooms').pluck().get());
  } finally {
    db.close();
  }
}

/** Registers a user that sends one line (or runs `commands`), waits for the commit (`/ping`), and leaves. */
async function storeThrough(sc: Scenario, port: number, lines: string[]): Promise<void> {
  const seeder = await sc.user(port, '127.0.0.5', 'seeder');
  for (const line of lines) seeder.send(line);
  const pong = seeder.waitFor((line) => line === 'PONG seeded', 10_000, 'PONG');
  seeder.send('/ping seeded');
  await pong;
  seeder.destroy();
}

/** The same two users with no attack: on shared cores this shows how much of a figure is the machine. */
async function baseline(sc: Scenario): Promise<Row[]> {
  const daemon = await sc.daemon(sc.dataDir());
  const chat = await ChatPair.start(sc, daemon.port);
  await chat.chat(5_000);
  return [chatRow('0', 'no attack (baseline)', await chat.settle(GRACE_MS))];
}

async function expensiveReads(sc: Scenario): Promise<Row[]> {
  const messages = 200_000;
  const dir = sc.dataDir();
  const first = await sc.daemon(dir);
  await storeThrough(sc, first.port, ['the template message']);
  await first.stop();
  const seedStarted = Date.now();
  const how = seedCached(dir, `messages ${messages}`, () => seedMessages(dir, 'seeder', messages));
  // Keep all of them: the default retention (100,000 a room) would start pruning at once.
  const daemon = await sc.daemon(dir, ['--history-max-messages', String(messages * 2)]);
  console.log(`  setup  ${messages.toLocaleString('en')} messages in #lobby ${how} in ${((Date.now() - seedStarted) / 1000).toFixed(1)} s (daemon restarted)`);
  const chat = await ChatPair.start(sc, daemon.port);
  // What one such query costs, asked once before the attack (the reply ends with OK or ERR).
  const probe = await sc.user(daemon.port, '127.0.0.6', 'prober');
  const asked = performance.now();
  const answer = probe.waitFor((line) => line.startsWith('OK SEARCH') || line.startsWith('ERR '), 30_000, 'the search reply');
  probe.send(SEARCH);
  const reply = await answer;
  const searchMs = performance.now() - asked;
  probe.destroy();
  console.log(`  probe  one "${SEARCH}" answered in ${ms(searchMs)}: ${reply}`);
  const generator = await sc.generator({
    port: daemon.port,
    setupMs: 20_000,
    maxRunMs: ATTACK_MS + 5_000,
    workloads: [
      { kind: 'line-flood', label: '/search attacker', connections: 1, address: '127.0.0.66', line: SEARCH, register: true, nickPrefix: 'seekx', maxBytesPerConnection: 2 * 2 ** 20 },
      { kind: 'command-loop', label: '100 × /history 200', clients: 100, addresses: addressRange(1, 100), command: '/history 200', nickPrefix: 'histx' },
    ],
  });
  const { result, cpu } = await attack(daemon, chat, generator, ATTACK_MS);
  return [
    chatRow('1', '/search flood + 100 /history loops', result, cpu),
    { scenario: '1', measure: 'one such /search, before the attack', figure: `${ms(searchMs)} (${reply.split(' ', 2).join(' ')})`, target: 'never blocks chat', result: 'info' },
  ];
}

async function roomsList(sc: Scenario): Promise<Row[]> {
  const dir = sc.dataDir();
  const first = await sc.daemon(dir);
  // A message too, so the template room is stored whatever rule decides which empty rooms are kept.
  await storeThrough(sc, first.port, ['/join #seed00000', 'the template room']);
  await first.stop();
  const total = seedRooms(dir, '#seed00000', 10_000);
  const daemon = await sc.daemon(dir);
  const chat = await ChatPair.start(sc, daemon.port);
  // What the daemon itself counts, from the final line of one /rooms (e.g. "200 of 10001 rooms shown").
  const listed = await chat.ask(0, '/rooms', (line) => line.startsWith('OK ROOMS') || line.startsWith('ERR '));
  const shown = /(\d+) rooms/.exec(listed)?.[1] ?? '?';
  console.log(`  setup  ${total.toLocaleString('en')} rooms stored (daemon restarted); /rooms says: ${listed}`);
  const generator = await sc.generator({
    port: daemon.port,
    setupMs: 20_000,
    maxRunMs: ATTACK_MS + 5_000,
    workloads: [{ kind: 'command-loop', label: '20 × /rooms', clients: 20, addresses: addressRange(1, 20), command: '/rooms', nickPrefix: 'roomx' }],
  });
  const { result, cpu } = await attack(daemon, chat, generator, ATTACK_MS);
  return [chatRow('2', `20 /rooms loops, ${shown} rooms`, result, cpu)];
}

async function emptyLines(sc: Scenario): Promise<Row[]> {
  const daemon = await sc.daemon(sc.dataDir());
  const chat = await ChatPair.start(sc, daemon.port);
  const generator = await sc.generator({
    port: daemon.port,
    setupMs: 10_000,
    maxRunMs: ATTACK_MS + 5_000,
    workloads: [{ kind: 'line-flood', label: '4 × unregistered \\n flood', connections: 4, address: '127.0.2.1', line: '', register: false, nickPrefix: '', maxBytesPerConnection: 2 ** 30 }],
  });
  const { result, stats, seconds, cpu, daemonRead } = await attack(daemon, chat, generator, ATTACK_MS);
  const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);
  console.log(`  input  the daemon read ${mib(daemonRead)} MiB in ${seconds.toFixed(1)} s (${mib(daemonRead / seconds)} MiB/s); the flooders wrote ${mib(stats[0]!.bytesWritten)} MiB`);
  return [
    chatRow('3a', '4 unregistered \\n floods', result, cpu),
    {
      scenario: '3a',
      measure: 'bytes the daemon read from them',
      figure: `${mib(daemonRead)} MiB (${mib(daemonRead / seconds)} MiB/s), ${stats[0]!.closedDuringRun} dropped`,
      target: 'a byte budget',
      result: 'info',
    },
  ];
}

async function oneAddressFlood(sc: Scenario): Promise<Row[]> {
  const daemon = await sc.daemon(sc.dataDir());
  const chat = await ChatPair.start(sc, daemon.port);
  const generator = await sc.generator({
    port: daemon.port,
    setupMs: 10_000,
    maxRunMs: ATTACK_MS + 5_000,
    workloads: [{ kind: 'line-flood', label: '100 connections from 127.0.2.2', connections: 100, address: '127.0.2.2', line: 'flooding the lobby from one address', register: true, nickPrefix: 'floodx', maxBytesPerConnection: 2 * 2 ** 20 }],
  });
  let counting = false;
  let total = 0;
  let steady = 0;
  let steadyFrom = Infinity;
  chat.onAliceLine = (line) => {
    if (counting && line.startsWith('MSG #lobby floodx')) {
      total++;
      if (performance.now() >= steadyFrom) steady++;
    }
  };
  const started = performance.now();
  steadyFrom = started + FLOOD_BURST_SKIP_MS;
  counting = true;
  const { result, stats, seconds, cpu } = await attack(daemon, chat, generator, ATTACK_MS);
  counting = false;
  const rate = steady / ((ATTACK_MS - FLOOD_BURST_SKIP_MS) / 1000);
  console.log(`  flood  ${total.toLocaleString('en')} messages from 127.0.2.2 reached #lobby in ${seconds.toFixed(1)} s; ${Math.round(rate)}/s after the first ${FLOOD_BURST_SKIP_MS / 1000} s`);
  return [
    chatRow('3b', '100 connections from one address', result, cpu),
    {
      scenario: '3b',
      measure: `msgs/s into #lobby from 1 address (${stats[0]!.readyAtStart} conns)`,
      figure: `${Math.round(rate)}/s (${total.toLocaleString('en')} in all)`,
      target: `≤ ${PER_ADDRESS_TARGET}/s (per-address budget)`,
      result: rate <= PER_ADDRESS_TARGET ? 'PASS' : 'FAIL',
    },
  ];
}

async function connectStorm(sc: Scenario): Promise<Row[]> {
  const stormMs = 4_000;
  const daemon = await sc.daemon(sc.dataDir());
  const chat = await ChatPair.start(sc, daemon.port);
  const generator = await sc.generator({
    port: daemon.port,
    setupMs: 5_000,
    maxRunMs: stormMs + 10_000,
    workloads: [{ kind: 'connect-storm', label: 'connect storm from 127.0.3.1', address: '127.0.3.1', maxAttempts: 12_000, inFlight: 200, durationMs: stormMs }],
  });
  const logBefore = daemon.stderrBytes;
  const daemon0 = cpuTicks(daemon.pid);
  const started = performance.now();
  generator.go();
  const [stats] = await Promise.all([generator.stop(false), chat.chat(stormMs)]);
  const seconds = (performance.now() - started) / 1000;
  const cpu = `load ${generator.cpuPercent.toFixed(0)}%, daemon ${((cpuTicks(daemon.pid) - daemon0) / seconds).toFixed(0)}%`;
  // Disconnects are logged when the daemon sees each close: give the last ones a moment.
  await delay(500);
  const logBytes = daemon.stderrBytes - logBefore;
  const result = await chat.settle(GRACE_MS);
  const storm = stats[0]!;
  const served = storm.outcomes['served (HELLO)'] ?? 0;
  const perAttempt = logBytes / Math.max(1, storm.attempts);
  console.log(describe(storm, seconds));
  console.log(`  cpu    ${cpu} of one core`);
  console.log(`  log    ${logBytes.toLocaleString('en')} bytes on the daemon's stderr = ${perAttempt.toFixed(1)} bytes per attempt`);
  return [
    chatRow('3c', 'during a connect storm', result, cpu),
    {
      scenario: '3c',
      measure: 'connect storm, one address, 4 s',
      figure: `served ${served.toLocaleString('en')}, refused ${(storm.attempts - served).toLocaleString('en')} of ${storm.attempts.toLocaleString('en')}`,
      target: 'a per-address connect rate',
      result: 'info',
    },
    {
      scenario: '3c',
      measure: 'daemon log per connect attempt',
      figure: `${perAttempt.toFixed(1)} bytes`,
      target: `< ${LOG_BYTES_TARGET} bytes`,
      result: perAttempt < LOG_BYTES_TARGET ? 'PASS' : 'FAIL',
    },
  ];
}

async function pasteThenClose(sc: Scenario): Promise<Row[]> {
  const daemon = await sc.daemon(sc.dataDir());
  const watcher = await sc.user(daemon.port, '127.0.0.2', 'alice');
  const paster = await sc.user(daemon.port, '127.0.0.4', 'paster');
  const lines = 30_000;
  const paste = Array.from({ length: lines }, (_, i) => `pasted line ${String(i).padStart(5, '0')} `.padEnd(68, 'x') + '\r\n').join('');
  let closedAt = Infinity;
  let before = 0;
  let after = 0;
  let quitAt: number | undefined;
  const quit = watcher.waitFor((line) => line.startsWith('QUIT paster'), QUIT_WAIT_MS + 60_000, 'QUIT paster');
  quit.catch(() => undefined);
  watcher.onLine = (line) => {
    if (line.startsWith('MSG #lobby paster ')) {
      if (performance.now() >= closedAt) after++;
      else before++;
    } else if (line.startsWith('QUIT paster')) quitAt = performance.now();
  };
  // Hand the whole paste to the kernel (as a terminal would), then close the socket as a quitting client does.
  const flushed = await Promise.race([
    new Promise<boolean>((resolve) => paster.socket.write(paste, () => resolve(true))),
    delay(5_000).then(() => false),
  ]);
  closedAt = performance.now();
  paster.destroy();
  await Promise.race([quit, delay(QUIT_WAIT_MS)]);
  const waited = performance.now() - closedAt;
  const quitMs = quitAt === undefined ? undefined : quitAt - closedAt;
  console.log(
    `  paste  ${(Buffer.byteLength(paste) / 2 ** 20).toFixed(2)} MiB, ${lines.toLocaleString('en')} lines ${flushed ? 'all handed to the kernel' : 'NOT all handed to the kernel within 5 s'}; ` +
      `${before} lines reached #lobby before the close, ${after} after; QUIT ${quitMs === undefined ? `not seen within ${(waited / 1000).toFixed(1)} s` : `after ${ms(quitMs)}`}`,
  );
  return [
    {
      scenario: '4',
      measure: 'QUIT seen after the paster closed',
      figure: quitMs === undefined ? `not within ${(QUIT_WAIT_MS / 1000).toFixed(0)} s` : ms(quitMs),
      target: `≤ ${QUIT_TARGET_MS.toLocaleString('en')} ms`,
      result: quitMs !== undefined && quitMs <= QUIT_TARGET_MS ? 'PASS' : 'FAIL',
    },
    {
      scenario: '4',
      measure: 'paste lines posted after the close',
      figure: quitMs === undefined ? `${after} in ${(waited / 1000).toFixed(0)} s, still posting` : String(after),
      target: `≤ ${LIMITS.maxBacklogLines} (backlog bound)`,
      result: quitMs !== undefined && after <= LIMITS.maxBacklogLines ? 'PASS' : 'FAIL',
    },
  ];
}

/** Every scenario: its run function, a title and a hard deadline. */
const SCENARIOS: Record<string, { title: string; deadlineMs: number; run: (sc: Scenario) => Promise<Row[]> }> = {
  '0': { title: 'baseline: the two users chatting, no attack', deadlineMs: 30_000, run: baseline },
  '1': { title: 'expensive reads: /search flood and 100 /history loops over 200,000 messages', deadlineMs: 120_000, run: expensiveReads },
  '2': { title: '/rooms over 10,000 rooms, 20 loops', deadlineMs: 60_000, run: roomsList },
  '3a': { title: 'input flood: 4 unregistered connections sending \\n', deadlineMs: 45_000, run: emptyLines },
  '3b': { title: 'input flood: 100 registered connections from one address', deadlineMs: 60_000, run: oneAddressFlood },
  '3c': { title: 'connect storm from one address', deadlineMs: 45_000, run: connectStorm },
  '4': { title: 'a 2 MB paste, then the sender closes its socket', deadlineMs: 45_000, run: pasteThenClose },
};

/** Scenario ids in run order (an object with integer-like keys would list 4 before 3a). */
const ORDER = ['0', '1', '2', '3a', '3b', '3c', '4'];

function selected(args: string[]): string[] {
  if (args.length === 0) return ORDER;
  const ids: string[] = [];
  for (const arg of args) {
    const matching = ORDER.filter((id) => id === arg || id.replace(/[a-z]$/, '') === arg);
    if (matching.length === 0) throw new Error(`unknown scenario "${arg}"; choose from ${ORDER.join(' ')} (3 = 3a 3b 3c)`);
    for (const id of matching) if (!ids.includes(id)) ids.push(id);
  }
  return ids;
}

function printTable(rows: Row[]): void {
  const header: Row = { scenario: '#', measure: 'measure', figure: 'figure', target: 'target', result: 'info', cpu: 'CPU (% of one core)' };
  const cells = (r: Row): string[] => [r.scenario, r.measure, r.figure, r.target, r === header ? 'result' : r.result, r.cpu ?? ''];
  const widths = cells(header).map((_, i) => Math.max(...[header, ...rows].map((r) => cells(r)[i]!.length)));
  const line = (r: Row): string => cells(r).map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd();
  console.log('');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
}

async function main(): Promise<void> {
  const ids = selected(process.argv.slice(2));
  console.log(`hostile benchmark  node ${process.version}  ${new Date().toISOString()}  default flood settings; chat p99 target ${P99_TARGET_MS} ms`);
  console.log(`${os.cpus().length} cores shared by the daemon, the load generator and the measuring clients`);
  const rows: Row[] = [];
  let crashed = false;
  for (const id of ids) {
    const { title, deadlineMs, run } = SCENARIOS[id]!;
    console.log(`\n[${id}] ${title}  (load average ${loadAverage()})`);
    const sc = new Scenario(id);
    let timer: NodeJS.Timeout | undefined;
    try {
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`hard deadline of ${deadlineMs / 1000} s reached`)), deadlineMs);
      });
      rows.push(...(await Promise.race([run(sc), deadline])));
    } catch (error) {
      crashed = true;
      console.error(`  scenario ${id} failed: ${(error as Error).stack ?? String(error)}`);
      rows.push({ scenario: id, measure: 'scenario crashed', figure: (error as Error).message.slice(0, 80), target: '', result: 'CRASH' });
    } finally {
      clearTimeout(timer);
      await sc.cleanup();
    }
  }
  printTable(rows);
  process.exitCode = crashed ? 1 : 0;
  // Whatever a crashed scenario left pending must not keep the process alive.
  setTimeout(() => process.exit(), 5_000).unref();
}

// The whole section has an outer bound too, whatever happens inside.
setTimeout(() => {
  console.error('hostile benchmark: overall deadline reached');
  process.exit(1);
}, 600_000).unref();

void main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
