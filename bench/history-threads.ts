/*
 * Where storing history costs the fan-out (a diagnostic beside chat-bench.ts, not part of npm run bench):
 * runs chat-bench's history scenario (100 members, 10 senders; see MEMBERS) with --history off, on, and on with the
 * bench room listed in --history-off-rooms (the daemon runs its store and threads but stores nothing),
 * interleaved, and prints for each run the delivery rate, the CPU of the daemon's main thread and of its
 * other threads (the SQLite writer, readers, V8's helpers) per message and as a share of a core, the
 * generator's share, and how long the main thread and the generator were runnable but waiting for a core.
 *
 *   node -r ts-node/register bench/history-threads.ts [rounds] [messages per sender]
 *   DAEMON=/path/to/dist/daemon/mychatd.js compares another build; MODES="off on" picks the modes.
 *   MEMBERS=200 runs issue 10's room of 200 members (100 by default, as chat-bench).
 *   PIN=1 pins the daemon's event loop to CPU 0, and its other threads and this generator to CPU 1 (with
 *   taskset), to see how much of the cost is the scheduler sharing two cores among three busy threads:
 *   the event loop then never waits for a core (on this machine the ratio did not change clearly).
 *
 * Traffic goes only to 127.0.0.1; every loop is bounded in count and time.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startBenchDaemon } from './bench-daemon';
import { median, registered, sendAndCount, threadTicks, type BenchClient } from './bench-client';

/** Members of the bench room, 10 of them sending (see MEMBERS above). */
const members = Math.min(1000, Math.max(20, Number(process.env.MEMBERS ?? 100)));

/** The modes compared: history off, on, and on with nothing of the bench room stored. */
type Mode = 'off' | 'on' | 'unstored';

/**
 * Nanoseconds the main thread of `pid` has spent runnable but waiting for a core (the second field of
 * /proc/PID/schedstat): how much the other threads and processes crowd it.
 */
function runQueueNs(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ')[1]);
}

/**
 * Pins the daemon's main thread to CPU 0 and all its other threads, and this process, to CPU 1 (see PIN
 * above). Each run's daemon is pinned anew: the next one starts on CPU 1 only (it inherits this process's
 * mask) until its own pin, after registration.
 */
function pin(daemonPid: number): void {
  execFileSync('taskset', ['--all-tasks', '--pid', '--cpu-list', '1', String(daemonPid)], { stdio: 'ignore' });
  execFileSync('taskset', ['--pid', '--cpu-list', '0', String(daemonPid)], { stdio: 'ignore' });
  execFileSync('taskset', ['--all-tasks', '--pid', '--cpu-list', '1', String(process.pid)], { stdio: 'ignore' });
}

/** What one run measured: deliveries per second, and the daemon's main-thread CPU per message (µs). */
interface RunFigures {
  rate: number;
  mainMicros: number;
}

/** One run of the scenario in `mode`; prints its figures and returns them. */
async function run(mode: Mode, messagesEach: number): Promise<RunFigures> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'mychat-history-threads-'));
  const history = mode === 'off' ? ['--history', 'off'] : ['--history', 'on', ...(mode === 'unstored' ? ['--history-off-rooms', '#bench'] : [])];
  // With --log-level debug the daemon logs how long each PONG waited for the store (pong-waited ms=N): the
  // senders' final PINGs tell how far storing lags behind the chat at full load.
  let log = '';
  const daemon = await startBenchDaemon([...history, '--data-dir', dataDir, '--log-level', 'debug'], process.env.DAEMON, (chunk) => {
    if (log.length < 1_000_000) log += chunk.toString('latin1');
  });
  const clients: BenchClient[] = [];
  try {
    for (let i = 0; i < members; i++) clients.push(await registered(daemon.port, `m${i}`, '#bench'));
    await new Promise((resolve) => setTimeout(resolve, 200));
    if (process.env.PIN === '1') pin(daemon.pid);
    const before = threadTicks(daemon.pid);
    const queuedBefore = [runQueueNs(daemon.pid), runQueueNs(process.pid)];
    const generator = process.cpuUsage();
    const senders = Array.from({ length: 10 }, (_, s) => s);
    const { seconds, delivered } = await sendAndCount(clients, senders, messagesEach, (i) => (i < 10 ? 9 * messagesEach + 1 : 10 * messagesEach));
    const after = threadTicks(daemon.pid);
    const queued = [runQueueNs(daemon.pid) - queuedBefore[0]!, runQueueNs(process.pid) - queuedBefore[1]!].map((ns) => `${Math.round(ns / 1e7 / seconds)}%`);
    const used = process.cpuUsage(generator);
    const share = (ticks: number): string => `${Math.round(ticks / seconds)}%`;
    const waits = [...log.matchAll(/pong-waited .*ms=(\d+)/g)].map((match) => Number(match[1]));
    // CPU ticks are 1/100 s; 10 senders each said messagesEach messages.
    const perMessage = (ticks: number): number => (ticks * 10_000) / (10 * messagesEach);
    const mainMicros = perMessage(after.main - before.main);
    console.log(
      `${mode.padEnd(8)} ${(delivered / seconds / 1e6).toFixed(2)} M lines/s  main thread ${mainMicros.toFixed(2)} µs/msg (${share(after.main - before.main)})  ` +
        `other threads ${perMessage(after.other - before.other).toFixed(2)} µs/msg (${share(after.other - before.other)})  generator ${Math.round(((used.user + used.system) / 1e4 / seconds))}%` +
        `  waited for a core: main thread ${queued[0]}, generator ${queued[1]}` +
        (waits.length > 0 ? `  final PONGs waited for the store ${Math.min(...waits)}-${Math.max(...waits)} ms` : ''),
    );
    return { rate: delivered / seconds, mainMicros };
  } finally {
    for (const client of clients) client.socket.destroy();
    await daemon.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const rounds = Math.min(20, Number(process.argv[2] ?? 5));
  const messagesEach = Math.min(100_000, Number(process.argv[3] ?? 15_000));
  const modes = (process.env.MODES ?? 'off on unstored').split(' ').filter((m): m is Mode => m === 'off' || m === 'on' || m === 'unstored');
  const runs = new Map<Mode, RunFigures[]>(modes.map((m) => [m, []]));
  for (let round = 0; round < rounds; round++) for (const mode of modes) runs.get(mode)!.push(await run(mode, messagesEach));
  const rates = (mode: Mode): number[] | undefined => runs.get(mode)?.map((figures) => figures.rate);
  const mainMedian = (mode: Mode): number => median(runs.get(mode)!.map((figures) => figures.mainMicros));
  for (const mode of modes) {
    const values = rates(mode)!;
    console.log(`${mode.padEnd(8)} median ${(median(values) / 1e6).toFixed(2)}  best ${(Math.max(...values) / 1e6).toFixed(2)} M lines/s  main thread median ${mainMedian(mode).toFixed(2)} µs/msg`);
  }
  const off = rates('off');
  for (const mode of ['on', 'unstored'] as const) {
    const values = rates(mode);
    if (off === undefined || values === undefined) continue;
    console.log(
      `${mode} / off: median ${(median(values) / median(off)).toFixed(2)}, best ${(Math.max(...values) / Math.max(...off)).toFixed(2)}; ` +
        `main thread CPU per message off / ${mode}: ${(mainMedian('off') / mainMedian(mode)).toFixed(2)}`,
    );
  }
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
