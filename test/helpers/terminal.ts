import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/*
 * Helpers for driving real interactive clients (nc, telnet) in end-to-end tests: locating the binaries,
 * bounded polling, a tmux-hosted terminal to type into and read the screen of, and a byte-recording TCP
 * pass-through so a test can show exactly which telnet commands went each way.
 */

/** Default time a test waits for something a real client or terminal should show. */
export const TERMINAL_TIMEOUT_MS = 10_000;

/** Interval between two polls of a screen or an output buffer. */
const POLL_MS = 25;

/** Longest a single tmux command may run before it is killed. */
const TMUX_COMMAND_TIMEOUT_MS = 5000;

/** Absolute path of `name` on $PATH, or undefined when it is not installed. */
export function findBinary(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not here; keep looking
    }
  }
  return undefined;
}

/**
 * Throws (failing the test, never skipping it) unless every binary is installed. These tests exist to
 * prove that real clients work, so a missing client is an environment error, in CI and locally alike.
 */
export function requireBinaries(...names: string[]): void {
  const missing = names.filter((name) => findBinary(name) === undefined);
  if (missing.length > 0) {
    throw new Error(
      `real-client test needs ${missing.join(', ')} on PATH (${process.env.CI ? 'CI' : 'local run'}); ` +
        'install netcat-openbsd, telnet (inetutils-telnet) and tmux. These tests fail rather than skip.',
    );
  }
}

/**
 * Polls `probe` until it returns a value other than undefined, or rejects after `timeoutMs` with
 * `describe()` in the message (called then, so it can show the latest state).
 */
export async function pollUntil<T>(
  probe: () => T | undefined | Promise<T | undefined>,
  describe: () => string,
  timeoutMs = TERMINAL_TIMEOUT_MS,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms: ${describe()}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { env, timeout: TMUX_COMMAND_TIMEOUT_MS, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${file} ${args.join(' ')} failed: ${error.message} ${stderr}`));
      else resolve(stdout);
    });
  });
}

/**
 * A program running in a detached tmux session on a private tmux server (`tmux -L <unique name>`), so it
 * has a real terminal (line discipline, echo, signals) while the test types keys and reads the screen.
 * The pane stays readable after the program exits (remain-on-exit). Always call `kill()`.
 */
export class TmuxTerminal {
  private killed = false;

  private constructor(
    readonly socketName: string,
    private readonly env: NodeJS.ProcessEnv,
    private readonly tmpDir: string,
  ) {}

  /** Starts `command` (run by /bin/sh) in a width x height terminal. */
  static async start(command: string, width = 200, height = 50): Promise<TmuxTerminal> {
    const socketName = `mychat-test-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
    // A private TMUX_TMPDIR holds the server socket, so nothing is left behind in /tmp/tmux-UID.
    const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mychat-tmux-'));
    const env: NodeJS.ProcessEnv = { ...process.env, TMUX_TMPDIR: tmpDir, LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8', TERM: 'xterm-256color' };
    delete env.TMUX; // we may run inside someone's tmux; ours is a separate server anyway
    delete env.TMUX_PANE;
    const term = new TmuxTerminal(socketName, env, tmpDir);
    // -f /dev/null: ignore the user's ~/.tmux.conf. History big enough that nothing scrolls away.
    try {
      await term.tmux(
        'new-session', '-d', '-s', 'main', '-x', String(width), '-y', String(height), command,
        ';', 'set-option', '-g', 'remain-on-exit', 'on',
        ';', 'set-option', '-g', 'history-limit', '5000',
      );
    } catch (error) {
      await term.kill();
      throw error;
    }
    return term;
  }

  private tmux(...args: string[]): Promise<string> {
    return run('tmux', ['-L', this.socketName, '-f', '/dev/null', ...args], this.env);
  }

  /** Types `text` literally (no key-name interpretation). */
  async type(text: string): Promise<void> {
    await this.tmux('send-keys', '-t', 'main', '-l', '--', text);
  }

  /** Presses named keys, e.g. 'Enter' or 'C-c'. */
  async press(...keys: string[]): Promise<void> {
    await this.tmux('send-keys', '-t', 'main', ...keys);
  }

  /**
   * Pastes `text` as a terminal does: through a tmux buffer, with its line feeds sent as CR, and inside
   * bracketed paste markers when the program turned bracketed paste mode on.
   */
  async paste(text: string): Promise<void> {
    await this.tmux('set-buffer', '-b', 'test-paste', '--', text);
    await this.tmux('paste-buffer', '-p', '-d', '-b', 'test-paste', '-t', 'main');
  }

  /** Types a line and presses Enter. */
  async typeLine(text: string): Promise<void> {
    await this.type(text);
    await this.press('Enter');
  }

  /** The whole screen plus scrollback, wrapped lines joined, trailing blanks trimmed, one entry per row. */
  async screen(): Promise<string[]> {
    const text = await this.tmux('capture-pane', '-p', '-J', '-S', '-', '-t', 'main');
    const rows = text.split('\n').map((row) => row.trimEnd());
    while (rows.length > 0 && rows[rows.length - 1] === '') rows.pop();
    return rows;
  }

  /** Waits until some screen row satisfies `matcher` (exact text or regexp) and returns that row. */
  async waitForRow(matcher: string | RegExp, timeoutMs = TERMINAL_TIMEOUT_MS): Promise<string> {
    let last: string[] = [];
    return pollUntil(
      async () => {
        last = await this.screen();
        return last.find((row) => (typeof matcher === 'string' ? row === matcher : matcher.test(row)));
      },
      () => `no screen row matching ${String(matcher)}; screen:\n${last.join('\n')}`,
      timeoutMs,
    );
  }

  /**
   * The cursor's column once it is `x`, or what it still is after `timeoutMs`: the client draws a row and
   * then moves the cursor in separate writes, so a single look can fall between the two.
   */
  async cursorSettlesAt(x: number, timeoutMs = TERMINAL_TIMEOUT_MS): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    let seen = (await this.cursor()).x;
    while (seen !== x && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      seen = (await this.cursor()).x;
    }
    return seen;
  }

  /** The cursor's column and row on the visible screen (0-based), as the terminal has it. */
  async cursor(): Promise<{ x: number; y: number }> {
    const [x = '', y = ''] = (await this.tmux('display-message', '-p', '-t', 'main', '#{cursor_x} #{cursor_y}')).trim().split(' ');
    return { x: Number(x), y: Number(y) };
  }

  /** The visible screen only (no scrollback), one entry per row, trailing blanks trimmed. */
  async visible(): Promise<string[]> {
    const text = await this.tmux('capture-pane', '-p', '-t', 'main');
    const rows = text.split('\n').map((row) => row.trimEnd());
    while (rows.length > 0 && rows[rows.length - 1] === '') rows.pop();
    return rows;
  }

  /** True once the program in the pane has exited (the pane is kept, dead, for reading). */
  async paneDead(): Promise<boolean> {
    return (await this.tmux('display-message', '-p', '-t', 'main', '#{pane_dead}')).trim() === '1';
  }

  /** Stops the private tmux server and everything running in it. Safe to call more than once. */
  async kill(): Promise<void> {
    if (this.killed) return;
    this.killed = true;
    await this.tmux('kill-server').catch(() => undefined);
    fs.rmSync(this.tmpDir, { recursive: true, force: true });
  }
}

