/*
 * A load generator for bench/scale-bench.ts, run as a child process (child_process.fork, never a worker
 * thread, so its CPU is its own and the daemon's figures are not shared with it). The parent sends it one
 * job at a time over IPC; it answers with the job's result and its own CPU use during the job, so the
 * parent can say when a figure is bounded by the generator rather than by the server.
 *
 * It speaks either mychat (a nickname line, then the automatic join) or plain IRC (NICK/USER, wait for
 * 001, JOIN, wait for the JOIN echo, PRIVMSG, PING/PONG), so the same workloads run against any IRC server.
 * Every socket goes to the host it is given, which the parent only ever sets to 127.0.0.0/8 or ::1.
 */
import net from 'node:net';

/** The protocol the generator speaks. */
export type Dialect = 'mychat' | 'irc';

/** What the parent asks for. */
export type GeneratorJob =
  | { cmd: 'register'; port: number; host: string; localAddress: string; dialect: Dialect; prefix: string; count: number; concurrency: number; join: boolean; deadlineMs: number }
  | { cmd: 'room'; port: number; host: string; localAddress: string; dialect: Dialect; prefix: string; count: number; concurrency: number; room: string; deadlineMs: number }
  | { cmd: 'fanout'; senders: number; window: number; warmupMs: number; measureMs: number; text: number }
  | { cmd: 'latency'; rate: number; probes: number; warmupMs: number; measureMs: number }
  | { cmd: 'close' };

/** What the generator answers: the job's figures plus its own CPU share (1 = one full core) during it. */
export interface GeneratorResult {
  ok: boolean;
  error?: string;
  /** Clients that completed the job (registered, joined). */
  done?: number;
  /** Wall time of the job, ms. */
  ms?: number;
  /** Generator CPU during the job (user + system), as a share of one core. */
  cpu?: number;
  /** Fan-out: lines received by every client during the measuring window, and messages sent. */
  delivered?: number;
  sent?: number;
  /** Latency: samples in ms, summarised. */
  p50?: number;
  p99?: number;
  samples?: number;
  /** Lines the checking receivers saw out of order or missing (should be 0). */
  gaps?: number;
  /** Clients whose connection the server closed during the job. */
  lost?: number;
}

const NL = 10;

/** One client connection: counts received lines, and can wait for a marker or parse message lines. */
class Client {
  received = 0;
  closed = false;
  /** Called with each complete line when parsing is on (checkers, senders): the lines are then also counted. */
  onLine: ((line: string) => void) | undefined;
  private tail = '';
  private waiting: { markers: string[]; resolve: () => void } | undefined;

  constructor(
    readonly socket: net.Socket,
    readonly dialect: Dialect,
  ) {
    socket.on('data', (chunk: Buffer) => this.data(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
    });
  }

  private data(chunk: Buffer): void {
    if (this.onLine !== undefined) {
      const text = this.tail + chunk.toString('latin1');
      let start = 0;
      for (let at = text.indexOf('\n'); at >= 0; at = text.indexOf('\n', start)) {
        this.received++;
        this.onLine(text.slice(start, at));
        start = at + 1;
      }
      this.tail = text.slice(start);
      return;
    }
    // Counting only: the cheapest pass a receiver can make.
    for (let at = chunk.indexOf(NL); at >= 0; at = chunk.indexOf(NL, at + 1)) this.received++;
    if (this.waiting !== undefined) {
      const seen = this.tail + chunk.toString('latin1');
      this.tail = seen.slice(-200);
      this.check(seen);
    } else if (this.dialect === 'irc' && chunk.indexOf('PING ') >= 0) {
      // An idle IRC client must answer the server's keep-alive PING, or it is dropped.
      const line = /(?:^|\n)PING (\S+)/.exec(chunk.toString('latin1'));
      if (line !== null) this.socket.write(`PONG ${line[1]}\r\n`);
    }
  }

  private check(seen: string): void {
    const waiting = this.waiting!;
    if (waiting.markers.some((m) => seen.includes(m))) {
      this.waiting = undefined;
      this.tail = '';
      waiting.resolve();
    }
  }

  /** Resolves once any of `markers` has been received (searching only what arrives from now on). */
  waitFor(markers: string[], timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = undefined;
        reject(new Error(`timeout waiting for ${markers.join(' | ')}`));
      }, timeoutMs);
      this.waiting = {
        markers,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
    });
  }
}

/** The lines of each dialect. */
const LINES = {
  mychat: {
    register: (nick: string) => `${nick}\r\n`,
    join: (room: string) => `/join ${room}\r\n`,
    joined: (room: string) => [`OK JOIN ${room} `],
    say: (_room: string, text: string) => `${text}\r\n`,
  },
  irc: {
    register: (nick: string) => `NICK ${nick}\r\nUSER ${nick} 0 * :${nick}\r\n`,
    join: (room: string) => `JOIN ${room}\r\n`,
    joined: (room: string) => [` JOIN ${room}`, ` JOIN :${room}`],
    say: (room: string, text: string) => `PRIVMSG ${room} :${text}\r\n`,
  },
} as const;

