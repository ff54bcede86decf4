import { LIMITS } from './limits';
import type { InputLine } from './line-decoder';

/** Telnet command bytes (RFC 854) that the filter recognises. */
export const TELNET = {
  IAC: 0xff,
  DONT: 0xfe,
  DO: 0xfd,
  WONT: 0xfc,
  WILL: 0xfb,
  SB: 0xfa,
  SE: 0xf0,
} as const;

/** The TRANSMIT-BINARY option (RFC 856). */
export const TELOPT_BINARY = 0;

/** The state of one side of an option, after RFC 1143: off, on, or asked for and not answered yet. */
const enum Option {
  No,
  Yes,
  WantYes,
}

/** Why a line was rejected. */
type RejectCode = Exclude<InputLine, { ok: true }>['code'];

/** Where a framer's results go; a connection implements it, so no closure is made per connection. */
export interface FramedInput {
  /** One complete input line (an empty line too: flood control counts it). */
  framedLine(line: InputLine): void;
  /** Bytes to send back to the peer (telnet refusals); must not throw. */
  telnetReply(bytes: Buffer): void;
}

/**
 * Scratch space for the line being assembled, shared by every framer of the process: a framer copies the
 * bytes of an unfinished line out of it (into a buffer of their exact size) before `push` returns, so an
 * idle connection holds no buffer at all. Safe because `push` runs to completion and calls out only
 * between lines (framedLine) or with bytes of its own (telnetReply), never into another framer.
 */
let scratch: Buffer = Buffer.allocUnsafeSlow(LIMITS.maxLineBytes);

function scratchOf(size: number): Buffer {
  if (scratch.length < size) scratch = Buffer.allocUnsafeSlow(size);
  return scratch;
}

const enum Telnet {
  Data,
  Iac,
  Option,
  Sub,
  SubIac,
}

/**
 * The input framer, one pass over every byte: strips telnet commands (answering option requests with
 * refusals, except TRANSMIT-BINARY, which it asks a client that speaks telnet to use), ends lines at CRLF / CR NUL / LF, drops other NULs, and checks each line's length and UTF-8
 * validity as bytes arrive, so that no more than `maxLineBytes` of one line is ever held. Complete lines
 * go to the FramedInput as InputLine objects; the bytes of a line not yet ended are kept in a buffer of
 * their own size only between two chunks.
 */
export class LineFramer {
  private telnet = Telnet.Data;
  private telnetVerb = 0;
  /** TRANSMIT-BINARY from the client to us (our DO). */
  private binaryHim = Option.No;
  /** The client sent a telnet command, so it speaks telnet: binary mode was offered once. */
  private binaryOffered = false;
  private subBytes = 0;
  private pendingCr = false;
  /** Bytes of the current line so far (stored in the scratch buffer while it is not rejected). */
  private lineBytes = 0;
  private rejected: RejectCode | undefined;
  /** The unfinished line's bytes between two chunks. */
  private partial: Buffer | undefined;
  /** The scratch buffer during push/end. */
  private buf: Buffer = scratch;
  private utf8Need = 0;
  private utf8Lo = 0x80;
  private utf8Hi = 0xbf;

  /**
   * @param output receives the lines and the telnet replies.
   * @param maxLineBytes longest line accepted, in bytes.
   */
  constructor(
    private readonly output: FramedInput,
    private readonly maxLineBytes: number = LIMITS.maxLineBytes,
  ) {}

  /** Bytes held for a line that has not ended yet (0 for an idle connection). */
  get pendingBytes(): number {
    return this.partial?.length ?? 0;
  }

