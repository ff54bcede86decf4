import net from 'node:net';
import type { ChatCore } from '../../core/chat-core';
import { QUIT_REASONS } from '../../core/chat-core';
import type { Session } from '../../core/session';
import type { Codec } from '../../codec/codec';
import { peerAddress } from '../peer-address';
import { MYCHAT_CODEC } from '../../codec/mychat-codec';
import type { Logger } from '../../log';
import { OutputTurn } from '../output-turn';
import { SocketSink, type ByteChannel } from '../socket-sink';
import { Connection, type ByteSource, type ConnectionContext } from '../connection';
import { AddressBudgets, ConnectRateLimiter, DEFAULT_FLOOD, type FloodSettings } from '../flood';

/** Settings of the TCP adapter. */
export interface ListenerOptions {
  /** A client whose unsent output would pass this many bytes is disconnected. */
  maxSendQueueBytes: number;
  /** Flood control: lines a client may send in a burst. */
  floodBurst: number;
  /** Flood control: sustained lines per second; 0 turns line pacing off (per connection and per address). */
  floodRate: number;
  /** The other input budgets (per address, bytes, connection rate); unset fields take DEFAULT_FLOOD's values. */
  flood?: Partial<FloodSettings>;
  log: Logger;
}

/** Default send-queue cap: 1 MiB. */
export const DEFAULT_SEND_QUEUE_BYTES = 1024 * 1024;

/** How long TCP may stay silent before the kernel starts probing whether the peer is still there. */
const KEEPALIVE_MS = 60_000;

/** How long a refused connection may take to read its refusal before it is cut. */
const REFUSAL_GRACE_MS = 2000;

/** Where a socket's Connection is kept: on the socket itself, so the event handlers can be shared. */
const CONNECTION = Symbol('connection');

/** Peer addresses seen lately, by value: the many connections of one address share one string. */
const ADDRESSES = new Map<string, string>();
/** Entries past which ADDRESSES starts over (only sharing is lost). */
const MAX_ADDRESSES = 4096;

/**
 * The peer address of a socket, as one shared string per address. Node caches the address it read on the
 * socket (an object and its strings, about 90 B per connection); the cache is dropped, since the session
 * keeps the address and Node reads it again if anything asks.
 */
function remoteAddressOf(socket: net.Socket): string {
  const address = peerAddress(socket.remoteAddress);
  (socket as net.Socket & { _peername?: unknown })._peername = undefined;
  const known = ADDRESSES.get(address);
  if (known !== undefined) return known;
  if (ADDRESSES.size >= MAX_ADDRESSES) ADDRESSES.clear();
  ADDRESSES.set(address, address);
  return address;
}

/** An accepted socket with its Connection. */
type ServedSocket = net.Socket & { [CONNECTION]?: Connection };

// Socket event handlers shared by every connection (`this` is the socket): closures made per socket cost
// about 80 B each, eight of them per connection.
function onSocketData(this: ServedSocket, chunk: Buffer): void {
  this[CONNECTION]!.data(chunk);
}

function onSocketEnd(this: ServedSocket): void {
  this[CONNECTION]!.end();
}

function onSocketError(this: ServedSocket, error: NodeJS.ErrnoException): void {
  this[CONNECTION]!.error(error);
}

/**
 * The ERR CONNECT_RATE and BYE lines for a connection refused by the connection rate. No session (and so
 * no sink) exists yet, so the lines go straight through the mychat codec, for every door alike.
 */
function connectRateRefusal(waitMs: number): Buffer {
  const seconds = Math.max(1, Math.ceil(waitMs / 1000));
  return Buffer.concat([
    MYCHAT_CODEC.encode({ type: 'failure', code: 'CONNECT_RATE', text: `Your address is opening connections too fast; try again in ${seconds} s.` }),
    MYCHAT_CODEC.encode({ type: 'bye', text: 'Connection rate' }),
  ]);
}

/** The flood settings in force for `options`. */
function floodSettings(options: ListenerOptions): FloodSettings {
  const merged: FloodSettings = { ...DEFAULT_FLOOD, ...options.flood, lineBurst: options.floodBurst, lineRate: options.floodRate };
  // --flood-rate 0 means no line pacing at all, as it always has.
  if (merged.lineRate === 0) merged.addressLineRate = 0;
  return merged;
}

/**
 * The TCP adapter: turns each accepted socket into a chat-core session (framing in, coalesced writes out)
 * and keeps track of open sockets so shutdown can wait for them.
 */
export class ChatListener {
  readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  /** The process's output turn (shared with the other doors); its beforeFlush hook lets the daemon commit history first. */
  readonly scheduler: OutputTurn;
  private flood: FloodSettings;
  private readonly addressBudgets: AddressBudgets;
  private readonly connectLimiter: ConnectRateLimiter;
  private readonly context: ConnectionContext;
  /** The same, for doors whose input is always chat (no protocol sniffing): the WebSocket door. */
  private readonly chatOnlyContext: ConnectionContext;
  /** The one close handler of this listener's sockets (`this` is the socket). */
  private readonly onSocketClose: (this: ServedSocket) => void;