const clients: Client[] = [];
/** Clients of the room job, in the order they joined: the first ones send in the fan-out and latency jobs. */
let roomClients: Client[] = [];
let roomName = '';

/**
 * Local ports this generator binds its sockets to, below Linux's ephemeral range (32768 up) so they do not
 * meet other programs' client sockets. Binding to port 0 with a source address makes the kernel search
 * for a free port, which costs a millisecond of kernel time per socket past a few thousand (more than the
 * server spends registering the client); binding to a named port is a lookup.
 */
const LOCAL_PORTS = { first: 10_000, last: 32_000 };
let nextLocalPort = LOCAL_PORTS.first;

function connectFrom(host: string, port: number, localAddress: string, localPort: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, localAddress, localPort, noDelay: true });
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

async function connect(host: string, port: number, localAddress: string, dialect: Dialect): Promise<Client> {
  // A port still in use (or in TIME_WAIT towards the same server) is skipped; bounded tries.
  for (let tries = 0; ; tries++) {
    const localPort = nextLocalPort;
    nextLocalPort = nextLocalPort >= LOCAL_PORTS.last ? LOCAL_PORTS.first : nextLocalPort + 1;
    try {
      return new Client(await connectFrom(host, port, localAddress, localPort), dialect);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if ((code !== 'EADDRINUSE' && code !== 'EADDRNOTAVAIL') || tries >= 1000) throw error;
    }
  }
}

/** Connects and registers one client; with `room`, it then joins that room (mychat: after its automatic join). */
async function registerOne(job: { host: string; port: number; localAddress: string; dialect: Dialect }, nick: string, join: boolean, room: string | undefined, timeoutMs: number): Promise<Client> {
  const lines = LINES[job.dialect];
  const client = await connect(job.host, job.port, job.localAddress, job.dialect);
  if (job.dialect === 'mychat') {
    // Registering ends with the automatic join of #lobby (mychatd's default).
    const done = client.waitFor(lines.joined('#lobby'), timeoutMs);
    client.socket.write(lines.register(nick));
    await done;
  } else {
    const welcomed = client.waitFor([' 001 '], timeoutMs);
    client.socket.write(lines.register(nick));
    await welcomed;
    if (join) {
      const joined = client.waitFor(lines.joined('#lobby'), timeoutMs);
      client.socket.write(lines.join('#lobby'));
      await joined;
    }
  }
  if (room !== undefined) {
    const joined = client.waitFor(lines.joined(room), timeoutMs);
    client.socket.write(lines.join(room));
    await joined;
  }
  return client;
}

/** Registers `count` clients with at most `concurrency` registrations in flight; returns those that made it. */
async function registerMany(
  job: { host: string; port: number; localAddress: string; dialect: Dialect; prefix: string; count: number; concurrency: number; deadlineMs: number },
  join: boolean,
  room: string | undefined,
): Promise<Client[]> {
  const made: Client[] = [];
  const deadline = Date.now() + job.deadlineMs;
  let next = 0;
  let failure: unknown;
  const worker = async (): Promise<void> => {
    while (next < job.count && Date.now() < deadline && failure === undefined) {
      const i = next++;
      try {
        made.push(await registerOne(job, `${job.prefix}${i}`, join, room, Math.max(1, deadline - Date.now())));
      } catch (error) {
        failure ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(job.concurrency, job.count) }, worker));
  if (failure !== undefined && made.length === 0) throw failure;
  return made;
}

