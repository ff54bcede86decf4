import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

/** The compiled daemon (npm run bench builds first). */
const DAEMON = path.join(__dirname, '..', 'dist', 'daemon', 'mychatd.js');

/** A daemon started for a benchmark, on 127.0.0.1 and a port of its choosing. */
export interface BenchDaemon {
  port: number;
  pid: number;
  proc: ChildProcess;
  /** Milliseconds from spawn to the "listening" log line. */
  startupMs: number;
  /** Bytes the daemon has written to stderr (its log) so far. */
  readonly stderrBytes: number;
  /** Sends SIGTERM and resolves once the daemon has exited (killing it if it takes longer than 10 s). */
  stop(): Promise<void>;
}

/**
 * Starts mychatd with flood control off, no configuration file and `extra` options; resolves once it
 * listens. `daemon` names another compiled daemon (to compare builds).
 */
export function startBenchDaemon(extra: string[], daemon?: string, onStderr?: (chunk: Buffer) => void): Promise<BenchDaemon> {
  return spawnDaemon(['--flood-rate', '0', '--input-rate', '0', '--input-address-rate', '0', '--connect-rate', '0', '--max-clients', '100000', '--max-per-address', '0', ...extra], { daemon, onStderr });
}

/**
 * Starts mychatd on 127.0.0.1, a port of its choosing and no configuration file, with `args` and
 * otherwise its defaults (the hostile benchmark needs the default flood settings); resolves once it listens.
 * `how` may add Node options and name another compiled daemon (to compare builds).
 */
export async function spawnDaemon(args: string[], how: { nodeArgs?: string[]; daemon?: string; onStderr?: (chunk: Buffer) => void } = {}): Promise<BenchDaemon> {
  const started = Date.now();
  const proc = spawn(process.execPath, [...(how.nodeArgs ?? []), how.daemon ?? DAEMON, '--host', '127.0.0.1', '--port', '0', '--config', '', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  let stderrBytes = 0;
  let listening = false;
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`daemon did not start: ${err}`)), 120_000);
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`daemon exited (${code ?? signal}) before listening: ${err}`));
    });
    proc.stderr!.on('data', (d: Buffer) => {
      how.onStderr?.(d);
      stderrBytes += d.length;
      if (listening) return;
      err += d.toString();
      if (err.length > 100_000) err = err.slice(-10_000);
      const match = /listening .*port=(\d+)/.exec(err);
      if (match) {
        listening = true;
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
  });
  const exited = new Promise<void>((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) resolve();
    else proc.once('exit', () => resolve());
  });
  return {
    port,
    pid: proc.pid!,
    proc,
    startupMs: Date.now() - started,
    get stderrBytes() {
      return stderrBytes;
    },
    stop: async () => {
      proc.kill('SIGTERM');
      // A daemon that does not finish its shutdown within 10 s is killed, so a benchmark always ends.
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Resident memory of a process, in KiB, from /proc. */
export function rssKiB(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) : NaN;
}

/**
 * Node options that make a bench daemon answer SIGUSR2 with two full GCs (the second frees what the
 * first's finalisers released) and one stderr line with its heap and RSS (see gcReading).
 */
export const GC_NODE_ARGS = [
  '--expose-gc',
  '--import',
  'data:text/javascript,' +
    encodeURIComponent(
      `process.on('SIGUSR2', () => { globalThis.gc(); globalThis.gc(); const m = process.memoryUsage(); process.stderr.write('bench-gc heap=' + m.heapUsed + ' rss=' + m.rss + '\\n'); });`,
    ),
];

/** Heap and RSS of a bench daemon after forced GCs, in bytes. */
export interface GcReading {
  heap: number;
  rss: number;
}

/** Asks a daemon started with GC_NODE_ARGS for a reading after forced GCs and waits for its line (at most 30 s). */
export function gcReading(daemon: BenchDaemon): Promise<GcReading> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => {
      daemon.proc.stderr!.off('data', onData);
      reject(new Error('no bench-gc line within 30 s'));
    }, 30_000);
    const onData = (chunk: Buffer): void => {
      seen += chunk.toString('latin1');
      const match = /bench-gc heap=(\d+) rss=(\d+)/.exec(seen);
      if (match === null) {
        seen = seen.slice(-200);
        return;
      }
      clearTimeout(timer);
      daemon.proc.stderr!.off('data', onData);
      resolve({ heap: Number(match[1]), rss: Number(match[2]) });
    };
    daemon.proc.stderr!.on('data', onData);
    daemon.proc.kill('SIGUSR2');
  });
}