  constructor(
    private readonly core: ChatCore,
    private readonly options: ListenerOptions,
    turn: OutputTurn = new OutputTurn(),
  ) {
    this.scheduler = turn;
    const sockets = this.sockets;
    this.onSocketClose = function (this: ServedSocket) {
      sockets.delete(this);
      this[CONNECTION]!.closed();
    };
    this.flood = floodSettings(options);
    this.addressBudgets = new AddressBudgets(this.flood);
    this.connectLimiter = new ConnectRateLimiter(this.flood.connectRate);
    this.context = {
      core,
      log: options.log,
      addressBudgets: this.addressBudgets,
      flood: this.flood,
      sniff: true,
      onFault: (session, error) => this.fault(session, error),
      refuseHttp: (session, address) => this.refuseHttp(session, address),
    };
    this.chatOnlyContext = { ...this.context, sniff: false };
    // Half-open: after a client's EOF we still finish its last lines (those within budget) and say goodbye.
    this.server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.accept(socket));
    this.server.on('error', (error) => this.options.log.log('error', 'listener-error', { error: error.message }));
  }

  /** Changes limits on a running listener (config reload); connections accepted from now on get them, open ones keep theirs. */
  reconfigure(changes: Partial<Omit<ListenerOptions, 'log'>>): void {
    Object.assign(this.options, changes);
    this.flood = floodSettings(this.options);
    this.addressBudgets.reconfigure(this.flood);
    this.connectLimiter.reconfigure(this.flood.connectRate);
    this.context.flood = this.flood;
    this.chatOnlyContext.flood = this.flood;
  }

  /** Number of open client sockets. */
  get connectionCount(): number {
    return this.sockets.size;
  }

  /** Serves one accepted socket (also used for sockets handed over by socket activation). */
  accept(socket: net.Socket): void {
    this.sockets.add(socket);
    const address = remoteAddressOf(socket);
    const wait = this.connectLimiter.admit(address, Date.now());
    if (wait > 0) {
      this.refuseConnect(socket, address, wait);
      return;
    }
    socket.setKeepAlive(true, KEEPALIVE_MS);
    const sink = new SocketSink(socket, this.options.maxSendQueueBytes, this.scheduler);
    const session = this.core.connect(sink, address);
    if (session === undefined) {
      socket.on('error', () => undefined);
      socket.on('close', () => this.sockets.delete(socket));
      return;
    }
    (socket as ServedSocket)[CONNECTION] = new Connection(socket, session, sink, address, this.context);
    socket.on('error', onSocketError);
    socket.on('close', this.onSocketClose);
    socket.on('data', onSocketData);
    socket.on('end', onSocketEnd);
  }

  /**
   * Serves a connection from another door (the WebSocket door) with the same budgets, connection rate,
   * per-address caps, send-queue cap and output turn as TCP. The door feeds the returned Connection and
   * tells it when the transport closes; undefined when the connection was refused (and is being closed).
   */
  acceptChannel(source: ByteSource, channel: ByteChannel, address: string, codec: Codec = MYCHAT_CODEC): { connection: Connection; sink: SocketSink } | undefined {
    const wait = this.connectLimiter.admit(address, Date.now());
    if (wait > 0) {
      this.options.log.log('info', 'refused', { addr: address, reason: 'connection rate' });
      channel.write(connectRateRefusal(wait));
      channel.end();
      return undefined;
    }
    const sink = new SocketSink(channel, this.options.maxSendQueueBytes, this.scheduler, codec);
    const session = this.core.connect(sink, address);
    if (session === undefined) return undefined;
    return { connection: new Connection(source, session, sink, address, this.chatOnlyContext), sink };
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

  /** A bug triggered by one client's input costs that client its connection, never the daemon. */
  private fault(session: Session, error: unknown): void {
    this.options.log.log('error', 'handler-fault', { id: session.id, error: error instanceof Error ? error.stack ?? error.message : String(error) });
    try {
      this.core.end(session, QUIT_REASONS.internal, 'Internal error; sorry. Please reconnect.');
    } catch {
      session.sink.close('internal error');
    }
  }

  /** Refuses a connection that came too soon after others from its address, at the cost of one small write. */
  private refuseConnect(socket: net.Socket, address: string, waitMs: number): void {
    socket.on('error', () => undefined);
    socket.on('close', () => this.sockets.delete(socket));
    this.options.log.log('info', 'refused', { addr: address, reason: 'connection rate' });
    socket.end(connectRateRefusal(waitMs));
    setTimeout(() => socket.destroy(), REFUSAL_GRACE_MS).unref();
  }

  private refuseHttp(session: Session, address: string): void {
    this.options.log.log('info', 'wrong-protocol', { id: session.id, addr: address, protocol: 'http' });
    this.core.refuse(session, 'NOT_CHAT', 'This is a mychat chat server, not a web server: connect with nc or telnet to this port.');
    this.core.end(session, 'HTTP request on chat port', 'Not a chat client');
  }
}
