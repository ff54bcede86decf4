import { LIMITS } from '../protocol/limits';

/**
 * Characters the full-text index keeps inside a token: FTS5's unicode61 tokenizer with its default
 * `categories` ("L* N* Co"); everything else separates tokens.
 */
const INDEX_TOKEN = /[\p{L}\p{N}\p{Co}]+/gu;

/**
 * One search word as an FTS5 query term: a quoted phrase (so no word can inject query syntax), with a
 * prefix `*` only when the word's last index token has at least LIMITS.minSearchPrefix code points.
 * A one- or two-letter prefix term walks most of the index, so such words match whole words only.
 * Returns undefined for a word with no index token (it could match nothing useful).
 */
export function ftsTerm(word: string): string | undefined {
  const tokens = word.match(INDEX_TOKEN);
  if (tokens === null) return undefined;
  const last = tokens[tokens.length - 1]!;
  const prefix = [...last].length >= LIMITS.minSearchPrefix;
  return `"${word.replace(/"/g, '""')}"${prefix ? '*' : ''}`;
}

/**
 * The FTS5 MATCH expression for entries of room `roomId` containing every word of `words`, or undefined
 * when no word can match. Shared by the main-thread store and the worker reader so they cannot disagree.
 * Throws a RangeError for more than LIMITS.maxSearchWords words: the caller must refuse such a query.
 */
export function ftsMatch(roomId: number, words: readonly string[]): string | undefined {
  if (words.length > LIMITS.maxSearchWords) throw new RangeError(`at most ${LIMITS.maxSearchWords} search words, got ${words.length}`);
  const terms = words.map(ftsTerm).filter((term): term is string => term !== undefined);
  if (terms.length === 0) return undefined;
  return `room : "r${roomId}" AND text : (${terms.join(' AND ')})`;
}
