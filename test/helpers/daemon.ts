import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
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
  /**
   * Waits until stderr, from character offset `from` on, has a line matching `pattern`; resolves with the
   * match and the offset just past that line, to wait for what comes after it.
   */
  waitForLog(pattern: RegExp, from?: number, timeoutMs?: number): Promise<{ line: string; match: RegExpExecArray; next: number }>;
}

/** Default time to wait for a log line. */
const LOG_TIMEOUT_MS = 5000;

/** Variables systemd may have given the test runner, which would make a test daemon act as a service. */
const SYSTEMD_VARIABLES = ['JOURNAL_STREAM', 'NOTIFY_SOCKET', 'LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES', 'CONFIGURATION_DIRECTORY', 'STATE_DIRECTORY'];

/**
 * The environment for a test daemon: ours, minus anything that would change its logging or options, and
 * with no configuration file (MYCHATD_CONFIG empty) so a mychatd installed on the machine cannot interfere.
 * `extra` wins; a key set to undefined there removes it.
 */
export function daemonEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('MYCHATD_') && !SYSTEMD_VARIABLES.includes(key) && key !== 'NODE_OPTIONS') env[key] = value;
  }
  // A fresh data directory, so no test daemon writes into ./data or shares history with another.
  return { ...env, MYCHATD_CONFIG: '', MYCHATD_DATA_DIR: scratchDir(), ...extra };
}

const scratchDirs: string[] = [];
process.on('exit', () => {
  for (const dir of scratchDirs) rmSync(dir, { recursive: true, force: true });
});

/** A temporary directory removed when the test process exits. */
export function scratchDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mychatd-test-'));
  scratchDirs.push(dir);
  return dir;
}

/**
 * Options every test daemon gets unless the test sets them again (the last value wins): flood control,
 * the byte budgets and the connection rate are off, because tests send bursts from one address on
 * purpose; the tests of those limits turn them back on.
 */
export const TEST_LIMITS = ['--flood-rate', '0', '--input-rate', '0', '--input-address-rate', '0', '--connect-rate', '0'];

/** Extra ways to start a test daemon. */
export interface StartOptions {
  /** The entry point to run instead of the build in dist/ (e.g. an installed copy). */
  script?: string;
}

/**
 * Starts the compiled daemon on port 0 and resolves once it logged the port it listens on. Flood control
 * is off unless the caller's args set it, so tests can send bursts.
 */
export function startDaemon(args: string[] = [], env: NodeJS.ProcessEnv = {}, options: StartOptions = {}): Promise<Daemon> {
  // Each daemon gets its own empty data directory unless the test chose one (to test persistence).
  const ownDataDir = args.includes('--data-dir') || env.MYCHATD_DATA_DIR !== undefined ? undefined : scratchDir();
  const dataArgs = ownDataDir === undefined ? [] : ['--data-dir', ownDataDir];
  const proc = spawn(process.execPath, [options.script ?? DAEMON_JS, '--host', '127.0.0.1', '--port', '0', ...TEST_LIMITS, ...dataArgs, ...args], {
    env: daemonEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  let out = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<number | string>((resolve) =>
    proc.on('exit', (code, signal) => {
      resolve(code ?? signal ?? -1);
    }),
  );
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
          waitForLog: (pattern, from = 0, timeoutMs = LOG_TIMEOUT_MS) => waitForText(() => err, pattern, from, timeoutMs),
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

/**
 * Polls `text()` until a line from offset `from` on matches `pattern` (bounded by `timeoutMs`); resolves with
 * the line, the match and the offset after the line.
 */
export async function waitForText(
  text: () => string,
  pattern: RegExp,
  from = 0,
  timeoutMs = LOG_TIMEOUT_MS,
): Promise<{ line: string; match: RegExpExecArray; next: number }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const all = text();
    let start = from;
    for (let end = all.indexOf('\n', start); end >= 0; start = end + 1, end = all.indexOf('\n', start)) {
      const line = all.slice(start, end);
      const match = pattern.exec(line);
      if (match) return { line, match, next: end + 1 };
    }
    if (Date.now() >= deadline) throw new Error(`timed out waiting for ${String(pattern)} in: ${all.slice(from)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
