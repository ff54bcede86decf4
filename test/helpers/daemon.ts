import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

/** Path of the compiled daemon entry point (npm test builds before running ava). */
export const DAEMON_JS = path.join(__dirname, '..', '..', 'dist', 'daemon', 'mychatd.js');

/** A real mychatd process listening on an ephemeral port on 127.0.0.1. */
export interface Daemon {
  port: number;
  proc: ChildProcess;
  /** Everything the daemon wrote to stderr so far. */
  stderr(): string;
  /** Everything the daemon wrote to stdout so far (should stay empty). */
  stdout(): string;
  /** Sends a signal and resolves with the exit code (or signal name). */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
  /** Resolves with the exit code (or signal name) when the process ends. */
  exited: Promise<number | string>;
}

/** The environment for a test daemon: ours, minus anything that would change its logging or options. */
function daemonEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('MYCHATD_') && key !== 'JOURNAL_STREAM' && key !== 'NODE_OPTIONS') env[key] = value;
  }
  return { ...env, ...extra };
}

/**
 * Starts the compiled daemon on port 0 and resolves once it logged the port it listens on. Flood control
 * is off unless the caller's args set it, so tests can send bursts.
 */
export function startDaemon(args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<Daemon> {
  const proc = spawn(process.execPath, [DAEMON_JS, '--host', '127.0.0.1', '--port', '0', '--flood-rate', '0', ...args], {
    env: daemonEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  let out = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<number | string>((resolve) => proc.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`daemon did not start: ${err}`));
    }, 10_000);
    proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
      err += d;
      const match = /listening .*port=(\d+)/.exec(err);
      if (match) {
        clearTimeout(timer);
        resolve({
          port: Number(match[1]),
          proc,
          stderr: () => err,
          stdout: () => out,
          exited,
          stop: (signal = 'SIGTERM') => {
            if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
            return exited;
          },
        });
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`daemon exited (${code}) before listening: ${err}`));
    });
  });
}
