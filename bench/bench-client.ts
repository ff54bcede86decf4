/*
 * What the chat and cluster benchmarks share: a cheap counting client, registering it in a room, senders
 * that pump numbered lines as fast as the daemon takes them, waiting until every member has its lines,
 * and the per-process counters Linux keeps in /proc (no instrumentation of the daemon needed).
 * Traffic goes only to 127.0.0.1; every wait is bounded.
 */
import net from 'node:net';
import { readdirSync, readFileSync } from 'node:fs';

/** Longest wait for anything a benchmark expects from a daemon. */
export const BENCH_DEADLINE_MS = 120_000;

/** A minimal, cheap client: counts received lines and can wait for a substring of what arrives. */
export class BenchClient {
  received = 0;
  /** The last bytes received (at most TAIL_BYTES), as latin1 text. */
  private tail = '';
  private waiting: { needle: string; resolve: () => void } | undefined;

  constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) this.received++;
      // While nothing is awaited only the end of a chunk is decoded (for seen()): decoding every chunk in
      // full would cost the generator; an awaited needle may be anywhere in the chunk.
      const seen = this.tail + chunk.toString('latin1', this.waiting === undefined ? Math.max(0, chunk.length - TAIL_BYTES) : 0);
      this.tail = seen.slice(-TAIL_BYTES);
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

  /** Resolves when `needle` arrives (or has just arrived); rejects after `timeoutMs`. */
  waitFor(needle: string, timeoutMs = BENCH_DEADLINE_MS): Promise<void> {
    if (this.tail.includes(needle)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timeout waiting for ${needle}; last received: ${JSON.stringify(this.tail.slice(-200))}`)), timeoutMs);
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

/** Bytes of received text a client keeps to find what it waits for. */
const TAIL_BYTES = 512;

/** Connects as `nick` and joins `room`; resolves once the join is confirmed. */
export async function registered(port: number, nick: string, room: string, localAddress = '127.0.0.1'): Promise<BenchClient> {
  const socket = net.connect({ port, host: '127.0.0.1', localAddress });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const client = new BenchClient(socket);
  const joined = client.waitFor(`OK JOIN ${room} `, 10_000);
  socket.write(`${nick}\r\n/join ${room}\r\n`);
  await joined;
  return client;
}

/** What a sending run measured. */
export interface SendResult {
  seconds: number;
  /** Lines received by the clients, PONGs not counted. */
  delivered: number;
  /** True when every client received all it should have. */
  complete: boolean;
}

/**
 * Each sender writes `messagesEach` lines of `textBytes` characters in batches of 100 lines per write (as
 * fast as its socket takes them), then a /ping marks its end; resolves once each sender has its PONG and
 * every client has received `expected(i)` lines since the start (PONGs included), or the deadline passed.
 */
export async function sendAndCount(clients: readonly BenchClient[], senders: readonly number[], messagesEach: number, expected: (i: number) => number, textBytes = 60): Promise<SendResult> {
  const before = clients.map((c) => c.received);
  const started = process.hrtime.bigint();
  const text = 'x'.repeat(textBytes);
  const pongs = senders.map((i, s) => clients[i]!.waitFor(`PONG done${s}`));
  senders.forEach((i, s) => {
    const socket = clients[i]!.socket;
    let sent = 0;
    const pump = (): void => {
      while (sent < messagesEach) {
        let batch = '';
        for (let k = 0; k < 100 && sent < messagesEach; k++, sent++) batch += `${sent} ${text}\r\n`;
        if (!socket.write(batch)) {
          socket.once('drain', pump);
          return;
        }
      }
      socket.write(`/ping done${s}\r\n`);
    };
    pump();
  });
  await Promise.all(pongs).catch((error: unknown) => {
    console.error(`senders received: ${senders.map((i) => `${clients[i]!.received}${clients[i]!.socket.destroyed ? 'X' : ''}`).join(' ')}`);
    throw error;
  });
  const deadline = Date.now() + BENCH_DEADLINE_MS;
  while (clients.some((c, i) => c.received - before[i]! < expected(i)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return {
    seconds,
    delivered: clients.reduce((sum, c, i) => sum + Math.min(c.received - before[i]!, expected(i)), 0) - senders.length,
    complete: clients.every((c, i) => c.received - before[i]! >= expected(i)),
  };
}

/** CPU time (1/100 s ticks, user + system) of a process, all its threads; of one thread with `thread`. */
export function cpuTicks(pid: number, thread?: number): number {
  const file = thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`;
  const fields = readFileSync(file, 'utf8').split(') ')[1]!.split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** CPU ticks (1/100 s) of each thread of `pid`: the main thread as "main", the others summed as "other". */
export function threadTicks(pid: number): { main: number; other: number } {
  const ticks = { main: 0, other: 0 };
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let used: number;
    try {
      used = cpuTicks(pid, Number(tid));
    } catch {
      continue; // the thread ended meanwhile
    }
    if (tid === String(pid)) ticks.main += used;
    else ticks.other += used;
  }
  return ticks;
}

/** The middle value of `values` (the mean of the two middle ones for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Counters Linux keeps per process, read from /proc without touching the process. */
export interface ProcCounters {
  /** CPU ticks of all threads: user, system. */
  user: number;
  system: number;
  /** CPU ticks of the main thread (the event loop) alone. */
  main: number;
  /** Minor page faults: memory the process touched for the first time (a growing heap). */
  faults: number;
  /** read- and write-like system calls (read, recv, write, writev, send...), all threads. */
  syscr: number;
  syscw: number;
  /** Context switches of the main thread: it waited (voluntary) or was preempted (involuntary). */
  voluntary: number;
  involuntary: number;
}

/** Reads `pid`'s counters (see ProcCounters). */
export function procCounters(pid: number): ProcCounters {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const io = readFileSync(`/proc/${pid}/io`, 'utf8');
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (text: string, name: string): number => Number(new RegExp(`^${name}:\\s*(\\d+)`, 'm').exec(text)?.[1] ?? NaN);
  return {
    user: Number(stat[11]),
    system: Number(stat[12]),
    main: cpuTicks(pid, pid),
    faults: Number(stat[7]),
    syscr: field(io, 'syscr'),
    syscw: field(io, 'syscw'),
    voluntary: field(status, 'voluntary_ctxt_switches'),
    involuntary: field(status, 'nonvoluntary_ctxt_switches'),
  };
}

/** `after - before`, field by field. */
export function counterDelta(before: ProcCounters, after: ProcCounters): ProcCounters {
  const delta = { ...after };
  for (const key of Object.keys(delta) as (keyof ProcCounters)[]) delta[key] -= before[key];
  return delta;
}

/** `a + b`, field by field. */
export function counterSum(a: ProcCounters, b: ProcCounters): ProcCounters {
  const sum = { ...a };
  for (const key of Object.keys(sum) as (keyof ProcCounters)[]) sum[key] += b[key];
  return sum;
}
