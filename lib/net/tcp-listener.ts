import net from 'node:net';
import type { ChatCore } from '../core/chat-core';
import { QUIT_REASONS } from '../core/chat-core';
import type { Session } from '../core/session';
import { encodeLine } from '../protocol/server-lines';
import { createLineDecoder, type InputLine } from '../protocol/line-decoder';
import type { Logger } from '../log';
import { FlushScheduler, SocketSink } from './socket-sink';
import { looksLikeHttpRequest, looksLikeTlsHandshake } from './sniff';
import { TokenBucket } from './token-bucket';

/** Settings of the TCP adapter. */
export interface ListenerOptions {
  /** A client whose unsent output would pass this many bytes is disconnected. */
  maxSendQueueBytes: number;
  /** Flood control: lines a client may send in a burst. */
  floodBurst: number;
  /** Flood control: sustained lines per second; 0 turns flood control off. */
  floodRate: number;
  log: Logger;
}

/** Default send-queue cap: 1 MiB. */
export const DEFAULT_SEND_QUEUE_BYTES = 1024 * 1024;

/** How long TCP may stay silent before the kernel starts probing whether the peer is still there. */
const KEEPALIVE_MS = 60_000;

/** Maps a socket error to the quit reason others see. */
function reasonFor(error: NodeJS.ErrnoException | undefined): string {
  if (error?.code === 'ETIMEDOUT') return QUIT_REASONS.timedOut;
  return QUIT_REASONS.lost;
}

/**
 * The TCP adapter: turns each accepted socket into a chat-core session (framing in, coalesced writes out)
 * and keeps track of open sockets so shutdown can wait for them.
 */
export class ChatListener {
  readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  /** Batches output per event-loop turn; its beforeFlush hook lets the daemon commit history first. */
  readonly scheduler = new FlushScheduler();

  constructor(
    private readonly core: ChatCore,
    private readonly options: ListenerOptions,
  ) {
    // Half-open: after a client's EOF we still finish reading its last lines and say goodbye.
    this.server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.accept(socket));
    this.server.on('error', (error) => this.options.log.log('error', 'listener-error', { error: error.message }));
  }

  /** Changes limits on a running listener (config reload); connections accepted from now on get them, open ones keep theirs. */
  reconfigure(changes: Partial<Omit<ListenerOptions, 'log'>>): void {
    Object.assign(this.options, changes);
  }

  /** Number of open client sockets. */
  get connectionCount(): number {
    return this.sockets.size;
  }

  /** Serves one accepted socket (also used for sockets handed over by socket activation). */
  accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.setKeepAlive(true, KEEPALIVE_MS);
    // IPv4 peers on a dual-stack socket show as ::ffff:a.b.c.d; log them as plain IPv4.
    const address = (socket.remoteAddress ?? 'unknown').replace(/^::ffff:(?=\d)/, '');
    const sink = new SocketSink(socket, this.options.maxSendQueueBytes, this.scheduler);
    let lastError: NodeJS.ErrnoException | undefined;
    socket.on('error', (error: NodeJS.ErrnoException) => {
      lastError = error;
      this.options.log.log('debug', 'socket-error', { addr: address, error: error.code ?? error.message });
    });
    const session = this.core.connect(sink, address);
    if (session === undefined) {
      socket.on('close', () => this.sockets.delete(socket));
      return;
    }
    socket.on('close', () => {
      this.sockets.delete(socket);
      this.core.disconnect(session, sink.dropReason ?? reasonFor(lastError));
    });

    const decoder = createLineDecoder((bytes) => sink.send(bytes));
    let first = true;
    socket.on('data', (chunk: Buffer) => {
      if (first) {
        first = false;
        if (looksLikeTlsHandshake(chunk)) {
          this.options.log.log('info', 'wrong-protocol', { id: session.id, addr: address, protocol: 'tls' });
          this.core.disconnect(session, 'TLS on plain port');
          sink.drop('TLS on plain port');
          return;
        }
      }
      if (!decoder.input.write(chunk)) {
        socket.pause();
        decoder.input.once('drain', () => socket.resume());
      }
    });
    socket.on('end', () => decoder.input.end());

    const bucket = this.options.floodRate > 0 ? new TokenBucket(this.options.floodBurst, this.options.floodRate, Date.now()) : undefined;
    let lines = 0;
    decoder.output.on('data', (line: InputLine) => {
      if (session.state === 'closing') return;
      if (lines++ === 0 && line.ok && looksLikeHttpRequest(line.text)) {
        this.refuseHttp(session, sink, address);
        return;
      }
      this.handle(session, line);
      const wait = bucket?.take(Date.now()) ?? 0;
      if (wait > 0) {
        decoder.output.pause();
        setTimeout(() => decoder.output.resume(), wait).unref();
      }
    });
    decoder.output.on('end', () => {
      // The client sent EOF and every line before it has been handled.
      this.core.disconnect(session, QUIT_REASONS.closed);
      sink.close('eof');
    });
  }

  /** Stops accepting new connections. */
  stopAccepting(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** Resolves once every client socket has closed, destroying stragglers after `timeoutMs`. */
  async drain(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.sockets.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const socket of this.sockets) socket.destroy();
  }

  private handle(session: Session, line: InputLine): void {
    try {
      this.core.handleInput(session, line);
    } catch (error) {
      // A bug triggered by one client's input costs that client its connection, never the daemon.
      this.options.log.log('error', 'handler-fault', { id: session.id, error: error instanceof Error ? error.stack ?? error.message : String(error) });
      try {
        this.core.end(session, QUIT_REASONS.internal, 'Internal error; sorry. Please reconnect.');
      } catch {
        session.sink.close('internal error');
      }
    }
  }

  private refuseHttp(session: Session, sink: SocketSink, address: string): void {
    this.options.log.log('info', 'wrong-protocol', { id: session.id, addr: address, protocol: 'http' });
    sink.send(encodeLine('ERR', ['NOT_CHAT'], 'This is a mychat chat server, not a web server: connect with nc or telnet to this port.'));
    this.core.end(session, 'HTTP request on chat port', 'Not a chat client');
  }
}
