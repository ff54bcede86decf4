import { LIMITS } from './limits';

/*
 * Everything one user sends is shown on other people's terminals, so nothing in it may act as a
 * terminal control. Rather than delete such characters (which hides what was sent) we make them
 * visible and inert: C0 controls and DEL become their Unicode "control picture" (ESC shows as ␛,
 * so an escape or OSC 52 sequence arrives as harmless text), C1 controls and bidi overrides become
 * U+FFFD, a tab becomes a space, and line/paragraph separators become spaces.
 */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/gu;

function replaceUnsafe(ch: string): string {
  const c = ch.charCodeAt(0);
  if (c === 0x09 || c === 0x2028 || c === 0x2029) return ' ';
  if (c < 0x20) return String.fromCharCode(0x2400 + c);
  if (c === 0x7f) return '\u2421';
  return '\ufffd';
}

/** Returns `text` with every terminal-control character neutralised (see the comment above). */
export function neutralise(text: string): string {
  return text.replace(UNSAFE, replaceUnsafe);
}

/** True if `text` contains a character that `neutralise` would change. */
export function hasUnsafe(text: string): boolean {
  UNSAFE.lastIndex = 0;
  const found = UNSAFE.test(text);
  UNSAFE.lastIndex = 0;
  return found;
}

/** Length in Unicode code points, which is what users count and our limits are stated in. */
export function codePoints(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) i++;
    n++;
  }
  return n;
}

// Combining marks (\p{M}) may follow the first letter: scripts such as Devanagari need them.
const NICK = /^\p{L}[\p{L}\p{M}\p{N}_-]*$/u;
const ROOM = /^#[\p{L}\p{N}_-][\p{L}\p{M}\p{N}_-]*$/u;

/** Why a proposed name was refused, or undefined if it is acceptable. */
export type NameProblem = string | undefined;

/** Normalises a proposed nickname to NFC; validation and folding work on the result. */
export function normaliseName(raw: string): string {
  return raw.normalize('NFC');
}

/**
 * Key under which nicknames and room names are unique: NFKC (so full-width or ligature look-alikes
 * collide) and full case folding (upper then lower case, so "straße" and "STRASSE" collide too).
 */
export function foldName(name: string): string {
  return name.normalize('NFKC').toUpperCase().toLowerCase().normalize('NFKC');
}

/** Checks a normalised nickname against the documented rules; returns a human reason when it fails. */
export function nickProblem(nick: string): NameProblem {
  const length = codePoints(nick);
  if (length === 0) return 'a nickname cannot be empty';
  if (length > LIMITS.maxNickLength) return `a nickname has at most ${LIMITS.maxNickLength} characters`;
  if (!NICK.test(nick)) return 'a nickname starts with a letter and has only letters, digits, _ and -';
  return undefined;
}

/** Checks a normalised room name against the documented rules; returns a human reason when it fails. */
export function roomProblem(room: string): NameProblem {
  if (!room.startsWith('#')) return 'a room name starts with #';
  const length = codePoints(room) - 1;
  if (length === 0 || length > LIMITS.maxRoomNameLength) return `a room name is # plus 1 to ${LIMITS.maxRoomNameLength} characters`;
  if (!ROOM.test(room)) return 'a room name has only letters, digits, _ and - after the #';
  return undefined;
}
