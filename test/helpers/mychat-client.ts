import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pollUntil, TERMINAL_TIMEOUT_MS, TmuxTerminal } from './terminal';

/*
 * Helpers for end-to-end tests of the `mychat` client: running the compiled client with pipes or in a
 * tmux terminal, a free port for a daemon that must come back on the same port, temporary data
 * directories, and a proxy that can cut connections to simulate a network failure.
 */

/** Path of the compiled client entry point (npm test builds before running ava). */
export const CLIENT_JS = path.join(__dirname, '..', '..', 'dist', 'lib', 'client', 'mychat.js');

/** The environment for a test client: ours without MYCHAT_* settings that would change what it does. */
export function clientEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('MYCHAT_') && key !== 'NO_COLOR' && key !== 'NODE_OPTIONS') env[key] = value;
  }
  return { ...env, ...extra };
}

/** A port that was free a moment ago: listen on port 0 on 127.0.0.1, note the port, close. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const tempDirs: string[] = [];

/** A fresh temporary directory (for a daemon's --data-dir); removed by `removeTempDirs`. */
export function tempDir(prefix = 'mychat-client-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

/** Removes every directory made by `tempDir`. */
export function removeTempDirs(): void {
  for (const dir of tempDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}

/** A client process run with pipes (pipe mode), its output recorded. */
export interface PipedClient {
  proc: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
  /** Waits until stdout has a complete line matching `matcher`. */
  waitForLine(matcher: string | RegExp, timeoutMs?: number): Promise<string>;
}

/**
 * Runs `command` with /bin/sh, so a test can show a real shell pipeline such as `echo hello | mychat …`;
 * the word `mychat` at the start of a pipeline stage runs the compiled client.
 */
export function runShell(command: string, env: NodeJS.ProcessEnv = {}, stdin: 'pipe' | 'ignore' = 'ignore'): PipedClient {
  const client = `${shellQuote(process.execPath)} ${shellQuote(CLIENT_JS)}`;
  const script = command.replace(/(^|\|\s*)mychat(?=\s|$)/g, (_, before: string) => before + client);
  const proc = spawn('/bin/sh', ['-c', script], { env: clientEnv(env), stdio: [stdin, 'pipe', 'pipe'] });
  return record(proc);
}

/** Runs the compiled client directly with `args`. */
export function runClient(args: string[], env: NodeJS.ProcessEnv = {}, stdin: 'pipe' | 'ignore' = 'pipe'): PipedClient {
  const proc = spawn(process.execPath, [CLIENT_JS, ...args], { env: clientEnv(env), stdio: [stdin, 'pipe', 'pipe'] });
  return record(proc);
}

const running = new Set<ChildProcess>();

function record(proc: ChildProcess): PipedClient {
  let out = '';
  let err = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  proc.stdin?.on('error', () => undefined);
  const exited = new Promise<number | string>((resolve) => proc.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  running.add(proc);
  void exited.then(() => running.delete(proc));
  return {
    proc,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitForLine: (matcher, timeoutMs = TERMINAL_TIMEOUT_MS) =>
      pollUntil(
        () => out.split('\n').slice(0, -1).find((line) => (typeof matcher === 'string' ? line === matcher : matcher.test(line))),
        () => `client never printed a line matching ${String(matcher)}; stdout: ${JSON.stringify(out)} stderr: ${JSON.stringify(err)}`,
        timeoutMs,
      ),
  };
}

/** Kills every client process still running (for test.after.always). */
export function killClients(): void {
  for (const proc of running) proc.kill('SIGKILL');
}

/** Resolves with `promise`, or rejects after `ms` with a message that says what was awaited. */
export function within<V>(promise: Promise<V>, ms: number, what: () => string): Promise<V> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<V>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what()}`)), ms);
    }),
  ]);
}

/** Quotes one word for /bin/sh. */
export function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The line the shell prints in a tmux pane when the client exits, so a test can read its exit status. */
export const EXIT_MARK = /^\[mychat exited with status (\d+)\]$/;

/**
 * Starts the compiled client in a tmux terminal (a real tty, so it runs interactively) with `args`;
 * when it exits the pane shows "[mychat exited with status N]".
 */
export async function startInteractive(args: string[], env: Record<string, string> = {}, size = { width: 160, height: 40 }): Promise<TmuxTerminal> {
  const assignments = Object.entries(env).map(([key, value]) => `${key}=${shellQuote(value)}`);
  const command = [
    'unset MYCHAT_HOST MYCHAT_PORT MYCHAT_NICK NO_COLOR;',
    ...(assignments.length > 0 ? ['env', ...assignments] : []),
    shellQuote(process.execPath),
    shellQuote(CLIENT_JS),
    ...args.map(shellQuote),
    '; echo "[mychat exited with status $?]"',
  ].join(' ');
  return TmuxTerminal.start(command, size.width, size.height);
}

/** The last non-empty screen row: where the prompt and the line being typed are. */
export async function lastRow(term: TmuxTerminal): Promise<string> {
  const rows = await term.screen();
  return rows[rows.length - 1] ?? '';
}

/**
 * A TCP relay to a local port that a test can cut (every connection dropped, nothing accepted) and then
 * restore on the same port: a network failure without stopping the daemon.
 */
export class CuttableProxy {
  private server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    readonly port: number,
    private readonly targetPort: number,
  ) {
    this.server = this.makeServer();
  }

  /** Starts relaying a free local port to 127.0.0.1:targetPort. */
  static async start(targetPort: number): Promise<CuttableProxy> {
    const proxy = new CuttableProxy(await freePort(), targetPort);
    await proxy.listen();
    return proxy;
  }

  private makeServer(): net.Server {
    return net.createServer((client) => {
      const upstream = net.connect({ port: this.targetPort, host: '127.0.0.1' });
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
        socket.on('close', () => {
          this.sockets.delete(socket);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
  }

  private listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, '127.0.0.1', () => resolve());
    });
  }

  /** Drops every relayed connection and stops accepting new ones. */
  async cut(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  /** Accepts connections again, on the same port. */
  async restore(): Promise<void> {
    this.server = this.makeServer();
    await this.listen();
  }

  /** Stops for good. */
  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
