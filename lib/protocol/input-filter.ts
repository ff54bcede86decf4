import { LIMITS } from './limits';

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

/**
 * Markers the filter appends to a line it rejects. Raw NUL bytes never reach the output otherwise
 * (CR NUL ends a line, any other NUL is dropped), so a line ending in one of these is unambiguous.
 */
export const REJECT_MARK = {
  tooLong: '\0L',
  badUtf8: '\0U',
  /** Part of the line was discarded by flood control (see InputFilter.dropCurrentLine). */
  dropped: '\0D',
} as const;

const enum Telnet {
  Data,
  Iac,
  Option,
  Sub,
  SubIac,
}

/**
 * Byte-level input stage, run before line splitting: strips telnet commands (answering option requests
 * with refusals), turns CRLF / CR NUL / LF into LF, and checks each line's length and UTF-8 validity as
 * bytes arrive, so that no more than `maxLineBytes` of one line is ever passed on.
 */
export class InputFilter {
  private telnet = Telnet.Data;
  private telnetVerb = 0;
  private subBytes = 0;
  private pendingCr = false;
  private lineBytes = 0;
  private rejected: string | undefined;
  private utf8Need = 0;
  private utf8Lo = 0x80;
  private utf8Hi = 0xbf;

  /**
   * @param reply called with bytes to send back to the peer (telnet refusals); it must not throw.
   * @param maxLineBytes longest line accepted, in bytes.
   */
  constructor(
    private readonly reply: (bytes: Buffer) => void,
    private readonly maxLineBytes: number = LIMITS.maxLineBytes,
  ) {}

  /** Filters one chunk of raw input and returns the bytes to hand to the line splitter. */
  push(chunk: Uint8Array): Buffer {
    // Worst case: every 2-byte input line becomes a 3-byte rejected line ("\0U\n").
    const out = Buffer.allocUnsafe(chunk.length * 2 + 4);
    let n = 0;
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
      n = this.data(b, out, n);
    }
    return out.subarray(0, n);
  }

  /**
   * Marks the line being received as broken because flood control discarded some of its bytes: when it
   * ends it is passed on as a dropped line rather than spliced together from what remained. A line
   * already rejected keeps its first reason.
   */
  dropCurrentLine(): void {
    this.rejected ??= REJECT_MARK.dropped;
  }

  /** Ends the input: an unterminated last line is completed as if it had ended with a newline. */
  end(): Buffer {
    if (this.lineBytes === 0 && this.rejected === undefined && !this.pendingCr) return Buffer.alloc(0);
    const out = Buffer.allocUnsafe(4);
    this.pendingCr = false;
    return out.subarray(0, this.endLine(out, 0));
  }

  private data(b: number, out: Buffer, n: number): number {
    if (this.pendingCr) {
      this.pendingCr = false;
      if (b === 0x0a || b === 0x00) return this.endLine(out, n);
      // A bare CR is text (neutralised later), not a line end.
      n = this.content(0x0d, out, n);
    }
    if (b === 0x0d) {
      this.pendingCr = true;
      return n;
    }
    if (b === 0x0a) return this.endLine(out, n);
    if (b === 0x00) return n;
    return this.content(b, out, n);
  }

  private content(b: number, out: Buffer, n: number): number {
    if (this.rejected !== undefined) return n;
    if (++this.lineBytes > this.maxLineBytes) {
      this.rejected = REJECT_MARK.tooLong;
      return n;
    }
    if (!this.utf8Ok(b)) {
      this.rejected = REJECT_MARK.badUtf8;
      return n;
    }
    out[n++] = b;
    return n;
  }

  private endLine(out: Buffer, n: number): number {
    if (this.rejected === undefined && this.utf8Need > 0) this.rejected = REJECT_MARK.badUtf8;
    if (this.rejected !== undefined) {
      out[n++] = 0x00;
      out[n++] = this.rejected.charCodeAt(1);
    }
    out[n++] = 0x0a;
    this.rejected = undefined;
    this.lineBytes = 0;
    this.utf8Need = 0;
    return n;
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

  private refuse(verb: number, option: number): void {
    // We enable no option: refuse DO and WILL; WONT and DONT already match our state and need no answer.
    // Every request is answered, even a repeat: telnet waits for the reply to each DO TIMING-MARK it sends.
    if (verb !== TELNET.DO && verb !== TELNET.WILL) return;
    this.reply(Buffer.from([TELNET.IAC, verb === TELNET.DO ? TELNET.WONT : TELNET.DONT, option]));
  }
}