/** Bytes seen on one proxied connection, in each direction. */
export interface Tap {
  /** What the client sent towards the daemon. */
  up(): Buffer;
  /** What the daemon sent back to the client. */
  down(): Buffer;
}

/**
 * A transparent TCP pass-through on 127.0.0.1 that forwards to `targetPort` unchanged and records every
 * byte in both directions, so a test can check the telnet negotiation a real client performed.
 */
export class RecordingProxy {
  readonly taps: Tap[] = [];
  private readonly sockets = new Set<net.Socket>();

  private readonly server: net.Server;

  private constructor(targetPort: number) {
    this.server = net.createServer({ allowHalfOpen: true, noDelay: true }, (client) => this.relay(client, targetPort));
  }

  /** The port the proxy listens on (127.0.0.1). */
  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  static async start(targetPort: number): Promise<RecordingProxy> {
    const proxy = new RecordingProxy(targetPort);
    await new Promise<void>((resolve, reject) => {
      proxy.server.once('error', reject);
      proxy.server.listen(0, '127.0.0.1', () => resolve());
    });
    return proxy;
  }

  private relay(client: net.Socket, targetPort: number): void {
    const upstream = net.connect({ port: targetPort, host: '127.0.0.1', allowHalfOpen: true, noDelay: true });
    const up: Buffer[] = [];
    const down: Buffer[] = [];
    this.taps.push({ up: () => Buffer.concat(up), down: () => Buffer.concat(down) });
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
      socket.on('close', () => this.sockets.delete(socket));
    }
    client.on('data', (chunk: Buffer) => {
      up.push(chunk);
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      down.push(chunk);
      client.write(chunk);
    });
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
  }

  /** The recording of the only (or first) connection; waits for it to exist. */
  async tap(timeoutMs = TERMINAL_TIMEOUT_MS): Promise<Tap> {
    return pollUntil(() => this.taps[0], () => 'nobody connected through the recording proxy', timeoutMs);
  }

  /** Stops listening and destroys every proxied connection. */
  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Hex dump "ff f4 ff fd 06" of some bytes, for failure messages and logs. */
export function hex(bytes: Buffer): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(' ');
}