function cpuShare(from: NodeJS.CpuUsage, ms: number): number {
  const used = process.cpuUsage(from);
  return (used.user + used.system) / 1000 / Math.max(1, ms);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * The fan-out job: the first `senders` room clients send as fast as the server takes it, each with at most
 * `window` of its messages not yet seen by the next sender (which parses every line: the 10 % of receivers
 * that check order; everyone else only counts lines). The window keeps every receiver's backlog on the
 * server small, so no server drops a client for a full send queue. Lines received during the measuring
 * window are counted.
 */
async function fanout(job: Extract<GeneratorJob, { cmd: 'fanout' }>): Promise<GeneratorResult> {
  const lines = LINES[roomClients[0]!.dialect];
  const senders = roomClients.slice(0, job.senders);
  const n = senders.length;
  const sent = new Array<number>(n).fill(0);
  const acked = new Array<number>(n).fill(0);
  let gaps = 0;
  let running = true;
  const pad = 'x'.repeat(Math.max(0, job.text));
  const pump = (s: number): void => {
    if (!running) return;
    const sender = senders[s]!;
    let batch = '';
    while (sent[s]! - acked[s]! < job.window) batch += lines.say(roomName, `|${s}:${++sent[s]!}|${pad}`);
    if (batch !== '') sender.socket.write(batch);
  };
  // Senders whose window moved are topped up once per turn, so a write carries every message then due.
  const due = new Set<number>();
  let pumping = false;
  const pumpDue = (): void => {
    pumping = false;
    for (const s of due) pump(s);
    due.clear();
  };
  // Sender s's messages are acknowledged by sender s+1's parser (its own messages never come back to it).
  senders.forEach((client, me) => {
    const last = new Array<number>(n).fill(0);
    client.onLine = (line: string): void => {
      const at = line.indexOf('|');
      if (at < 0) return;
      const colon = line.indexOf(':', at);
      const end = line.indexOf('|', colon);
      if (colon < 0 || end < 0) return;
      const s = Number(line.slice(at + 1, colon));
      const seq = Number(line.slice(colon + 1, end));
      if (seq !== last[s]! + 1) gaps++;
      last[s] = seq;
      if ((s + 1) % n === me && seq > acked[s]!) {
        acked[s] = seq;
        due.add(s);
        if (!pumping) {
          pumping = true;
          setImmediate(pumpDue);
        }
      }
    };
  });
  for (let s = 0; s < n; s++) pump(s);
  await sleep(job.warmupMs);
  const count = (): number => roomClients.reduce((sum, c) => sum + c.received, 0);
  const cpu0 = process.cpuUsage();
  const started = Date.now();
  const before = count();
  const sent0 = sent.reduce((a, b) => a + b, 0);
  await sleep(job.measureMs);
  const delivered = count() - before;
  const ms = Date.now() - started;
  const cpu = cpuShare(cpu0, ms);
  running = false;
  const sentDuring = sent.reduce((a, b) => a + b, 0) - sent0;
  // Let what is in flight arrive, so the next job starts from a quiet room.
  await sleep(500);
  for (const client of senders) client.onLine = undefined;
  return { ok: true, delivered, sent: sentDuring, ms, cpu, gaps, lost: roomClients.filter((c) => c.closed).length };
}

/**
 * The latency job: the first room client sends `rate` messages a second, each carrying its send time; the
 * `probes` receivers spread evenly over the room parse every line and record how long it took to arrive
 * (the others only count). Percentiles are over every probe's every message.
 */
async function latency(job: Extract<GeneratorJob, { cmd: 'latency' }>): Promise<GeneratorResult> {
  const sender = roomClients[0]!;
  const lines = LINES[sender.dialect];
  const receivers = roomClients.slice(1);
  const step = Math.max(1, Math.floor(receivers.length / Math.max(1, job.probes)));
  const probes = receivers.filter((_, i) => i % step === 0).slice(0, job.probes);
  let measuring = false;
  const samples: number[] = [];
  const origin = performance.now();
  for (const probe of probes) {
    probe.onLine = (line: string): void => {
      const at = line.indexOf('|t');
      if (at < 0 || !measuring) return;
      const end = line.indexOf('|', at + 2);
      samples.push(performance.now() - origin - Number(line.slice(at + 2, end)));
    };
  }
  const interval = 1000 / job.rate;
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  let sentCount = 0;
  // Messages go out on schedule (not one per timer tick, which drifts): each tick sends what is due.
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const elapsed = performance.now() - started;
      measuring = elapsed >= job.warmupMs;
      while (sentCount * interval <= elapsed && elapsed < job.warmupMs + job.measureMs) {
        sender.socket.write(lines.say(roomName, `|t${(performance.now() - origin).toFixed(3)}|`));
        sentCount++;
      }
      if (elapsed >= job.warmupMs + job.measureMs) {
        clearInterval(timer);
        resolve();
      }
    }, Math.max(1, Math.floor(interval / 2)));
  });
  await sleep(1000);
  measuring = false;
  for (const probe of probes) probe.onLine = undefined;
  const ms = performance.now() - started;
  samples.sort((a, b) => a - b);
  const pick = (q: number): number => (samples.length === 0 ? NaN : samples[Math.min(samples.length - 1, Math.floor(q * samples.length))]!);
  return { ok: true, p50: pick(0.5), p99: pick(0.99), samples: samples.length, sent: sentCount, ms, cpu: cpuShare(cpu0, ms), lost: roomClients.filter((c) => c.closed).length };
}

async function run(job: GeneratorJob): Promise<GeneratorResult> {
  switch (job.cmd) {
    case 'register': {
      const cpu0 = process.cpuUsage();
      const started = Date.now();
      const made = await registerMany(job, job.join, undefined);
      clients.push(...made);
      const ms = Date.now() - started;
      return { ok: true, done: made.length, ms, cpu: cpuShare(cpu0, ms) };
    }
    case 'room': {
      const cpu0 = process.cpuUsage();
      const started = Date.now();
      roomName = job.room;
      // Senders and probes are the first clients: they register one by one so their order is known.
      const made = await registerMany(job, false, job.room);
      roomClients = made;
      clients.push(...made);
      const ms = Date.now() - started;
      return { ok: true, done: made.length, ms, cpu: cpuShare(cpu0, ms) };
    }
    case 'fanout':
      return fanout(job);
    case 'latency':
      return latency(job);
    case 'close': {
      for (const client of clients) client.socket.destroy();
      clients.length = 0;
      roomClients = [];
      return { ok: true };
    }
  }
}

process.on('message', (job: GeneratorJob) => {
  run(job).then(
    (result) => process.send!(result),
    (error: unknown) => process.send!({ ok: false, error: error instanceof Error ? error.message : String(error) }),
  );
});
process.on('disconnect', () => process.exit(0));
