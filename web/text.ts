import { foldName, neutralise } from '../lib/protocol/text-hygiene';

/*
 * Text helpers of the browser client. Everything shown comes from other people, so it is put on the page
 * only as text (textContent) and first passed through the protocol's own neutralising: the server already
 * does this, and doing it again costs nothing and keeps a changed or foreign server from smuggling
 * terminal controls or bidi overrides onto the page.
 */

/** Text as it may be shown: controls made visible, bidi overrides and isolates replaced (see text-hygiene). */
export function visible(text: string): string {
  return neutralise(text);
}

/** Same key as the server's for names (NFKC, case folded), so "Bob" and "bob" are one conversation. */
export function nameKey(name: string): string {
  return foldName(name);
}

const WORD = /[\p{L}\p{M}\p{N}_-]+/gu;

/** True when `text` names `nick` as a whole word, ignoring case as the server compares nicknames. */
export function mentions(text: string, nick: string): boolean {
  if (nick === '') return false;
  const key = foldName(nick);
  for (const match of text.matchAll(WORD)) if (foldName(match[0]) === key) return true;
  return false;
}

const two = (n: number): string => String(n).padStart(2, '0');

/** A time as the message pane shows it, in local time: "14:05" today, "2026-12-01 14:05" on another day. */
export function shortTime(at: Date, now: Date): string {
  const hm = `${two(at.getHours())}:${two(at.getMinutes())}`;
  const sameDay = at.getFullYear() === now.getFullYear() && at.getMonth() === now.getMonth() && at.getDate() === now.getDate();
  return sameDay ? hm : `${at.getFullYear()}-${two(at.getMonth() + 1)}-${two(at.getDate())} ${hm}`;
}

/** A full local date and time with seconds, for tooltips and the datetime attribute's reader. */
export function longTime(at: Date): string {
  return `${at.getFullYear()}-${two(at.getMonth() + 1)}-${two(at.getDate())} ${two(at.getHours())}:${two(at.getMinutes())}:${two(at.getSeconds())}`;
}

const encoder = new TextEncoder();

/** Size of `text` in UTF-8 bytes, the unit of the protocol's line and paste limits. */
export function utf8Bytes(text: string): number {
  return encoder.encode(text).length;
}
