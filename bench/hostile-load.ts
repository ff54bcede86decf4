/*
 * Load generator of the hostile benchmark, run as a child process (forked by hostile-bench.ts) so that
 * its CPU use is apart from the measuring clients' and can be read from /proc. It gets a LoadSpec as
 * JSON in argv[2], sets its connections up, says `ready`, runs its workloads between the parent's `go`
 * and `stop` (or its own cap), then reports `done` with its counts and exits.
 * Every connection goes to 127.0.0.1 from a 127.0.0.0/8 source address; every loop is bounded in count and time.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { delay, LineClient } from './hostile-client';

/** One kind of hostile traffic. */
export type Workload =
  | {
      /** Registered clients that each send `command` again as soon as its final line (OK or ERR) arrives. */
      kind: 'command-loop';
      label: string;
      clients: number;
      /** Source addresses, used round-robin. */
      addresses: string[];
      command: string;
      nickPrefix: string;
    }
  | {
      /** Connections that keep their socket's write buffer full with `line` (CR LF added), as fast as the server reads. */
      kind: 'line-flood';
      label: string;
      connections: number;
      address: string;
      line: string;
      /** Register first (and so flood #lobby), or flood as an unregistered connection. */
      register: boolean;
      nickPrefix: string;
      /**
       * Most bytes one connection writes. Bytes the server does not read wait in kernel buffers (several
       * MiB per connection on loopback), so this keeps a 100-connection flood from holding hundreds of MiB.
       */
      maxBytesPerConnection: number;
    }
  | {
      /** Connections opened and closed from one address as fast as possible. */
      kind: 'connect-storm';
      label: string;
      address: string;
      maxAttempts: number;
      inFlight: number;
      durationMs: number;
    };

/** What the parent asks a generator child to do. */
export interface LoadSpec {
  port: number;
  /** Most time for connecting and registering before `ready` is sent anyway. */
  setupMs: number;
  /** Most time between `go` and stopping, should the parent never say `stop`. */
  maxRunMs: number;
  workloads: Workload[];
}

/** Counts of one workload, reported to the parent. */
export interface WorkloadStats {
  label: string;
  /** Connections that were set up (registered, or greeted when unregistered) when `ready` was sent. */
  readyAtStart: number;
  connects: number;
  /** Connections that closed while the run was on (dropped by the server, or refused). */
  closedDuringRun: number;
  /** Commands sent (command-loop) or lines written (line-flood) during the run. */
  sent: number;
  /** Final replies received during the run (command-loop). */
  finals: number;
  bytesWritten: number;
  /** ERR codes, BYE reasons and connect outcomes, with how often each was seen. */
  outcomes: Record<string, number>;
  /** connect-storm: connection attempts made. */
  attempts: number;
}

/** Messages between parent and child. */
export type ToChild = { type: 'go' } | { type: 'stop' };
/** Messages between child and parent. */
export type ToParent = { type: 'ready'; stats: WorkloadStats[] } | { type: 'done'; stats: WorkloadStats[]; cpuPercent: number };

/** Pause between reconnect attempts of one slot, as a persistent attacker would. */
const RECONNECT_MS = 200;
/** Most connections one slot opens over a run. */
const MAX_CONNECTS_PER_SLOT = 500;
/** A looping client sends its next command anyway when a reply takes longer than this. */
const STALL_MS = 5000;

function count(stats: WorkloadStats, key: string): void {
  stats.outcomes[key] = (stats.outcomes[key] ?? 0) + 1;
}

/** The first word of an ERR line's rest, i.e. its code. */
function errCode(rest: string): string {
  return rest.split(' ', 1)[0] ?? '';
}

class Run {
  running = false;
  stopped = false;
  private goResolve!: () => void;
  readonly started = new Promise<void>((resolve) => (this.goResolve = resolve));
  readonly clients = new Set<LineClient>();
  go(): void {
    this.running = true;
    this.goResolve();
  }
}

