/*
 * A small line client shared by the hostile benchmark's measuring process and its load-generator
 * children. It only ever connects to 127.0.0.1, from a chosen loopback source address.
 */
import net from 'node:net';

/** Longest unterminated tail kept; server lines are far shorter, so this only bounds memory. */
const MAX_TAIL_CHARS = 64 * 1024;

/** Resolves after `ms` milliseconds (pacing, never synchronisation). */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A connection to the daemon that splits its input into lines and can wait for a given one. */
export class LineClient {
  /** Called for every complete line received (without CR LF), unless `discard` was called. */
  onLine: ((line: string) => void) | undefined;
  /** True once the socket has closed. */
  closed = false;
  /** Resolves when the socket has closed. */
  readonly closedPromise: Promise<void>;
  private tail = '';
  private waiters = new Set<{ test: (line: string) => boolean; resolve: (line: string) => void; reject: (error: Error) => void }>();

  private constructor(readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', this.onData);
    socket.on('error', () => undefined);
    this.closedPromise = new Promise((resolve) =>
      socket.once('close', () => {
        this.closed = true;
        for (const waiter of this.waiters) waiter.reject(new Error('connection closed'));
        this.waiters.clear();
        resolve();
      }),
    );
  }

  /** Connects to 127.0.0.1:`port` from `localAddress`; rejects on error or after `timeoutMs`. */
  static open(port: number, localAddress: string, timeoutMs = 5000): Promise<LineClient> {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress, noDelay: true });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error('connect timeout'));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(new LineClient(socket));
      });
      socket.once('error', (error: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        socket.destroy();
        reject(new Error(`connect ${error.code ?? error.message}`));
      });
    });
  }

  private readonly onData = (chunk: string): void => {
    const text = this.tail + chunk;
    let start = 0;
    for (let end = text.indexOf('\n'); end >= 0; end = text.indexOf('\n', start)) {
      const line = text.slice(start, end > start && text.charCodeAt(end - 1) === 13 ? end - 1 : end);
      start = end + 1;
      this.onLine?.(line);
      if (this.waiters.size > 0) {
        for (const waiter of this.waiters) {
          if (waiter.test(line)) {
            this.waiters.delete(waiter);
            waiter.resolve(line);
          }
        }
      }
    }
    this.tail = text.length - start > MAX_TAIL_CHARS ? '' : text.slice(start);
  };

  /** Resolves with the next line that passes `test`; rejects when the connection closes or after `timeoutMs`. */
  waitFor(test: (line: string) => boolean, timeoutMs: number, what: string): Promise<string> {
    if (this.closed) return Promise.reject(new Error(`connection closed before ${what}`));
    return new Promise((resolve, reject) => {
      const waiter = {
        test,
        resolve: (line: string) => {
          clearTimeout(timer);
          resolve(line);
        },
        reject: (error: Error) => {
          clearTimeout(timer);
          reject(new Error(`${error.message} before ${what}`));
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`no ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  /**
   * Waits for the greeting and registers `nick` (which joins #lobby). Resolves with undefined once the
   * join is confirmed, or with the refusing line (an ERR or BYE, e.g. `ERR CONNECT_RATE …`).
   */
  async register(nick: string, timeoutMs = 5000): Promise<string | undefined> {
    const hello = await this.waitFor(() => true, timeoutMs, 'greeting');
    if (!hello.startsWith('HELLO ')) return hello;
    const joined = this.waitFor((line) => line.startsWith('OK JOIN #lobby ') || line.startsWith('ERR ') || line.startsWith('BYE'), timeoutMs, `registration of ${nick}`);
    this.send(nick);
    const line = await joined;
    return line.startsWith('OK JOIN ') ? undefined : line;
  }

  /** Sends one line with CR LF. */
  send(line: string): void {
    if (!this.closed) this.socket.write(`${line}\r\n`);
  }

  /**
   * Stops splitting lines (for clients that receive a room's whole traffic and do not need it): from now
   * on only the bytes received are counted and ERR and BYE lines are noted, by a native substring search.
   */
  discard(onSpecial: (keyword: 'ERR' | 'BYE', rest: string) => void): void {
    this.socket.off('data', this.onData);
    this.onLine = undefined;
    this.socket.on('data', (chunk: string) => {
      for (const keyword of ['ERR', 'BYE'] as const) {
        const needle = `\n${keyword} `;
        for (let at = chunk.indexOf(needle); at >= 0; at = chunk.indexOf(needle, at + 1)) {
          const end = chunk.indexOf('\r', at + 1);
          onSpecial(keyword, chunk.slice(at + needle.length, end < 0 ? undefined : end));
        }
      }
    });
  }

  /** Closes the connection at once. */
  destroy(): void {
    this.socket.destroy();
  }
}
