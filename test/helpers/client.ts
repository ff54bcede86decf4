import net from 'node:net';

/** Matches a line by exact text, regular expression or predicate. */
export type LineMatcher = string | RegExp | ((line: string) => boolean);

function matches(line: string, matcher: LineMatcher): boolean {
  if (typeof matcher === 'string') return line === matcher;
  if (matcher instanceof RegExp) return matcher.test(line);
  return matcher(line);
}

/** Raw bytes a TestClient keeps; bulk tests receive far more, and copying it all would make the client slow. */
const RAW_CAPTURE_BYTES = 256 * 1024;

/** Default time a test waits for an expected line. */
export const LINE_TIMEOUT_MS = 4000;

/**
 * A raw TCP test client. It records every CRLF-terminated server line; `waitForLine` searches forward from
 * a cursor, so successive waits also check the order in which lines arrived.
 */
export class TestClient {
  readonly lines: string[] = [];
  /** The first raw bytes received (up to RAW_CAPTURE_BYTES), for tests about exact framing. */
  raw = Buffer.alloc(0);
  private cursor = 0;
  private partial = '';
  private waiters: Array<() => void> = [];
  closed = false;
  readonly closedPromise: Promise<void>;

  constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      if (this.raw.length < RAW_CAPTURE_BYTES) this.raw = Buffer.concat([this.raw, chunk]);
      this.partial += chunk.toString('utf8');
      let at: number;
      while ((at = this.partial.indexOf('\r\n')) >= 0) {
        this.lines.push(this.partial.slice(0, at));
        this.partial = this.partial.slice(at + 2);
      }
      this.wake();
    });
    socket.on('error', () => undefined);
    this.closedPromise = new Promise((resolve) =>
      socket.on('close', () => {
        this.closed = true;
        this.wake();
        resolve();
      }),
    );
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Sends one line with CRLF. */
  send(line: string): void {
    this.socket.write(line + '\r\n');
  }

  /** Sends raw bytes exactly as given. */
  sendRaw(bytes: Buffer | string): void {
    this.socket.write(bytes);
  }

  /** Waits for the next line (after the cursor) that matches, moves the cursor past it, and returns it. */
  waitForLine(matcher: LineMatcher, timeoutMs = LINE_TIMEOUT_MS): Promise<string> {
    return new Promise((resolve, reject) => {
      const deadline = setTimeout(() => {
        reject(new Error(`timed out waiting for ${String(matcher)}; lines after cursor: ${JSON.stringify(this.lines.slice(this.cursor))}`));
      }, timeoutMs);
      const check = (): void => {
        for (let i = this.cursor; i < this.lines.length; i++) {
          if (matches(this.lines[i]!, matcher)) {
            this.cursor = i + 1;
            clearTimeout(deadline);
            resolve(this.lines[i]!);
            return;
          }
        }
        if (this.closed) {
          clearTimeout(deadline);
          reject(new Error(`connection closed while waiting for ${String(matcher)}; lines: ${JSON.stringify(this.lines.slice(this.cursor))}`));
          return;
        }
        this.waiters.push(check);
      };
      check();
    });
  }

  /** Sends a /ping with a unique token and waits for its PONG: everything sent before has been handled. */
  async sync(): Promise<void> {
    const token = `sync${Math.random().toString(36).slice(2)}`;
    this.send(`/ping ${token}`);
    // Telnet refusals are raw bytes without a line end, so they may prefix the next line.
    await this.waitForLine((line) => line.endsWith(`PONG ${token}`));
  }

  /** Lines received after the cursor that match (without moving the cursor). */
  pending(matcher: LineMatcher = () => true): string[] {
    return this.lines.slice(this.cursor).filter((line) => matches(line, matcher));
  }

  /** All lines ever received that match. */
  all(matcher: LineMatcher): string[] {
    return this.lines.filter((line) => matches(line, matcher));
  }

  /** Resolves when the server has closed the connection. */
  waitClosed(timeoutMs = LINE_TIMEOUT_MS): Promise<void> {
    return Promise.race([
      this.closedPromise,
      new Promise<void>((_, reject) => setTimeout(() => reject(new Error('connection not closed in time')), timeoutMs)),
    ]);
  }

  /** Closes our side politely (EOF). */
  end(): void {
    this.socket.end();
  }

  /** Closes abruptly with a TCP reset. */
  reset(): void {
    this.socket.resetAndDestroy();
  }
}

/** Opens a TCP connection to 127.0.0.1:port and waits for the HELLO greeting. */
export async function connect(port: number, host = '127.0.0.1'): Promise<TestClient> {
  const client = await open(port, host);
  await client.waitForLine(/^HELLO /);
  return client;
}

/**
 * Opens a TCP connection to 127.0.0.1:port from another loopback address (all of 127/8 is local on Linux),
 * so a test can act as several hosts; it does not wait for any line.
 */
export function openFrom(port: number, localAddress: string): Promise<TestClient> {
  return open(port, '127.0.0.1', localAddress);
}

/** Connects from `localAddress` and registers `nick`, waiting until the automatic join of #lobby completed. */
export async function registerFrom(port: number, localAddress: string, nick: string): Promise<TestClient> {
  const client = await openFrom(port, localAddress);
  await client.waitForLine(/^HELLO /);
  client.send(nick);
  await client.waitForLine(`OK JOIN #lobby Now talking in #lobby.`);
  return client;
}

async function open(port: number, host: string, localAddress?: string): Promise<TestClient> {
  const socket = net.connect({ port, host, ...(localAddress === undefined ? {} : { localAddress }) });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return new TestClient(socket);
}

/** Connects and registers `nick`, waiting until the automatic join of #lobby completed. */
export async function register(port: number, nick: string): Promise<TestClient> {
  const client = await connect(port);
  client.send(nick);
  await client.waitForLine(`OK JOIN #lobby Now talking in #lobby.`);
  return client;
}

/** Resolves after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