/** A chunk of repeated lines, written in one call so that writing costs the generator little CPU. */
function chunkOf(line: string): Buffer {
  const one = line === '' ? '\n' : `${line}\r\n`;
  return Buffer.from(one.repeat(Math.max(1, Math.ceil(16384 / one.length))));
}

/** Keeps the socket's write buffer full until the run stops or the socket closes; counts lines written. */
function pump(client: LineClient, chunk: Buffer, linesPerChunk: number, maxBytes: number, run: Run, stats: WorkloadStats): void {
  let written = 0;
  const more = (): void => {
    while (run.running && !client.closed && written + chunk.length <= maxBytes) {
      written += chunk.length;
      stats.sent += linesPerChunk;
      stats.bytesWritten += chunk.length;
      if (!client.socket.write(chunk)) {
        client.socket.once('drain', more);
        return;
      }
    }
  };
  more();
}

/** One slot of a command-loop or line-flood: connects, sets up, works, and reconnects when dropped. */
async function slot(spec: LoadSpec, w: Exclude<Workload, { kind: 'connect-storm' }>, index: number, run: Run, stats: WorkloadStats, markReady: () => void): Promise<void> {
  const address = w.kind === 'command-loop' ? w.addresses[index % w.addresses.length]! : w.address;
  const register = w.kind === 'command-loop' || w.register;
  let ready = false;
  for (let attempt = 0; attempt < MAX_CONNECTS_PER_SLOT && !run.stopped; attempt++) {
    if (attempt > 0) await delay(RECONNECT_MS);
    if (run.stopped) break;
    let client: LineClient | undefined;
    try {
      client = await LineClient.open(spec.port, address);
      run.clients.add(client);
      stats.connects++;
      let refusal: string | undefined;
      if (register) refusal = await client.register(`${w.nickPrefix}${index}x${attempt}`);
      else {
        const first = await client.waitFor(() => true, 5000, 'greeting');
        if (!first.startsWith('HELLO ')) refusal = first;
      }
      if (refusal !== undefined) {
        count(stats, `refused: ${refusal.split(' ', 2).join(' ')}`);
        continue;
      }
      if (!ready) {
        ready = true;
        markReady();
      }
      await run.started;
      if (run.stopped) break;
      const open = client;
      if (w.kind === 'command-loop') {
        let stall: NodeJS.Timeout | undefined;
        const next = (): void => {
          if (!run.running || open.closed) return;
          stats.sent++;
          open.send(w.command);
          clearTimeout(stall);
          stall = setTimeout(next, STALL_MS);
        };
        open.onLine = (line) => {
          if (line.startsWith('OK ')) stats.finals++;
          else if (line.startsWith('ERR ')) {
            stats.finals++;
            count(stats, `ERR ${errCode(line.slice(4))}`);
          } else {
            if (line.startsWith('BYE')) count(stats, line);
            return;
          }
          next();
        };
        next();
        await open.closedPromise;
        clearTimeout(stall);
      } else {
        open.discard((keyword, rest) => count(stats, keyword === 'ERR' ? `ERR ${errCode(rest)}` : `BYE ${rest}`));
        const chunk = chunkOf(w.line);
        pump(open, chunk, chunk.length / (w.line === '' ? 1 : w.line.length + 2), w.maxBytesPerConnection, run, stats);
        await open.closedPromise;
      }
      if (run.running) stats.closedDuringRun++;
    } catch (error) {
      count(stats, (error as Error).message);
    } finally {
      if (client) {
        client.destroy();
        run.clients.delete(client);
      }
    }
  }
}

