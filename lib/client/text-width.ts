/*
 * How wide text is on a terminal, and wrapping chat lines to the terminal's width. Widths are measured
 * per grapheme cluster (what a terminal draws as one character: "é" as e + combining accent, a flag, an
 * emoji joined with ZWJ): an emoji two columns, otherwise the East Asian width of its first code point
 * (Unicode's table, from get-east-asian-width), so CJK counts two columns and a ZWJ family one emoji.
 * Everything here is pure; the measuring function is passed in, so tests can use it without a terminal.
 */

/** Measures the columns one grapheme cluster (or any plain string) takes. */
export type WidthOf = (text: string) => number;

// eslint-disable-next-line no-control-regex
const SGR = /\x1b\[[0-9;]*m/y;

const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/** A whole cluster that is one emoji as Unicode recommends it (flags, ZWJ sequences, skin tones, VS16): two columns. */
const EMOJI = new RegExp('^\\p{RGI_Emoji}$', 'v');

/** A cluster that starts with a control, format or combining character, or one a terminal ignores: no column. */
const NO_WIDTH = /^[\p{Cc}\p{Cf}\p{Mn}\p{Me}\p{Default_Ignorable_Code_Point}]/u;

/**
 * Loads the East Asian width table (get-east-asian-width, an ES module, hence the dynamic import from this
 * CommonJS package) and returns the measure: the sum of the widths of the grapheme clusters of a string.
 * One small table, with no dependencies of its own, rather than a library that also strips escapes (the
 * callers never pass escapes: pieces() takes them out first).
 */
export async function loadTerminalWidth(): Promise<WidthOf> {
  const { eastAsianWidth } = await import('get-east-asian-width');
  const clusterWidth = (cluster: string): number => {
    if (EMOJI.test(cluster)) return 2;
    if (NO_WIDTH.test(cluster)) return 0;
    return eastAsianWidth(cluster.codePointAt(0)!);
  };
  return (text: string) => {
    let width = 0;
    for (const { segment } of segmenter.segment(text)) width += clusterWidth(segment);
    return width;
  };
}

/** A piece of styled text: an SGR sequence (no width) or one grapheme cluster. */
interface Piece {
  text: string;
  width: number;
}

/** Splits styled text into SGR sequences and grapheme clusters, each with its width. */
function pieces(text: string, widthOf: WidthOf): Piece[] {
  const out: Piece[] = [];
  let plainStart = 0;
  const flushPlain = (end: number): void => {
    if (end <= plainStart) return;
    for (const { segment } of segmenter.segment(text.slice(plainStart, end))) out.push({ text: segment, width: widthOf(segment) });
  };
  for (let i = text.indexOf('\x1b'); i >= 0; i = text.indexOf('\x1b', i + 1)) {
    SGR.lastIndex = i;
    const match = SGR.exec(text);
    if (match === null) continue;
    flushPlain(i);
    out.push({ text: match[0], width: 0 });
    plainStart = i + match[0].length;
    i = plainStart - 1;
  }
  flushPlain(text.length);
  return out;
}

/** Columns `text` takes on one row, SGR sequences not counted. */
export function visibleWidth(text: string, widthOf: WidthOf): number {
  let width = 0;
  for (const piece of pieces(text, widthOf)) width += piece.width;
  return width;
}

/**
 * Where the cursor ends after writing `text` from column 0 of a `columns`-wide terminal: rows below the
 * start and the column. The same rules as Node's readline (a "\n" starts a row, a tab goes to the next
 * multiple of 8, a wide character that would straddle the right edge moves to the next row), but with
 * grapheme clusters measured as above, so readline's cursor lands where the terminal puts it.
 */
export function displayPos(text: string, columns: number, widthOf: WidthOf): { cols: number; rows: number } {
  const col = columns > 0 && Number.isFinite(columns) ? columns : Infinity;
  let offset = 0;
  let rows = 0;
  for (const piece of pieces(text, widthOf)) {
    if (piece.text === '\n') {
      rows += Math.ceil(offset / col) || 1;
      offset = 0;
      continue;
    }
    if (piece.text === '\t') {
      offset += 8 - (offset % 8);
      continue;
    }
    if (piece.width >= 2 && col !== Infinity && (offset % col) + piece.width > col) offset += col - (offset % col);
    offset += piece.width;
  }
  if (col === Infinity) return { cols: offset, rows };
  const cols = offset % col;
  rows += (offset - cols) / col;
  return { cols, rows };
}

/**
 * Wraps one styled row to `columns`: breaks at spaces, continuation rows start with `indent` spaces (a
 * hanging indent under the message text), a word longer than a row is cut. The styles open at a break are
 * closed at the end of the row and reopened after the indent, so a wrapped coloured word stays coloured and
 * the indent does not. Returns the rows.
 */
export function wrapRow(text: string, columns: number, indent: number, widthOf: WidthOf): string[] {
  if (columns <= 0 || !Number.isFinite(columns)) return [text];
  const all = pieces(text, widthOf);
  let total = 0;
  for (const piece of all) total += piece.width;
  if (total <= columns) return [text];
  const hang = Math.max(0, Math.min(indent, Math.floor(columns / 2)));
  const rows: string[] = [];
  let row = '';
  let width = 0;
  /** SGR sequences in force (the ones seen since the last full reset), to reopen on the next row. */
  let open: string[] = [];
  /** The current word (not yet placed) and its width. */
  let word: Piece[] = [];
  let wordWidth = 0;
  const newRow = (): void => {
    rows.push(row.trimEnd() + (open.length > 0 ? '\x1b[0m' : ''));
    row = ' '.repeat(hang) + open.join('');
    width = hang;
  };
  const place = (piece: Piece): void => {
    if (piece.width === 0 && piece.text.startsWith('\x1b')) {
      if (piece.text === '\x1b[0m' || piece.text === '\x1b[m') open = [];
      else open.push(piece.text);
    }
    row += piece.text;
    width += piece.width;
  };
  const placeWord = (): void => {
    if (word.length === 0) return;
    if (width + wordWidth > columns && width > hang) newRow();
    for (const piece of word) {
      if (piece.width > 0 && width + piece.width > columns && width > hang) newRow();
      place(piece);
    }
    word = [];
    wordWidth = 0;
  };
  for (const piece of all) {
    if (piece.text === ' ') {
      placeWord();
      // A space at the end of a row is dropped rather than carried to the next.
      if (width + 1 <= columns) place(piece);
      continue;
    }
    word.push(piece);
    wordWidth += piece.width;
  }
  placeWord();
  rows.push(row.trimEnd());
  return rows;
}

/**
 * The hanging indent for a rendered chat line: the column where the message text starts, after
 * "HH:MM #room <nick> " (or "* nick "), so wrapped rows line up under the text; 6 (under the time) for
 * other lines.
 */
export function hangingIndent(plain: string, widthOf: WidthOf): number {
  const chat = /^(\S+ (?:» )?(?:\[private\] )?(?:#\S+ )?(?:<[^>\s]+> |\* \S+ ))/u.exec(plain);
  if (chat !== null) return visibleWidth(chat[1]!, widthOf);
  return /^\d\d:\d\d /.test(plain) ? 6 : 0;
}
