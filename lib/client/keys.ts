/*
 * The client's own keys, taken out of the typed input before readline sees it: Alt-1…9 and Alt-0 pick
 * window 1…10, Ctrl-N and Ctrl-P the next and previous window (readline would use them for history,
 * which Up and Down still do), Ctrl-C interrupts. Pure.
 */

/** One piece of typed input: text for readline, or one of the client's keys. */
export type KeyEvent =
  | { kind: 'text'; text: string }
  | { kind: 'window'; number: number }
  | { kind: 'next' }
  | { kind: 'previous' }
  | { kind: 'interrupt' };

const CTRL_C = '\x03';
const CTRL_N = '\x0e';
const CTRL_P = '\x10';

/**
 * Splits typed input into readline text and the client's keys. Alt-digit arrives as ESC followed by the
 * digit (the xterm default, "meta sends escape"); ESC followed by anything else (arrow keys, Alt-b) is
 * left to readline.
 */
export function splitKeys(input: string): KeyEvent[] {
  const events: KeyEvent[] = [];
  let text = '';
  const flush = (): void => {
    if (text.length > 0) events.push({ kind: 'text', text });
    text = '';
  };
  for (let i = 0; i < input.length; i++) {
    const c = input[i]!;
    if (c === '\x1b' && /^[0-9]$/.test(input[i + 1] ?? '')) {
      flush();
      const digit = Number(input[i + 1]);
      events.push({ kind: 'window', number: digit === 0 ? 10 : digit });
      i++;
    } else if (c === CTRL_N || c === CTRL_P || c === CTRL_C) {
      flush();
      events.push(c === CTRL_N ? { kind: 'next' } : c === CTRL_P ? { kind: 'previous' } : { kind: 'interrupt' });
    } else {
      text += c;
    }
  }
  flush();
  return events;
}
