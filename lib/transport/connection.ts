import type { ChatCore } from '../core/chat-core';
import { QUIT_REASONS } from '../core/chat-core';
import type { Session } from '../core/session';
import { LIMITS } from '../protocol/limits';
import type { InputLine } from '../protocol/line-decoder';
import type { ErrorCode } from '../protocol/errors';
import { jsonInputLines } from '../codec/json-commands';
import { LineFramer, type FramedInput } from '../protocol/line-framer';
import type { Logger } from '../log';
import { INPUT_BURST_SECONDS, UNREGISTERED_INPUT_BURST, UNREGISTERED_INPUT_SHARE, UNREGISTERED_LINES, type AddressBudget, type AddressBudgets, type FloodSettings } from './flood';
import { Budget } from './budget';
import { looksLikeHttpRequest, looksLikeTlsHandshake } from './tcp/sniff';

const LINE_END = Buffer.from('\n');
/** What the core is told when flood control discarded input (it matters inside a /paste block). */
const DROPPED_LINE: InputLine = { ok: false, code: 'DROPPED' };

/**
 * Pause between two reads whose bytes are discarded, per open connection of the same address: one
 * flooding connection is read at up to a chunk per 10 ms, so its EOF or reset is still seen soon after
 * a paste, while an address flooding through 100 connections shares the same read rate, not 100 times it.
 */
const DISCARD_PAUSE_MS = 10;
/** Longest such pause. */
const MAX_DISCARD_PAUSE_MS = 1000;
/** Quiet time after the last discarded line before the sender is told how much was dropped. */
const DROP_NOTICE_DELAY_MS = 1000;
/** Time without any discarded input after which a flood episode counts as over. */
const EXCESS_QUIET_MS = 10_000;

/**
 * Input refused before the core sees it (a WebSocket frame that is not one text line, a JSON command
 * object that does not read): answered with ERR in turn, never posted.
 */
export interface DoorRefusal {
  ok: false;
  code: ErrorCode;
  text: string;
}

/** Input items made from a JSON command object, which must not be read as JSON again (one set per process, not per connection). */
const TRANSLATED = new WeakSet<PendingInput>();

/**
 * Body lines of a translated JSON /paste object. They belong to the block their /paste line opens: when
 * that line is refused (no such room, not a member) or the block is discarded, they are dropped, never run
 * as typed input (a body line "/part #lobby" must stay text).
 */
const PASTE_BODY = new WeakSet<PendingInput>();

/** A line waiting for the core, or a door's refusal waiting its turn (flood control paces both). */
type PendingInput = InputLine | DoorRefusal;

/** Where a connection's bytes come from: the door's socket or WebSocket, paused while flood control discards. */
export interface ByteSource {
  pause(): unknown;
  resume(): unknown;
}

/** Where a connection's output goes: the sink the core writes to (a SocketSink), as the connection uses it. */
export interface OutputChannel {
  /** Queues raw transport bytes (telnet refusals). */
  send(bytes: Buffer): void;
  /** Flushes and closes. */
  close(reason: string): void;
  /** Closes at once without flushing. */
  drop(reason: string): void;
  /** Set when the output side dropped the connection (send queue exceeded); reported as the quit reason. */
  readonly dropReason: string | undefined;
  /** The codec events are written with: in JSON mode, input lines starting with "{" are JSON command objects. */
  readonly codec: { readonly name: string };
}

/** What a connection needs from its door: the core, the logger, the shared budgets and the settings. */
export interface ConnectionContext {
  core: ChatCore;
  log: Logger;
  addressBudgets: AddressBudgets;
  flood: FloodSettings;
  /**
   * Whether to look for a wrong protocol on a byte stream (a TLS handshake or an HTTP request on the
   * plain chat port); off for the WebSocket door, whose frames are always chat lines.
   */
  sniff: boolean;
  /** Reports a fault in a handler; the door logs it and ends the session. */
  onFault(session: Session, error: unknown): void;
  /** Answers an HTTP request on the chat port. */
  refuseHttp(session: Session, address: string): void;
}

