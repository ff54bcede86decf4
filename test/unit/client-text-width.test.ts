import test from 'ava';
import { displayPos, hangingIndent, loadTerminalWidth, visibleWidth, wrapRow, type WidthOf } from '../../lib/client/text-width';
import { stripStyles } from '../../lib/client/style';

let widthOf: WidthOf;

test.before(async () => {
  widthOf = await loadTerminalWidth();
});

test('widths are per grapheme: CJK two columns, an emoji joined with ZWJ one emoji, accents none', (t) => {
  t.is(visibleWidth('半分', widthOf), 4);
  t.is(visibleWidth('👩‍💻', widthOf), 2);
  t.is(visibleWidth('e\u0301', widthOf), 1);
  t.is(visibleWidth('\x1b[1mbold\x1b[22m', widthOf), 4, 'styles take no room');
});

test('displayPos puts the cursor where a terminal does, wrapping wide characters whole', (t) => {
  t.deepEqual(displayPos('nick #lobby> 半分👩‍💻x', 80, widthOf), { cols: 20, rows: 0 });
  t.deepEqual(displayPos('status\nab', 80, widthOf), { cols: 2, rows: 1 });
  // Nine columns used of ten: a wide character does not fit in the last one and starts the next row.
  t.deepEqual(displayPos('123456789中', 10, widthOf), { cols: 2, rows: 1 });
  t.deepEqual(displayPos('1234567890', 10, widthOf), { cols: 0, rows: 1 });
});

test('wrapRow breaks at spaces with a hanging indent, and cuts a word longer than a row', (t) => {
  const rows = wrapRow('12:00 <bob> the quick brown fox jumps over the lazy dog', 24, 12, widthOf);
  t.deepEqual(rows, ['12:00 <bob> the quick', '            brown fox', '            jumps over', '            the lazy dog']);
  t.deepEqual(wrapRow('short', 24, 6, widthOf), ['short']);
  const long = wrapRow('12:00 ' + 'x'.repeat(30), 20, 6, widthOf);
  t.deepEqual(long, ['12:00 xxxxxxxxxxxxxx', '      xxxxxxxxxxxxxx', '      xx']);
  for (const row of wrapRow('12:00 <bob> 半分半分半分半分半分半分 end', 16, 12, widthOf)) t.true(visibleWidth(row, widthOf) <= 16, row);
});

test('wrapRow keeps styles across a break and leaves the indent unstyled', (t) => {
  const styled = '12:00 <bob> \x1b[1mbold words that wrap here\x1b[22m done';
  const rows = wrapRow(styled, 24, 12, widthOf);
  t.deepEqual(rows.map(stripStyles), ['12:00 <bob> bold words', '            that wrap', '            here done']);
  t.true(rows[0]!.endsWith('\x1b[0m'), 'the open style is closed at the end of the row');
  t.true(rows[1]!.startsWith('            \x1b[1m'), 'and reopened after the indent');
});

test('the hanging indent is the column where the message text starts', (t) => {
  t.is(hangingIndent('12:00 #dev <bob> hi', widthOf), 17);
  t.is(hangingIndent('12:00 » #dev <bob> hi', widthOf), 19);
  t.is(hangingIndent('12:00 #dev * bob waves', widthOf), 17);
  t.is(hangingIndent('12:00 [private] <bob> hi', widthOf), 22);
  t.is(hangingIndent('12:00 -- Welcome', widthOf), 6);
  t.is(hangingIndent('plain', widthOf), 0);
});
