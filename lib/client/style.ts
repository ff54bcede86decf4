import { foldName } from '../protocol/text-hygiene';

/*
 * Terminal styling for the interactive client. Every style closes with its own SGR "off" code rather
 * than a full reset (ESC[0m), so styles nest: a coloured nickname inside a dim history line stays dim.
 */

/** One SGR style: the code that turns it on and the code that turns only it off again. */
export interface Style {
  on: number;
  off: number;
}

/** The styles the renderer uses. */
export const STYLES = {
  bold: { on: 1, off: 22 },
  dim: { on: 2, off: 22 },
  reverse: { on: 7, off: 27 },
  red: { on: 31, off: 39 },
  green: { on: 32, off: 39 },
  yellow: { on: 33, off: 39 },
  magenta: { on: 35, off: 39 },
  cyan: { on: 36, off: 39 },
} as const satisfies Record<string, Style>;

/**
 * Foreground colours for nicknames: the six basic hues and their bright variants, which every colour
 * terminal has (no black or white, which vanish on one background or the other).
 */
export const NICK_COLOURS: readonly Style[] = [31, 32, 33, 34, 35, 36, 91, 92, 93, 94, 95, 96].map((on) => ({ on, off: 39 }));

/** Wraps `text` in the given styles when `colour` is on; returns it unchanged otherwise. */
export function paint(colour: boolean, text: string, ...styles: Style[]): string {
  if (!colour || styles.length === 0 || text.length === 0) return text;
  let open = '';
  let close = '';
  for (const style of styles) {
    open += `\x1b[${style.on}m`;
    close = `\x1b[${style.off}m` + close;
  }
  return open + text + close;
}

/** FNV-1a hash of the case-folded nickname, so "Bob" and "bob" (the same user to the server) get one colour. */
export function nickHash(nick: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(foldName(nick), 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/** The stable colour of a nickname: the same name always gets the same colour, in every session. */
export function nickColour(nick: string): Style {
  return NICK_COLOURS[nickHash(nick) % NICK_COLOURS.length]!;
}

/**
 * Whether to colour output: only on a terminal, and never when NO_COLOR is set to a non-empty value
 * (https://no-color.org) or the terminal says it cannot (TERM=dumb).
 */
export function colourWanted(env: NodeJS.ProcessEnv, isTerminal: boolean): boolean {
  if (!isTerminal) return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  return env.TERM !== 'dumb';
}

/** Removes SGR sequences, for measuring or comparing what a styled string shows. */
export function stripStyles(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\x1b\[[0-9;]*m/g, '');
}