function reasonFor(error: NodeJS.ErrnoException | undefined): string {
  if (error?.code === 'ETIMEDOUT') return QUIT_REASONS.timedOut;
  return QUIT_REASONS.lost;
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/**
 * The input side of one client connection, whatever its door: reads bytes within the byte budget
 * (discarding, not buffering, what is over it), frames lines, queues them in a bounded backlog, and hands
 * them to the core one command at a time within the line budget. Peer EOF or reset ends the session at
 * once: what is still waiting for flood control is discarded rather than posted after its sender has gone.
 * The door feeds it through `data`, `end`, `error` and `closed`.
 */
export class Connection implements FramedInput {
  private readonly framer: LineFramer;
  /**
   * Lines waiting for the core; made when a line arrives and dropped once all have left, since an array
   * that once held a line keeps room for 17 (150 B) and every idle connection would pay for two of them.
   */
  private backlog: PendingInput[] | undefined = undefined;
  private backlogBytes = 0;
  /** Byte size of each backlog line (same order), so it is measured once, not again when the line leaves. */
  private backlogSizes: number[] | undefined = undefined;
  /** A command whose handler has not finished (e.g. a history query): input waits behind it. */
  private inFlight = false;
  private paceTimer: NodeJS.Timeout | undefined;
  private readPaused = false;
  private first = true;
  private linesSeen = 0;
  private ended = false;
  private isClosed = false;
  private lastError: NodeJS.ErrnoException | undefined;
  private registeredBudgets = false;
  private readonly bytes: Budget | undefined;
  private readonly lines: Budget | undefined;
  private readonly shared: AddressBudget;
  /** Input dropped in the current drop episode, reported in one NOTICE after it ends. */
  private droppedLines = 0;
  private droppedBytes = 0;
  private dropNoticeTimer: NodeJS.Timeout | undefined;
  private pacingNoticed = false;
  private excessSince: number | undefined;
  private lastExcessAt = 0;

  constructor(
    private readonly source: ByteSource,
    private readonly session: Session,
    private readonly sink: OutputChannel,
    private readonly address: string,
    private readonly ctx: ConnectionContext,
  ) {
    const now = Date.now();
    const flood = ctx.flood;
    this.bytes = flood.inputRate > 0 ? new Budget(UNREGISTERED_INPUT_BURST, Math.max(1, flood.inputRate * UNREGISTERED_INPUT_SHARE), now) : undefined;
    this.lines = flood.lineRate > 0 ? new Budget(Math.min(UNREGISTERED_LINES.burst, flood.lineBurst), Math.min(UNREGISTERED_LINES.rate, flood.lineRate), now) : undefined;
    this.shared = ctx.addressBudgets.acquire(address, now);
    this.framer = new LineFramer(this);
  }

  /** The peer sent end of input (EOF, or a WebSocket close frame). */
  end(): void {
    this.framer.end();
    this.ended = true;
    this.pump();
  }

  /** Sends the framer's telnet refusals back to the peer (part of FramedInput). */
  telnetReply(bytes: Buffer): void {
    this.sink.send(bytes);
  }

  /** The transport failed; remembered so the quit reason can say how the connection was lost. */
  error(error: NodeJS.ErrnoException): void {
    this.lastError = error;
    this.ctx.log.log('debug', 'socket-error', { addr: this.address, error: error.code ?? error.message });
  }

  /**
   * The transport has closed: the session ends and the connection's budgets are released. `byPeer` says
   * the peer closed it cleanly (a WebSocket close frame), which reads as a normal quit, not a lost connection.
   */
  closed(byPeer = false): void {
    if (byPeer) this.ended = true;
    this.isClosed = true;
    this.clearTimers();
    this.clearBacklog();
    this.ctx.addressBudgets.release(this.shared);
    this.ctx.core.disconnect(this.session, this.sink.dropReason ?? (this.ended ? QUIT_REASONS.closed : reasonFor(this.lastError)));
  }

  /** Bytes from the peer. */
  data(chunk: Buffer): void {
    if (this.isClosed || this.session.state === 'closing') return;
    if (this.first) {
      this.first = false;
      if (this.ctx.sniff && looksLikeTlsHandshake(chunk)) {
        this.ctx.log.log('info', 'wrong-protocol', { id: this.session.id, addr: this.address, protocol: 'tls' });
        this.ctx.core.disconnect(this.session, 'TLS on plain port');
        this.sink.drop('TLS on plain port');
        return;
      }
    }
    const now = Date.now();
    const allowed = this.byteAllowance(now);
    if (allowed >= chunk.length) {
      this.chargeBytes(now, chunk.length);
      this.framer.push(chunk);
      return;
    }
    // Over the byte budget: pass on what the budget allows, discard the rest without framing it (that
    // work is what a flood costs us), and read on slowly so that EOF or a reset is still seen soon.
    if (allowed > 0) {
      this.chargeBytes(now, allowed);
      this.framer.push(chunk.subarray(0, allowed));
    }
    const discarded = chunk.subarray(allowed);
    let newlines = 0;
    for (let at = discarded.indexOf(10); at >= 0; at = discarded.indexOf(10, at + 1)) newlines++;
    // The line being received lost bytes: it is dropped, not spliced. If the discarded bytes ended it,
    // end it here, and the line they started is broken too unless they stopped exactly at a line end.
    this.framer.dropCurrentLine();
    if (newlines > 0) {
      newlines--;
      this.framer.push(LINE_END);
      if (discarded[discarded.length - 1] !== 10) this.framer.dropCurrentLine();
    }
    this.noteDropped(newlines, discarded.length, now);
    if (!this.readPaused && !this.isClosed) {
      this.readPaused = true;
      this.source.pause();
      setTimeout(() => {
        this.readPaused = false;
        if (!this.isClosed) this.source.resume();
      }, Math.min(MAX_DISCARD_PAUSE_MS, DISCARD_PAUSE_MS * Math.max(1, this.shared.connections))).unref();
    }
  }

  /** Bytes that may be framed now: the smaller of what the connection's and the address's budgets hold. */
  private byteAllowance(now: number): number {
    let allowed = Number.POSITIVE_INFINITY;
    if (this.bytes !== undefined) allowed = this.bytes.available(now);
    if (this.shared.bytes !== undefined) allowed = Math.min(allowed, this.shared.bytes.available(now));
    return allowed;
  }

  private chargeBytes(now: number, n: number): void {
    this.bytes?.charge(now, n);
    this.shared.bytes?.charge(now, n);
  }

  /**
   * Input the door refused before framing (`bytes` long): it costs the byte and line budgets like a line,
   * and its ERR is sent in turn, so a stream of bad frames is paced like any other input.
   */
  refuseInput(code: DoorRefusal['code'], text: string, bytes: number): void {
    if (this.isClosed || this.session.state === 'closing') return;
    const now = Date.now();
    if (this.byteAllowance(now) < bytes) {
      this.noteDropped(1, bytes, now);
      return;
    }
    this.chargeBytes(now, bytes);
    this.framedLine({ ok: false, code, text });
  }

  /** One framed line (part of FramedInput): queued for the core, or dropped by flood control. */
  framedLine(line: PendingInput): void {
    if (this.isClosed || this.session.state === 'closing') return;
    if (!line.ok && line.code === 'DROPPED') {
      // Already counted as discarded bytes; a line cut by flood control is never posted.
      this.noteDropped(1, 0, Date.now());
      return;
    }
    if (this.linesSeen++ === 0 && this.ctx.sniff && line.ok && looksLikeHttpRequest(line.text)) {
      this.ctx.refuseHttp(this.session, this.address);
      return;
    }
    if (line.ok && this.waiting > 0 && this.ctx.core.isQuit(this.session, line.text)) {
      // /quit jumps the queue: nobody should have to wait for their own paste to be posted to leave.
      this.clearBacklog();
      this.handle(line);
      return;
    }
    const size = line.ok ? Buffer.byteLength(line.text) + 1 : 1;
    if (this.waiting >= LIMITS.maxBacklogLines || this.backlogBytes + size > LIMITS.maxBacklogBytes) {
      this.noteDropped(1, 0, Date.now());
      return;
    }
    (this.backlog ??= []).push(line);
    this.backlogBytes += size;
    (this.backlogSizes ??= []).push(size);
    this.pump();
  }

  /** Number of lines waiting for the core. */
  private get waiting(): number {
    return this.backlog?.length ?? 0;
  }

  /** Hands waiting lines to the core, one command at a time, as far as the line budgets allow. */
  private pump(): void {
    while (!this.isClosed && !this.inFlight && this.paceTimer === undefined && this.waiting > 0) {
      if (this.session.state === 'closing') {
        this.clearBacklog();
        break;
      }
      if (this.readsJson(this.backlog![0]!)) this.translateJson();
      const line = this.backlog![0]!;
      if (this.session.paste === undefined && PASTE_BODY.has(line)) {
        // Its /paste was refused (the refusal already went out) or its block discarded: the body is not input.
        this.backlog!.shift();
        this.backlogBytes -= this.backlogSizes!.shift()!;
        continue;
      }
      // With line pacing off (--flood-rate 0) nothing needs the cost: skip parsing the line for it.
      const paced = this.lines !== undefined || this.shared.lines !== undefined;
      const cost = !paced ? 0 : line.ok ? this.ctx.core.inputCost(this.session, line.text) : 1;
      const now = paced ? Date.now() : 0;
      const ownWait = cost > 0 ? (this.lines?.waitFor(now, cost) ?? 0) : 0;
      const sharedWait = cost > 0 ? (this.shared.lines?.waitFor(now, cost) ?? 0) : 0;
      const wait = Math.max(ownWait, sharedWait);
      if (wait > 0) {
        if (this.ended) {
          // The sender has gone: what flood control was holding back is not posted in its name.
          this.noteDropped(this.waiting, 0, now);
          this.clearBacklog();
          break;
        }
        if (!this.pacingNoticed) {
          this.pacingNoticed = true;
          const shared = sharedWait > ownWait;
          const rate = (shared ? this.shared.lines : this.lines)?.ratePerSecond ?? 0;
          const who = shared ? 'your address (all its connections together) is' : 'you are';
          this.ctx.core.notice(
            this.session,
            `Flood control: ${who} sending faster than ${rate} lines a second, so your lines are posted at that pace (at most ${LIMITS.maxBacklogLines} wait; more are dropped). For multi-line text use /paste.`,
          );
        }
        this.paceTimer = setTimeout(() => {
          this.paceTimer = undefined;
          this.pump();
        }, wait);
        this.paceTimer.unref();
        return;
      }
      if (cost > 0) {
        this.lines?.tryTake(now, cost);
        this.shared.lines?.tryTake(now, cost);
      }
      this.backlog!.shift();
      this.backlogBytes -= this.backlogSizes!.shift()!;
      const pending = this.handle(line);
      this.upgradeBudgets();
      if (pending !== undefined) {
        this.inFlight = true;
        void pending.finally(() => {
          this.inFlight = false;
          this.pump();
        });
        return;
      }
    }
    if (this.waiting === 0) {
      this.pacingNoticed = false;
      this.clearBacklog();
    }
    if (this.ended && !this.inFlight && this.waiting === 0 && !this.isClosed) {
      // The client sent EOF and every line it was owed has been handled.
      this.ctx.core.disconnect(this.session, QUIT_REASONS.closed);
      this.sink.close('eof');
    }
  }

  /**
   * Whether `line` is a JSON command object to translate: the connection is in JSON mode when the line
   * reaches the head of the queue (so a /format json earlier in the same read already counts), the line
   * starts with "{", it is not itself a translation, and no /paste block is collecting lines verbatim.
   */
  private readsJson(line: PendingInput): line is InputLine & { ok: true } {
    // The codec check comes first: it is the one test every line of a mychat-mode connection pays.
    return this.sink.codec.name === 'json' && line.ok && line.text.startsWith('{') && this.session.paste === undefined && !TRANSLATED.has(line);
  }

  /**
   * Replaces the JSON command object at the head of the queue with the mychat lines it stands for (a
   * /paste object becomes several) or with its refusal. They are then paced and costed like typed lines,
   * so a JSON /search costs what a typed one does.
   */
  private translateJson(): void {
    const head = this.backlog![0] as InputLine & { ok: true };
    const result = jsonInputLines(head.text);
    const replacement: PendingInput[] = result.ok ? result.lines.map((text) => ({ ok: true, text })) : [{ ok: false, code: result.code, text: result.text }];
    for (const item of replacement) TRANSLATED.add(item);
    // Only a /paste object becomes several lines: the first opens the block, the rest are its body.
    for (const item of replacement.slice(1)) PASTE_BODY.add(item);
    // The original line's byte size stays with the first item, so the backlog's byte count stays exact.
    this.backlog!.splice(0, 1, ...replacement);
    this.backlogSizes!.splice(1, 0, ...replacement.slice(1).map(() => 0));
  }

  /** Runs one line through the core; a handler fault costs this connection only. */
  private handle(line: PendingInput): Promise<void> | undefined {
    try {
      if (!line.ok && 'text' in line) {
        this.ctx.core.refuse(this.session, line.code, line.text);
        return undefined;
      }
      const result = this.ctx.core.handleInput(this.session, line);
      if (result === undefined) return undefined;
      return result.catch((error: unknown) => this.ctx.onFault(this.session, error));
    } catch (error) {
      this.ctx.onFault(this.session, error);
      return undefined;
    }
  }

  /** Gives a connection that has just registered the full budgets. */
  private upgradeBudgets(): void {
    if (this.registeredBudgets || this.session.state !== 'registered') return;
    this.registeredBudgets = true;
    const now = Date.now();
    const flood = this.ctx.flood;
    this.bytes?.resize(flood.inputRate * INPUT_BURST_SECONDS, flood.inputRate, now);
    this.lines?.resize(flood.lineBurst, flood.lineRate, now);
  }

  /** Counts discarded input, schedules the one NOTICE about it, and disconnects a client that never stops. */
  private noteDropped(lines: number, bytes: number, now: number): void {
    if (this.isClosed || this.session.state === 'closing') return;
    // An open /paste block that lost lines must not be posted incomplete: the core discards it (and says so).
    if (this.session.paste !== undefined) this.handle(DROPPED_LINE);
    this.droppedLines += lines;
    this.droppedBytes += bytes;
    if (this.excessSince === undefined || now - this.lastExcessAt > EXCESS_QUIET_MS) this.excessSince = now;
    this.lastExcessAt = now;
    const kickMs = this.ctx.flood.floodKickSeconds * 1000;
    if (kickMs > 0 && now - this.excessSince >= kickMs) {
      this.kick();
      return;
    }
    // One timer per drop episode, pushed back as long as drops go on (checked when it fires, not re-armed per line).
    this.dropNoticeTimer ??= setTimeout(() => this.sendDropNotice(), DROP_NOTICE_DELAY_MS).unref();
  }

  private sendDropNotice(): void {
    this.dropNoticeTimer = undefined;
    if (this.isClosed) return;
    const quiet = Date.now() - this.lastExcessAt;
    if (quiet < DROP_NOTICE_DELAY_MS && !this.isClosed) {
      this.dropNoticeTimer = setTimeout(() => this.sendDropNotice(), DROP_NOTICE_DELAY_MS - quiet).unref();
      return;
    }
    if (this.droppedLines === 0 && this.droppedBytes === 0) return;
    const what = this.droppedBytes > 0 ? `${plural(this.droppedLines, 'line', 'lines')} (${this.droppedBytes} bytes unread)` : plural(this.droppedLines, 'line', 'lines');
    this.ctx.core.notice(
      this.session,
      `Flood control dropped ${what} of your input: it came faster than it can be posted. Nothing after that was lost. For multi-line text use /paste (up to ${LIMITS.maxPasteLines} lines).`,
    );
    this.droppedLines = 0;
    this.droppedBytes = 0;
  }

  private kick(): void {
    this.clearTimers();
    this.clearBacklog();
    const seconds = this.ctx.flood.floodKickSeconds;
    this.ctx.log.log('warn', 'flood-kick', { id: this.session.id, addr: this.address, seconds });
    this.ctx.core.refuse(this.session, 'FLOODING', `You kept sending faster than flood control allows for ${seconds} seconds; disconnecting.`);
    this.ctx.core.end(this.session, 'Excess flood', 'Excess flood');
  }

  /** Forgets every line waiting for flood control. */
  private clearBacklog(): void {
    this.backlog = undefined;
    this.backlogSizes = undefined;
    this.backlogBytes = 0;
  }

  private clearTimers(): void {
    if (this.paceTimer !== undefined) clearTimeout(this.paceTimer);
    if (this.dropNoticeTimer !== undefined) clearTimeout(this.dropNoticeTimer);
    this.paceTimer = undefined;
    this.dropNoticeTimer = undefined;
  }
}
