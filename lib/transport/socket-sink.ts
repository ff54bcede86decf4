import type { Codec } from '../codec/codec';
import { MYCHAT_CODEC } from '../codec/mychat-codec';
import { codecFor } from '../codec/codecs';
import type { WireFormat } from '../protocol/wire-formats';
import type { ChatEvent } from '../core/events';
import type { ClientSink } from '../core/ports/client-sink';
import { QUIT_REASONS } from '../protocol/quit-reasons';
import type { OutputTurn, TurnOutput } from './output-turn';

/**
 * The part of a byte stream a sink writes to: a net.Socket or tls.TLSSocket as it is, or a door's adapter
 * (the WebSocket door turns each line into a text frame).
 */
export interface ByteChannel {
  write(bytes: Buffer): unknown;
  cork(): void;
  uncork(): void;
  end(): unknown;
  destroy(): unknown;
  readonly destroyed: boolean;
  /** Bytes handed to the channel but not yet to the kernel. */
  readonly writableLength: number;
}

/**
 * Queued bytes after which a sink writes at once instead of waiting for the end of the turn: coalescing
 * is for many small lines, and a burst this large already fills a write.
 */
const EAGER_FLUSH_BYTES = 32 * 1024;

/** How long a closing connection may take to drain before it is cut. */
const CLOSE_GRACE_MS = 3000;

/**
 * ClientSink over a byte channel (a TCP or TLS socket, or a WebSocket): coalesces writes per output turn
 * and enforces the send-queue cap. A peer whose unsent output (ours plus the channel's buffer) would pass
 * the cap is disconnected at once, so a client that stops reading costs at most the cap in memory.
 */
export class SocketSink implements ClientSink, TurnOutput {
  /**
   * What the turn queued: nothing (an idle connection holds no array), one line, or several. Lines are
   * often shared by every recipient of a broadcast, so they are copied into one buffer only at write time.
   */
  private pending: Buffer | Buffer[] | undefined = undefined;
  private pendingBytes = 0;
  private closing = false;
  /** Set when the sink itself decided to drop the connection; the adapter reports it as the quit reason. */
  dropReason: string | undefined;

  /**
   * @param codec How events become bytes on this connection: mychat unless the connection asks for
   *   another format (a public field, so a connection can switch it, e.g. to JSON, while open).
   */
  constructor(
    private readonly socket: ByteChannel,
    private readonly maxQueueBytes: number,
    private readonly scheduler: OutputTurn,
    public codec: Codec = MYCHAT_CODEC,
  ) {}

  /** Bytes accepted but not yet handed to the kernel. */
  get queuedBytes(): number {
    return this.pendingBytes + this.socket.writableLength;
  }

  /** Encodes `event` with this connection's codec and queues the bytes. */
  deliver(event: ChatEvent): void {
    if (this.closing) return;
    this.send(this.codec.encode(event));
  }

  /** Switches the codec for every later event (/format). */
  switchFormat(format: WireFormat): void {
    this.codec = codecFor(format);
  }

  /** Queues bytes as they are (transport-level output such as telnet replies), counted against the cap. */
  send(line: Buffer): void {
    if (this.closing) return;
    if (this.queuedBytes + line.length > this.maxQueueBytes) {
      this.drop(QUIT_REASONS.sendQueue);
      return;
    }
    const pending = this.pending;
    if (pending === undefined) this.pending = line;
    else if (Array.isArray(pending)) pending.push(line);
    else this.pending = [pending, line];
    this.pendingBytes += line.length;
    if (this.pendingBytes >= EAGER_FLUSH_BYTES) this.flush();
    else if (pending === undefined) this.scheduler.mark(this);
  }

  /** Writes everything queued as one write, after the scheduler's beforeFlush hook. */
  flush(): void {
    if (this.pending === undefined) return;
    this.scheduler.beforeFlush?.();
    this.write();
  }

  /**
   * Writes everything queued as one write (the hook has already run): several lines are copied into one
   * buffer first, since one copy costs far less than passing each line through the stream machinery
   * (cork, a write per line, uncork and a writev of them all) for every recipient of a broadcast.
   */
  write(): void {
    const pending = this.pending;
    if (pending === undefined || this.socket.destroyed) return;
    const bytes = this.pendingBytes;
    this.pending = undefined;
    this.pendingBytes = 0;
    this.socket.write(Array.isArray(pending) ? Buffer.concat(pending, bytes) : pending);
  }

  close(_reason: string): void {
    if (this.closing) return;
    this.closing = true;
    this.flush();
    this.socket.end();
    // A peer that never reads would keep the socket half-closed forever; cut it after a grace period.
    setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS).unref();
  }

  /** Drops the connection without flushing: used when the peer is too slow or misbehaves. */
  drop(reason: string): void {
    if (this.closing) return;
    this.closing = true;
    this.dropReason = reason;
    this.pending = undefined;
    this.pendingBytes = 0;
    this.socket.destroy();
  }
}
