import net from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import tls from 'node:tls';
import type { ClientTls } from './options';
import { internalToken } from './registration';

/** How long connecting (TCP handshake) may take before the server counts as unreachable. */
export const CONNECT_TIMEOUT_MS = 10_000;

/**
 * Longest server line kept. Real server lines are far shorter (the longest is a NAMES line of 40
 * nicknames); anything beyond this is a broken or hostile peer, and its tail is dropped rather than
 * buffered without bound.
 */
export const MAX_SERVER_LINE = 64 * 1024;

/** Why connecting failed, worded for the person who typed the address. */
export class ConnectError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'ConnectError';
  }
}

/** A short human explanation of a socket error code. */
export function describeSocketError(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'ECONNREFUSED':
      return 'connection refused (is mychatd running there?)';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
      return 'unknown host';
    case 'ETIMEDOUT':
      return 'timed out';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EADDRNOTAVAIL':
      return 'host unreachable';
    case 'ECONNRESET':
      return 'connection reset';
    case 'EPIPE':
      return 'connection broken';
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
      return `the server's certificate is not signed by a CA this client trusts (${error.message}); give its CA with --ca FILE`;
    case 'CERT_HAS_EXPIRED':
      return "the server's certificate has expired";
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return `the server's certificate is not for this host name (${error.message})`;
    default:
      return error.message;
  }
}

/** Where a ServerLink delivers what happens on it. */
export interface LinkHandlers {
  /** One server line, without its line ending, in arrival order. */
  line(line: string): void;
  /** The connection is gone; called once, after every line received was delivered. */
  close(reason: string): void;
}

/**
 * One TCP connection to a mychat server, split into lines. Lines are delivered synchronously from the
 * socket's data events, so the close callback always comes after the last line (a BYE included).
 */
export class ServerLink {
  private partial = '';
  private overflow = false;
  private readonly decoder = new StringDecoder('utf8');
  private closeReason = 'the server closed the connection';
  private ended = false;
  private keepalive: { idleMs: number; timeoutMs: number; timer?: NodeJS.Timeout; asked?: boolean } | undefined;

  private constructor(
    private readonly socket: net.Socket,
    private readonly handlers: LinkHandlers,
  ) {
    socket.setNoDelay(true);
    // Lets the kernel notice a dead peer even when neither side has anything to say.
    socket.setKeepAlive(true, 30_000);
    socket.on('data', (chunk: Buffer) => this.onData(this.decoder.write(chunk)));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      this.closeReason = describeSocketError(error);
    });
    socket.on('close', () => {
      clearTimeout(this.keepalive?.timer);
      this.keepalive = undefined;
      this.onData(this.decoder.end());
      if (this.partial.length > 0) this.deliver(this.partial);
      this.partial = '';
      this.ended = true;
      this.handlers.close(this.closeReason);
    });
  }

  /**
   * Connects to host:port, with TLS when `secure` is given (resolving once the server's certificate was
   * verified); rejects with a ConnectError that says why in plain words.
   */
  static open(host: string, port: number, handlers: LinkHandlers, timeoutMs = CONNECT_TIMEOUT_MS, secure?: ClientTls): Promise<ServerLink> {
    return new Promise((resolve, reject) => {
      // SNI takes host names only; an IP address is still checked against the certificate's IP entries.
      const socket: net.Socket = secure
        ? tls.connect({ host, port, ca: secure.ca, rejectUnauthorized: !secure.insecure, servername: net.isIP(host) === 0 ? host : undefined, minVersion: 'TLSv1.2' })
        : net.connect({ host, port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new ConnectError('timed out', 'ETIMEDOUT'));
      }, timeoutMs);
      const failed = (error: NodeJS.ErrnoException): void => {
        clearTimeout(timer);
        reject(new ConnectError(describeSocketError(error), error.code ?? 'ERROR'));
      };
      socket.once('error', failed);
      socket.once(secure ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        socket.off('error', failed);
        resolve(new ServerLink(socket, handlers));
      });
    });
  }

  /** True once the connection is closed. */
  get closed(): boolean {
    return this.ended;
  }

  /** Sends one line (a CRLF is added); returns false when the socket buffer is full (wait for drained()). */
  send(line: string): boolean {
    if (this.ended || this.socket.destroyed || this.socket.writableEnded) return true;
    return this.socket.write(line + '\r\n');
  }

  /** Resolves when the socket can take more data, or is closed. */
  drained(): Promise<void> {
    if (this.ended || !this.socket.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        resolve();
      };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
  }

  /**
   * Checks that the server is still there: after `idleMs` without a line from it, sends a /ping (with an
   * internal token, so its PONG is not shown), and if nothing at all arrives within `timeoutMs` more,
   * closes the connection as lost. TCP alone can take many minutes to notice a peer that vanished.
   */
  startKeepalive(idleMs: number, timeoutMs: number): void {
    this.keepalive = { idleMs, timeoutMs };
    this.armKeepalive();
  }

  private armKeepalive(): void {
    const keepalive = this.keepalive;
    if (keepalive === undefined) return;
    clearTimeout(keepalive.timer);
    keepalive.asked = false;
    keepalive.timer = setTimeout(() => {
      this.send(`/ping ${internalToken('alive')}`);
      keepalive.asked = true;
      keepalive.timer = setTimeout(() => this.destroy(`no answer from the server for ${Math.round((keepalive.idleMs + keepalive.timeoutMs) / 1000)} s`), keepalive.timeoutMs);
      keepalive.timer.unref();
    }, keepalive.idleMs);
    keepalive.timer.unref();
  }

  /**
   * Restarts the wait before the next keep-alive /ping, unless one is already waiting for its answer:
   * for a caller about to start a /paste block, inside which a /ping would be taken as text.
   */
  postponeKeepalive(): void {
    if (this.keepalive !== undefined && this.keepalive.asked !== true) this.armKeepalive();
  }

  /** Closes the connection now, with `reason` as the reason given to the close handler. */
  destroy(reason?: string): void {
    if (reason !== undefined) this.closeReason = reason;
    this.socket.destroy();
  }

  private onData(text: string): void {
    if (text.length === 0) return;
    let start = 0;
    let at: number;
    while ((at = text.indexOf('\n', start)) >= 0) {
      const piece = text.slice(start, at);
      start = at + 1;
      if (this.overflow) {
        this.overflow = false;
        continue;
      }
      this.deliver(this.partial + piece);
      this.partial = '';
    }
    if (!this.overflow) this.partial += text.slice(start);
    if (this.partial.length > MAX_SERVER_LINE) {
      this.partial = '';
      this.overflow = true;
    }
  }

  private deliver(line: string): void {
    this.armKeepalive();
    this.handlers.line(line.endsWith('\r') ? line.slice(0, -1) : line);
  }
}