  /** Frames one chunk of raw input, handing every line it completes to the output. */
  push(chunk: Uint8Array): void {
    this.restore();
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      switch (this.telnet) {
        case Telnet.Data:
          if (b === TELNET.IAC) {
            this.telnet = Telnet.Iac;
            continue;
          }
          break;
        case Telnet.Iac:
          if (b === TELNET.IAC) {
            // An escaped 0xFF data byte: never valid UTF-8, so it rejects the line below.
            this.telnet = Telnet.Data;
            break;
          }
          this.offerBinary();
          if (b >= TELNET.WILL && b <= TELNET.DONT) {
            this.telnetVerb = b;
            this.telnet = Telnet.Option;
          } else if (b === TELNET.SB) {
            this.subBytes = 0;
            this.telnet = Telnet.Sub;
          } else {
            // IP, AYT, NOP, GA, EC, EL, BRK, DM and unknown commands carry no data: drop them.
            this.telnet = Telnet.Data;
          }
          continue;
        case Telnet.Option:
          this.refuse(this.telnetVerb, b);
          this.telnet = Telnet.Data;
          continue;
        case Telnet.Sub:
        case Telnet.SubIac:
          if (++this.subBytes > LIMITS.maxSubnegotiationBytes) {
            // An endless subnegotiation: give up skipping, and treat this byte as data again.
            this.telnet = Telnet.Data;
            break;
          }
          if (this.telnet === Telnet.SubIac) this.telnet = b === TELNET.SE ? Telnet.Data : Telnet.Sub;
          else if (b === TELNET.IAC) this.telnet = Telnet.SubIac;
          continue;
      }
      this.data(b);
    }
    this.keep();
  }

  /**
   * Marks the line being received as broken because flood control discarded some of its bytes: when it
   * ends it is passed on as a dropped line rather than spliced together from what remained. A line
   * already rejected keeps its first reason.
   */
  dropCurrentLine(): void {
    this.rejected ??= 'DROPPED';
  }

  /** Ends the input: an unterminated last line is completed as if it had ended with a newline. */
  end(): void {
    if (this.lineBytes === 0 && this.rejected === undefined && !this.pendingCr) return;
    this.restore();
    this.pendingCr = false;
    this.endLine();
  }

  /** Moves the unfinished line's bytes (if any) into the scratch buffer for this push. */
  private restore(): void {
    this.buf = scratchOf(this.maxLineBytes);
    if (this.partial !== undefined) {
      this.partial.copy(this.buf, 0);
      this.partial = undefined;
    }
  }

  /** Copies the unfinished line's bytes out of the scratch buffer, in a buffer of their exact size. */
  private keep(): void {
    if (this.lineBytes === 0 || this.rejected !== undefined) return;
    // Not from Node's shared pool: a small slice of it would pin a whole 8 KiB slab while the line waits.
    this.partial = Buffer.allocUnsafeSlow(this.lineBytes);
    this.buf.copy(this.partial, 0, 0, this.lineBytes);
  }

  private data(b: number): void {
    if (this.pendingCr) {
      this.pendingCr = false;
      if (b === 0x0a || b === 0x00) {
        this.endLine();
        return;
      }
      // A bare CR is text (neutralised later), not a line end.
      this.content(0x0d);
    }
    if (b === 0x0d) {
      this.pendingCr = true;
      return;
    }
    if (b === 0x0a) this.endLine();
    else if (b !== 0x00) this.content(b);
  }

  private content(b: number): void {
    if (this.rejected !== undefined) return;
    if (++this.lineBytes > this.maxLineBytes) {
      this.rejected = 'LINE_TOO_LONG';
      return;
    }
    if (!this.utf8Ok(b)) {
      this.rejected = 'BAD_UTF8';
      return;
    }
    this.buf[this.lineBytes - 1] = b;
  }

  private endLine(): void {
    if (this.rejected === undefined && this.utf8Need > 0) this.rejected = 'BAD_UTF8';
    // The line is taken and the state reset before calling out, so the output may do anything.
    const line: InputLine = this.rejected === undefined ? { ok: true, text: this.buf.toString('utf8', 0, this.lineBytes) } : { ok: false, code: this.rejected };
    this.rejected = undefined;
    this.lineBytes = 0;
    this.utf8Need = 0;
    this.output.framedLine(line);
  }

  /** Incremental UTF-8 validation (Unicode table 3-7): rejects overlongs, surrogates and values past U+10FFFF. */
  private utf8Ok(b: number): boolean {
    if (this.utf8Need > 0) {
      if (b < this.utf8Lo || b > this.utf8Hi) return false;
      this.utf8Need--;
      this.utf8Lo = 0x80;
      this.utf8Hi = 0xbf;
      return true;
    }
    if (b < 0x80) return true;
    if (b >= 0xc2 && b <= 0xdf) return this.expect(1, 0x80, 0xbf);
    if (b === 0xe0) return this.expect(2, 0xa0, 0xbf);
    if (b === 0xed) return this.expect(2, 0x80, 0x9f);
    if (b >= 0xe1 && b <= 0xef) return this.expect(2, 0x80, 0xbf);
    if (b === 0xf0) return this.expect(3, 0x90, 0xbf);
    if (b >= 0xf1 && b <= 0xf3) return this.expect(3, 0x80, 0xbf);
    if (b === 0xf4) return this.expect(3, 0x80, 0x8f);
    return false;
  }

  private expect(need: number, lo: number, hi: number): boolean {
    this.utf8Need = need;
    this.utf8Lo = lo;
    this.utf8Hi = hi;
    return true;
  }

  /**
   * A client that sends telnet commands is a telnet client: ask it, once, to send in binary mode (DO
   * TRANSMIT-BINARY). Outside binary mode inetutils (and BSD) telnet strip the 8th bit of each typed byte
   * before comparing it with its escape and interrupt characters, so UTF-8 such as the Hebrew final mem
   * (D7 9D: 0x9D reads as Ctrl-]) drops the user at the telnet> prompt, and "ă" (C4 83: 0x83 as Ctrl-C) or
   * "✓" (E2 9C 93: 0x9C as Ctrl-\) turn into IAC IP or IAC BRK; its terminal strips the 8th bit too. With
   * the client sending in binary mode its bytes go through as typed. (We do not send in binary mode
   * ourselves: see negotiateBinary.) Nothing is ever sent to a client that has not spoken telnet first:
   * to nc the bytes would be garbage.
   */
  private offerBinary(): void {
    if (this.binaryOffered) return;
    this.binaryOffered = true;
    if (this.binaryHim !== Option.No) return;
    this.binaryHim = Option.WantYes;
    this.output.telnetReply(Buffer.from([TELNET.IAC, TELNET.DO, TELOPT_BINARY]));
  }

  /**
   * Answers WILL or WONT TRANSMIT-BINARY (the client's sending) after RFC 1143's rules, so requests never
   * loop. DO TRANSMIT-BINARY (our sending) is refused like any other option: telnet shows UTF-8 fine
   * without it, and with it turns the terminal's output processing off, so the echo of each typed line
   * would end without a carriage return.
   */
  private negotiateBinary(verb: number): void {
    if (verb === TELNET.WILL) {
      if (this.binaryHim === Option.No) this.output.telnetReply(Buffer.from([TELNET.IAC, TELNET.DO, TELOPT_BINARY]));
      this.binaryHim = Option.Yes;
    } else {
      if (this.binaryHim === Option.Yes) this.output.telnetReply(Buffer.from([TELNET.IAC, TELNET.DONT, TELOPT_BINARY]));
      this.binaryHim = Option.No;
    }
  }

  private refuse(verb: number, option: number): void {
    if (option === TELOPT_BINARY && (verb === TELNET.WILL || verb === TELNET.WONT)) {
      this.negotiateBinary(verb);
      return;
    }
    // We enable no other option: refuse DO and WILL; WONT and DONT already match our state and need no answer.
    // Every request is answered, even a repeat: telnet waits for the reply to each DO TIMING-MARK it sends.
    if (verb !== TELNET.DO && verb !== TELNET.WILL) return;
    this.output.telnetReply(Buffer.from([TELNET.IAC, verb === TELNET.DO ? TELNET.WONT : TELNET.DONT, option]));
  }
}
