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
  stop(): Promise<void>;
}

/** Starts mychatd with flood control off, no configuration file and `extra` options; resolves once it listens. */
export async function startBenchDaemon(extra: string[]): Promise<BenchDaemon> {
  const started = Date.now();
  const proc = spawn(process.execPath, [DAEMON, '--host', '127.0.0.1', '--port', '0', '--flood-rate', '0', '--input-rate', '0', '--input-address-rate', '0', '--connect-rate', '0', '--config', '', '--max-clients', '100000', '--max-per-address', '0', ...extra], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`daemon did not start: ${err}`)), 120_000);
    proc.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.length > 100_000) err = err.slice(-10_000);
      const match = /listening .*port=(\d+)/.exec(err);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
  });
  return {
    port,
    pid: proc.pid!,
    proc,
    startupMs: Date.now() - started,
    stop: async () => {
      proc.kill('SIGTERM');
      await new Promise((resolve) => proc.once('exit', resolve));
    },
  };
}

/** Resident memory of a process, in KiB, from /proc. */
export function rssKiB(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) : NaN;
}
