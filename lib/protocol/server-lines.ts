/**
 * Every server line is KEYWORD, then space-separated fields, then (optionally) free text, ended by CRLF.
 * Fields never contain spaces (they are nicknames, room names, codes and numbers), so a script reads a
 * line with one split and takes the remainder as the text. The keyword set is closed and documented in
 * mychat-protocol(7); the official client imports it from here.
 */
export const KEYWORDS = [
  // Replies to your own commands.
  'HELLO', 'OK', 'ERR', 'PONG', 'ROOM', 'NAMES', 'WHOIS', 'HELP', 'HISTORY', 'HISTEND', 'BYE',
  // Events: things others did, or the server tells you unprompted.
  'MSG', 'ACTION', 'PASTE', 'PRIVMSG', 'JOIN', 'PART', 'QUIT', 'NICK', 'TOPIC', 'NOTICE',
] as const;

/** One server line keyword. */
export type Keyword = (typeof KEYWORDS)[number];

/** Number of fixed fields each keyword has before its free text (documented in the protocol page). */
export const FIELD_COUNT: Record<Keyword, number> = {
  HELLO: 1,
  OK: 2,
  ERR: 1,
  PONG: 0,
  ROOM: 2,
  NAMES: 1,
  WHOIS: 2,
  HELP: 1,
  HISTORY: 5,
  HISTEND: 2,
  BYE: 0,
  MSG: 2,
  ACTION: 2,
  PASTE: 4,
  PRIVMSG: 1,
  JOIN: 2,
  PART: 2,
  QUIT: 1,
  NICK: 2,
  TOPIC: 2,
  NOTICE: 0,
};

/** Formats one server line as a string without its CRLF; `text` must already be neutralised. */
export function formatLine(keyword: Keyword, fields: readonly string[], text?: string): string {
  let line: string = keyword;
  for (const field of fields) line += ' ' + field;
  if (text !== undefined && text.length > 0) line += ' ' + text;
  return line;
}

/** Encodes one server line, CRLF included, ready to be written to any number of sockets. */
export function encodeLine(keyword: Keyword, fields: readonly string[], text?: string): Buffer {
  return Buffer.from(formatLine(keyword, fields, text) + '\r\n', 'utf8');
}

/** A server line split into its parts. */
export interface ServerLine {
  keyword: Keyword;
  fields: string[];
  text: string;
}

/** Parses a server line (without CRLF); returns undefined for a line that is not in the protocol. */
export function parseServerLine(line: string): ServerLine | undefined {
  const space = line.indexOf(' ');
  const keyword = (space < 0 ? line : line.slice(0, space)) as Keyword;
  if (!(KEYWORDS as readonly string[]).includes(keyword)) return undefined;
  const fields: string[] = [];
  let rest = space < 0 ? '' : line.slice(space + 1);
  for (let i = 0; i < FIELD_COUNT[keyword]; i++) {
    const next = rest.indexOf(' ');
    if (next < 0) {
      fields.push(rest);
      rest = '';
    } else {
      fields.push(rest.slice(0, next));
      rest = rest.slice(next + 1);
    }
  }
  return { keyword, fields, text: rest };
}
