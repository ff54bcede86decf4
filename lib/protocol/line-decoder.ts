import { Transform, type TransformCallback } from 'node:stream';
import split2 from 'split2';
import { InputFilter, REJECT_MARK } from './input-filter';
import { LIMITS } from './limits';

/** One framed input line: its text, or the reason it was rejected. */
export type InputLine = { ok: true; text: string } | { ok: false; code: 'LINE_TOO_LONG' | 'BAD_UTF8' };

/**
 * Turns one split line (already cleaned by the InputFilter) into an InputLine. Empty lines are kept: the
 * core ignores them, except inside a /paste block, where an empty line is part of the text.
 * Exported for unit tests; the decoder stream uses it as split2's mapper.
 */
export function classifyLine(line: string): InputLine {
  if (line.endsWith(REJECT_MARK.tooLong)) return { ok: false, code: 'LINE_TOO_LONG' };
  if (line.endsWith(REJECT_MARK.badUtf8)) return { ok: false, code: 'BAD_UTF8' };
  return { ok: true, text: line };
}

/** Stream wrapper around InputFilter so that backpressure flows from the line consumer to the socket. */
class InputFilterStream extends Transform {
  private readonly bytes: InputFilter;

  constructor(reply: (bytes: Buffer) => void, maxLineBytes: number) {
    super();
    this.bytes = new InputFilter(reply, maxLineBytes);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const out = this.bytes.push(chunk);
    if (out.length > 0) this.push(out);
    callback();
  }

  override _flush(callback: TransformCallback): void {
    const out = this.bytes.end();
    if (out.length > 0) this.push(out);
    callback();
  }
}

/** The two ends of a line decoder: write raw socket bytes into `input`, read InputLine objects from `output`. */
export interface LineDecoder {
  input: Transform;
  output: Transform;
}

/**
 * Builds the input pipeline: telnet/length/UTF-8 filter, then split2 for splitting and UTF-8 decoding
 * (which keeps multi-byte characters that straddle reads intact).
 */
export function createLineDecoder(reply: (bytes: Buffer) => void, maxLineBytes: number = LIMITS.maxLineBytes): LineDecoder {
  const input = new InputFilterStream(reply, maxLineBytes);
  // The filter already caps every line at maxLineBytes; split2's own cap is a second fence.
  // (@types/split2 omits skipOverflow, which split2 4.x supports.)
  const splitOptions: split2.Options & { skipOverflow: boolean } = { maxLength: maxLineBytes + 8, skipOverflow: true };
  const output = split2(/\n/, classifyLine, splitOptions);
  input.pipe(output);
  return { input, output };
}
