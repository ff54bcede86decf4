import { LIMITS } from '../protocol/limits';

/*
 * Full-text search for the PostgreSQL store, made to match the SQLite store's (FTS5 unicode61 with
 * remove_diacritics 2, see search-terms.ts): the lexemes are computed here, in one place for the text and
 * the query, and handed to PostgreSQL as tsvector and tsquery literals, so no text-search configuration,
 * dictionary, stemmer or extension of the server takes part and every server gives the same answers.
 */

/**
 * Characters kept inside a token, as FTS5's unicode61: categories "L* N* Co", plus the combining
 * diacritics U+0300 to U+036F, which unicode61 (remove_diacritics 2) keeps in the token and then drops, so
 * that a decomposed "e" + U+0301 + "x" is the token "ex". Anything else separates tokens.
 */
const INDEX_TOKEN = /[\p{L}\p{N}\p{Co}\u0300-\u036f]+/gu;
/** Tokens as search-terms.ts counts them for its prefix rule (without the combining diacritics). */
const PREFIX_TOKEN = /[\p{L}\p{N}\p{Co}]+/gu;
/** The combining diacritics that unicode61 drops wherever they stand. */
const COMBINING_DIACRITICS = /[\u0300-\u036f]/g;
/** A Latin letter with the combining marks after it (unicode61 removes diacritics of Latin letters only). */
const LATIN_WITH_MARKS = /(\p{Script=Latin})\p{M}+/gu;
/**
 * Longest lexeme in UTF-8 bytes. PostgreSQL refuses lexemes of 2 KiB or more; a longer token is cut at a
 * character boundary, the same way in text and query, so a search for it still finds it.
 */
const MAX_LEXEME_BYTES = 500;
/** PostgreSQL keeps word positions up to this value (larger ones are stored as it). */
const MAX_POSITION = 16383;

/** One token as a lexeme: lower case, Latin diacritics removed, cut to MAX_LEXEME_BYTES. */
function lexeme(token: string): string {
  // Lower case first, so İ becomes i plus a dot that goes with the other marks. Letters of other scripts
  // keep their marks (Greek tonos, Cyrillic breve, kana voicing), as in unicode61.
  let text = token.replace(COMBINING_DIACRITICS, '').toLowerCase().normalize('NFD').replace(LATIN_WITH_MARKS, '$1').normalize('NFC');
  // unicode61 folds the long s to s; toLowerCase leaves it.
  text = text.replace(/ſ/g, 's');
  if (Buffer.byteLength(text) <= MAX_LEXEME_BYTES) return text;
  let cut = '';
  for (const ch of text) {
    if (Buffer.byteLength(cut + ch) > MAX_LEXEME_BYTES) break;
    cut += ch;
  }
  return cut;
}

/** The lexemes of a text, in order (duplicates kept: their positions matter for phrases). */
export function lexemes(text: string): string[] {
  return (text.match(INDEX_TOKEN) ?? []).map(lexeme).filter((l) => l !== '');
}

/** A lexeme quoted for a tsvector or tsquery literal (lexemes hold no quote or backslash, but be safe). */
function quote(lexemeText: string): string {
  return `'${lexemeText.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/**
 * A message's text as a tsvector literal ('word':1,4 'other':2 ...), with positions so that a search word
 * made of several tokens ("stop-me") matches them as a phrase, as FTS5 does. Cast with ::tsvector.
 */
export function tsvectorLiteral(text: string): string {
  const positions = new Map<string, number[]>();
  lexemes(text).forEach((word, i) => {
    const list = positions.get(word);
    const position = Math.min(i + 1, MAX_POSITION);
    if (list === undefined) positions.set(word, [position]);
    else if (list[list.length - 1] !== position) list.push(position);
  });
  return [...positions].map(([word, list]) => `${quote(word)}:${list.join(',')}`).join(' ');
}

/**
 * One search word as a tsquery: its tokens as a phrase (<->), the last one a prefix (:*) when the word's
 * last token has at least LIMITS.minSearchPrefix code points (the rule of search-terms.ts). Undefined for a
 * word with no token.
 */
function queryTerm(word: string): string | undefined {
  const tokens = word.match(INDEX_TOKEN);
  if (tokens === null) return undefined;
  const words = tokens.map(lexeme).filter((l) => l !== '');
  if (words.length === 0) return undefined;
  const counted = word.match(PREFIX_TOKEN);
  const prefix = counted !== null && [...counted[counted.length - 1]!].length >= LIMITS.minSearchPrefix;
  const parts = words.map((w, i) => `${quote(w)}${prefix && i === words.length - 1 ? ':*' : ''}`);
  return parts.length === 1 ? parts[0] : `(${parts.join(' <-> ')})`;
}

/**
 * The tsquery literal matching entries that contain every word of `words`, or undefined when no word can
 * match. Throws a RangeError for more than LIMITS.maxSearchWords words, like ftsMatch.
 */
export function tsqueryLiteral(words: readonly string[]): string | undefined {
  if (words.length > LIMITS.maxSearchWords) throw new RangeError(`at most ${LIMITS.maxSearchWords} search words, got ${words.length}`);
  const terms = words.map(queryTerm).filter((term): term is string => term !== undefined);
  return terms.length === 0 ? undefined : terms.join(' & ');
}
