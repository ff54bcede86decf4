import { LIMITS } from '../protocol/limits';
import { neutralise } from '../protocol/text-hygiene';

/*
 * Pastes in the interactive client. The terminal is put in bracketed paste mode, so a paste arrives
 * between ESC [200~ and ESC [201~ and can be told apart from typing, however it is split into reads.
 * A paste of several lines goes to the server as one /paste block (dot-stuffed, ended by "."); a paste of
 * one line is put into the input line like typed text. Pure: the interactive client wires it up.
 */

/** Turns bracketed paste mode on: the terminal then marks the start and end of each paste. */
export const BRACKETED_PASTE_ON = '\x1b[?2004h';
/** Turns bracketed paste mode off again, for whatever runs in the terminal after the client. */
export const BRACKETED_PASTE_OFF = '\x1b[?2004l';
/** What the terminal sends before pasted text. */
export const PASTE_START_MARK = '\x1b[200~';
/** What the terminal sends after pasted text. */
export const PASTE_END_MARK = '\x1b[201~';

/**
 * Most characters of one paste kept in memory: twice the server's byte limit, which any paste longer
 * than this surely passes (a character is at least one byte, a line end at most two characters, and more
 * than LIMITS.maxPasteLines lines are too many anyway).
 */
export const MAX_PASTE_CHARS = 2 * LIMITS.maxPasteBytes;

/** A piece of terminal input: typed keys (for readline), or one whole paste. */
export type TerminalInput = { kind: 'keys'; text: string } | { kind: 'paste'; text: string; overflow: boolean };

/** Length of the longest end of `data` that is a proper beginning of `marker` (a marker split across reads). */
function partialMarker(data: string, marker: string): number {
  for (let k = Math.min(marker.length - 1, data.length); k > 0; k--) {
    if (data.endsWith(marker.slice(0, k))) return k;
  }
  return 0;
}

/**
 * Splits terminal input into typed keys and pastes, following the bracketed paste markers even when a
 * marker is split between two reads. A paste is kept up to MAX_PASTE_CHARS; past that it is only
 * flagged as overflowing, so memory stays bounded whatever the terminal sends.
 */
export class BracketedPasteReader {
  private pasting = false;
  private paste = '';
  private overflow = false;
  /** The end of the last read, held back because it may be the start of a marker. */
  private held = '';

  /** True while some input is held back: the caller calls flush() if nothing follows soon. */
  get holding(): boolean {
    return this.held.length > 0 && !this.pasting;
  }

  /** Takes one read of terminal input (already decoded) and returns what it completes, in order. */
  push(chunk: string): TerminalInput[] {
    const out: TerminalInput[] = [];
    let data = this.held + chunk;
    this.held = '';
    while (data.length > 0) {
      const marker = this.pasting ? PASTE_END_MARK : PASTE_START_MARK;
      const at = data.indexOf(marker);
      if (at < 0) {
        const keep = partialMarker(data, marker);
        this.take(data.slice(0, data.length - keep), out);
        this.held = data.slice(data.length - keep);
        break;
      }
      this.take(data.slice(0, at), out);
      data = data.slice(at + marker.length);
      if (this.pasting) {
        out.push({ kind: 'paste', text: this.paste, overflow: this.overflow });
        this.paste = '';
        this.overflow = false;
      }
      this.pasting = !this.pasting;
    }
    return out;
  }

  /** Releases held-back keys (a lone ESC, say) when no more input came to complete a marker. */
  flush(): TerminalInput[] {
    if (!this.holding) return [];
    const text = this.held;
    this.held = '';
    return [{ kind: 'keys', text }];
  }

  private take(text: string, out: TerminalInput[]): void {
    if (text.length === 0) return;
    if (!this.pasting) {
      const last = out[out.length - 1];
      if (last?.kind === 'keys') last.text += text;
      else out.push({ kind: 'keys', text });
      return;
    }
    const room = MAX_PASTE_CHARS - this.paste.length;
    if (text.length > room) this.overflow = true;
    this.paste += text.slice(0, Math.max(0, room));
  }
}

/** The lines of pasted text: split at CR LF, CR or LF, without the empty line a final line end leaves. */
export function pasteLines(text: string): string[] {
  const lines = text.split(/\r\n|\r|\n/);
  if (lines.length > 1 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** A line of a /paste block as sent: one more "." in front of a line that starts with "." (as in SMTP). */
export function dotStuff(line: string): string {
  return line.startsWith('.') ? '.' + line : line;
}

/** Every line that sends `lines` as one block: "/paste", the dot-stuffed lines, then ".". */
export function pasteBlock(lines: readonly string[]): string[] {
  return ['/paste', ...lines.map(dotStuff), '.'];
}

/**
 * Why the server would refuse these lines as one paste (too many lines, or too many bytes once
 * neutralised and joined as it stores them), or undefined when they fit.
 */
export function pasteProblem(lines: readonly string[], overflow = false): string | undefined {
  const limits = `at most ${LIMITS.maxPasteLines} lines and ${LIMITS.maxPasteBytes} bytes`;
  if (overflow) return `That paste is far too long (a paste has ${limits}); nothing was sent.`;
  if (lines.length > LIMITS.maxPasteLines) return `That paste has ${lines.length} lines (a paste has ${limits}); nothing was sent.`;
  if (lines.some((line) => Buffer.byteLength(dotStuff(line), 'utf8') > LIMITS.maxLineBytes)) {
    return `That paste has a line of more than ${LIMITS.maxLineBytes} bytes, the most one line may have; nothing was sent.`;
  }
  const bytes = Buffer.byteLength(lines.map((line) => neutralise(line)).join('\n'), 'utf8');
  if (bytes > LIMITS.maxPasteBytes) return `That paste has ${bytes} bytes (a paste has ${limits}); nothing was sent.`;
  return undefined;
}
