import { LIMITS } from '../lib/protocol/limits';
import { utf8Bytes } from './text';

/** A multi-line input longer than this many lines asks once before it is sent as a paste block. */
export const CONFIRM_LINES = 10;
/** A multi-line input larger than this many bytes asks once before it is sent as a paste block. */
export const CONFIRM_BYTES = 2048;

/** What sending a multi-line input would do: the block's lines as sent (dot-stuffed), or why it cannot be sent. */
export type PastePlan =
  | { ok: true; lines: string[]; count: number; bytes: number; confirm: boolean }
  | { ok: false; why: string };

/**
 * Turns a multi-line input into the lines of one /paste block (mychat-protocol(7), /paste): CR LF and CR
 * become line ends, trailing empty lines are dropped, and a line starting with "." gets one more, as the
 * protocol asks. The paste limits are checked here so the user learns before anything is sent.
 */
export function planPaste(input: string): PastePlan {
  const lines = input.replace(/\r\n?/g, '\n').split('\n');
  while (lines.length > 0 && lines[lines.length - 1]!.trim() === '') lines.pop();
  if (lines.length === 0) return { ok: false, why: 'Nothing to send.' };
  if (lines.length > LIMITS.maxPasteLines) return { ok: false, why: `A paste has at most ${LIMITS.maxPasteLines} lines; this one has ${lines.length}. Nothing was sent.` };
  const bytes = utf8Bytes(lines.join('\n'));
  if (bytes > LIMITS.maxPasteBytes) return { ok: false, why: `A paste has at most ${LIMITS.maxPasteBytes} bytes; this one has ${bytes}. Nothing was sent.` };
  const stuffed = lines.map((line) => (line.startsWith('.') ? '.' + line : line));
  if (stuffed.some((line) => utf8Bytes(line) > LIMITS.maxLineBytes)) return { ok: false, why: `A line of a paste has at most ${LIMITS.maxLineBytes} bytes. Nothing was sent.` };
  return { ok: true, lines: stuffed, count: lines.length, bytes, confirm: lines.length > CONFIRM_LINES || bytes > CONFIRM_BYTES };
}