/** Opens and closes connections from one address as fast as possible, up to `inFlight` at a time. */
async function storm(spec: LoadSpec, w: Extract<Workload, { kind: 'connect-storm' }>, run: Run, stats: WorkloadStats): Promise<void> {
  await run.started;
  const endBy = Date.now() + w.durationMs;
  const attempt = (): Promise<void> =>
    new Promise((resolve) => {
      stats.attempts++;
      const socket = net.connect({ port: spec.port, host: '127.0.0.1', localAddress: w.address });
      let outcome: string | undefined;
      const finish = (what: string): void => {
        if (outcome === undefined) {
          outcome = what;
          count(stats, what);
        }
        socket.destroy();
      };
      const timer = setTimeout(() => finish('no reply within 3 s'), 3000);
      socket.setEncoding('latin1');
      socket.once('data', (text: string) => {
        if (text.startsWith('HELLO ')) finish('served (HELLO)');
        else finish(`refused: ${text.split('\r', 1)[0]!.split(' ', 2).join(' ')}`);
      });
      socket.on('error', (error: NodeJS.ErrnoException) => finish(`error ${error.code ?? error.message}`));
      socket.once('close', () => {
        clearTimeout(timer);
        finish('closed without a reply');
        resolve();
      });
    });
  let inFlight = 0;
  await new Promise<void>((resolve) => {
    const launch = (): void => {
      while (inFlight < w.inFlight && stats.attempts < w.maxAttempts && Date.now() < endBy && !run.stopped) {
        inFlight++;
        void attempt().then(() => {
          inFlight--;
          launch();
        });
      }
      if (inFlight === 0) resolve();
    };
    launch();
  });
}

function emptyStats(label: string): WorkloadStats {
  return { label, readyAtStart: 0, connects: 0, closedDuringRun: 0, sent: 0, finals: 0, bytesWritten: 0, outcomes: {}, attempts: 0 };
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '') as LoadSpec;
  const run = new Run();
  const stats = spec.workloads.map((w) => emptyStats(w.label));
  // Never outlive the parent's interest: a hard cap on the whole child.
  setTimeout(() => process.exit(3), spec.setupMs + spec.maxRunMs + 30_000).unref();
  process.on('disconnect', () => process.exit(4));

  const slots: Promise<void>[] = [];
  const storms: Promise<void>[] = [];
  let wanted = 0;
  let readyCount = 0;
  let allReady!: () => void;
  const setUp = new Promise<void>((resolve) => (allReady = resolve));
  spec.workloads.forEach((w, k) => {
    if (w.kind === 'connect-storm') {
      storms.push(storm(spec, w, run, stats[k]!));
      return;
    }
    const n = w.kind === 'command-loop' ? w.clients : w.connections;
    wanted += n;
    for (let i = 0; i < n; i++) {
      slots.push(
        slot(spec, w, i, run, stats[k]!, () => {
          stats[k]!.readyAtStart++;
          if (++readyCount === wanted) allReady();
        }),
      );
    }
  });
  if (wanted === 0) allReady();
  await Promise.race([setUp, delay(spec.setupMs)]);
  const readyStats = stats.map((s) => ({ ...s, outcomes: { ...s.outcomes } }));

  let cpuAtGo = process.cpuUsage();
  let goAt = performance.now();
  let cpuPercent = NaN;
  const stop = (): void => {
    if (run.stopped) return;
    const cpu = process.cpuUsage(cpuAtGo);
    cpuPercent = ((cpu.user + cpu.system) / 1000 / (performance.now() - goAt)) * 100;
    run.stopped = true;
    run.running = false;
    for (const client of run.clients) client.destroy();
  };
  process.on('message', (message: ToChild) => {
    if (message.type === 'go') {
      // Counts from here on are the run's; setup refusals were reported with `ready`.
      for (const s of stats) {
        s.outcomes = {};
        s.connects = 0;
      }
      cpuAtGo = process.cpuUsage();
      goAt = performance.now();
      run.go();
      setTimeout(stop, spec.maxRunMs).unref();
    } else if (message.type === 'stop') stop();
  });
  process.send!({ type: 'ready', stats: readyStats } satisfies ToParent);
  await run.started;
  // Storms end by themselves (then the child reports at once); other slots run until `stop` or the cap.
  const stopped = new Promise<void>((resolve) => process.on('message', (m: ToChild) => m.type === 'stop' && resolve()));
  await (slots.length === 0 ? Promise.all(storms) : Promise.race([stopped, Promise.all(slots)]));
  stop();
  await Promise.race([Promise.all([...slots, ...storms]), delay(5000)]);
  process.send!({ type: 'done', stats, cpuPercent } satisfies ToParent, () => process.exit(0));
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
