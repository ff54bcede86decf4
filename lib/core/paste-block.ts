import { LIMITS } from '../protocol/limits';
import type { InputLine } from '../protocol/line-decoder';
import { neutralise } from '../protocol/text-hygiene';
import { ChatError } from '../protocol/errors';

/*
 * The /paste block: after "/paste", every line is literal text for one room until a line holding only
 * ".", with SMTP's dot-stuffing (a line that starts with "." has that "." removed, so ".." is a lone ".").
 * The block is delivered and stored as one multi-line message. It is bounded while it is received: past
 * LIMITS.maxPasteLines lines or LIMITS.maxPasteBytes bytes it is dropped at once, and the rest up to the
 * "." is discarded as it comes.
 */

/** The line that ends a paste block. */
export const PASTE_END = '.';

/**
 * Lines of a block charged as one line of flood budget, when the block ends: a paste of up to 20 lines
 * costs 1, one of 100 lines costs 5, so pasting is cheap but cannot multiply a client's line rate by 100.
 */
export const PASTE_LINES_PER_COST = 20;

/** A line of a paste block as the client sent it, with its dot-stuffing removed. */
export function unstuff(line: string): string {
  return line.startsWith('.') ? line.slice(1) : line;
}

/**
 * A /paste block being received: its room and its lines so far, never more than the paste limits. The room
 * type is a parameter so this module need not import Session's module, which refers back to it.
 */
export class PasteBlock<R = unknown> {
  /** The neutralised lines received so far (emptied when the block fails). */
  readonly lines: string[] = [];
  /** Bytes of the lines joined with "\n", as they will be stored. */
  private bytes = 0;
  /** True once the block passed a limit or had a line that could not be read: nothing of it is sent. */
  failed = false;

  constructor(readonly room: R) {}

  /** Adds one neutralised line; false when it would pass a limit (the block then fails and drops its lines). */
  add(text: string): boolean {
    const bytes = Buffer.byteLength(text, 'utf8') + (this.lines.length > 0 ? 1 : 0);
    if (this.lines.length >= LIMITS.maxPasteLines || this.bytes + bytes > LIMITS.maxPasteBytes) {
      this.fail();
      return false;
    }
    this.lines.push(text);
    this.bytes += bytes;
    return true;
  }

  /** Drops the block: what was received is freed, and the rest up to "." will be discarded. */
  fail(): void {
    this.failed = true;
    this.lines.length = 0;
    this.bytes = 0;
  }

  /**
   * Flood-budget cost of the input line `text` while this block is open: nothing for a line of the
   * block, one per PASTE_LINES_PER_COST lines (at least one) for the end line, and one for a line
   * being discarded after the block failed, which is then no cheaper than any other line.
   */
  cost(text: string): number {
    if (text === PASTE_END) return this.failed ? 1 : Math.max(1, Math.ceil(this.lines.length / PASTE_LINES_PER_COST));
    return this.failed ? 1 : 0;
  }

  /**
   * Takes one input line that is not the end line: adds it to the block, or throws the ERR that tells
   * the sender, once, that the block was dropped.
   */
  take(input: InputLine): void {
    if (this.failed) return;
    if (!input.ok) {
      this.fail();
      if (input.code === 'DROPPED') {
        throw new ChatError('PASTE_TOO_LONG', 'Part of the paste came faster than flood control allows and was dropped, so the paste was discarded and nothing of it is sent; end it with a line holding only ".".');
      }
      const why = input.code === 'LINE_TOO_LONG' ? `a line of more than ${LIMITS.maxLineBytes} bytes` : 'a line that is not valid UTF-8';
      throw new ChatError(input.code, `The paste had ${why}, so it was discarded and nothing of it is sent; end it with a line holding only ".".`);
    }
    if (!this.add(neutralise(unstuff(input.text)))) {
      throw new ChatError(
        'PASTE_TOO_LONG',
        `A paste has at most ${LIMITS.maxPasteLines} lines and ${LIMITS.maxPasteBytes} bytes: this one was discarded and nothing of it is sent; end it with a line holding only ".".`,
      );
    }
  }
}
