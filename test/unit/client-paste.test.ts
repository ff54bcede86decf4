// The same fixed zone as client-render.test.ts (UTC+05:30), so local times are checkable.
process.env.TZ = 'Asia/Kolkata';

import test from 'ava';
import { ClientState } from '../../lib/client/client-state';
import {
  BracketedPasteReader,
  dotStuff,
  MAX_PASTE_CHARS,
  PASTE_END_MARK,
  PASTE_START_MARK,
  pasteBlock,
  pasteLines,
  pasteProblem,
  type TerminalInput,
} from '../../lib/client/paste';
import { renderServerLine, type RenderContext } from '../../lib/client/render';
import { stripStyles } from '../../lib/client/style';
import { unstuff } from '../../lib/core/paste-block';
import { LIMITS } from '../../lib/protocol/limits';
import { parseServerLine } from '../../lib/protocol/server-lines';

const NOW = new Date('2026-03-10T08:00:00Z');
const plain: RenderContext = { colour: false, ownNick: 'alice', now: NOW };

// ---- the bracketed paste reader ----

function readAll(chunks: string[]): TerminalInput[] {
  const reader = new BracketedPasteReader();
  return chunks.flatMap((chunk) => reader.push(chunk));
}

test('typed keys pass through and a bracketed paste comes out whole, between the keys around it', (t) => {
  t.deepEqual(readAll([`abc${PASTE_START_MARK}one\rtwo\r${PASTE_END_MARK}d`]), [
    { kind: 'keys', text: 'abc' },
    { kind: 'paste', text: 'one\rtwo\r', overflow: false },
    { kind: 'keys', text: 'd' },
  ]);
});

test('the paste markers are found when split across reads at any point', (t) => {
  const whole = `x${PASTE_START_MARK}line 1\rline 2${PASTE_END_MARK}\x1b[Ay`;
  const expected = [
    { kind: 'keys', text: 'x' },
    { kind: 'paste', text: 'line 1\rline 2', overflow: false },
    { kind: 'keys', text: '\x1b[Ay' },
  ];
  for (let cut = 1; cut < whole.length; cut++) {
    const merged: TerminalInput[] = [];
    for (const item of readAll([whole.slice(0, cut), whole.slice(cut)])) {
      const last = merged[merged.length - 1];
      if (item.kind === 'keys' && last?.kind === 'keys') last.text += item.text;
      else merged.push({ ...item });
    }
    t.deepEqual(merged, expected, `cut at ${cut}`);
  }
});

test('a lone ESC is held back only until flush(), and arrow keys are never held', (t) => {
  const reader = new BracketedPasteReader();
  t.deepEqual(reader.push('\x1b[A'), [{ kind: 'keys', text: '\x1b[A' }]);
  t.false(reader.holding);
  t.deepEqual(reader.push('\x1b'), []);
  t.true(reader.holding);
  t.deepEqual(reader.flush(), [{ kind: 'keys', text: '\x1b' }]);
  t.false(reader.holding);
  t.deepEqual(reader.flush(), []);
});

test('a huge paste is cut at MAX_PASTE_CHARS and flagged, so memory stays bounded', (t) => {
  const reader = new BracketedPasteReader();
  reader.push(PASTE_START_MARK);
  for (let i = 0; i < 100; i++) t.deepEqual(reader.push('y'.repeat(1000)), []);
  const [paste] = reader.push(PASTE_END_MARK);
  t.is(paste?.kind, 'paste');
  if (paste?.kind !== 'paste') return;
  t.true(paste.overflow);
  t.is(paste.text.length, MAX_PASTE_CHARS);
});

// ---- lines, dot-stuffing, limits ----

test('pasted text splits at any line end, without the empty line a final line end leaves', (t) => {
  t.deepEqual(pasteLines('a\r\nb\rc\nd'), ['a', 'b', 'c', 'd']);
  t.deepEqual(pasteLines('a\r\r'), ['a', '']);
  t.deepEqual(pasteLines('one\n'), ['one']);
  t.deepEqual(pasteLines(''), ['']);
});

test('a block is /paste, the dot-stuffed lines and "."; the server gets back exactly the lines', (t) => {
  const lines = ['first', '', '.', '..two', '.x', 'end.'];
  const block = pasteBlock(lines);
  t.deepEqual(block, ['/paste', 'first', '', '..', '...two', '..x', 'end.', '.']);
  t.is(dotStuff('.'), '..');
  // No line of the block but the last is the end line, and unstuffing (as the server does) restores each.
  t.false(block.slice(1, -1).includes('.'));
  t.deepEqual(block.slice(1, -1).map(unstuff), lines);
});

test('pasteProblem refuses what the server would: too many lines, too many bytes, a too-long line', (t) => {
  t.is(pasteProblem(Array.from({ length: LIMITS.maxPasteLines }, () => 'x')), undefined);
  t.regex(pasteProblem(Array.from({ length: LIMITS.maxPasteLines + 1 }, () => 'x')) ?? '', /^That paste has 101 lines/);
  // Four lines of 4095 bytes and their three "\n" are 16383 bytes: fits; one more character does not.
  const long = 'x'.repeat(4095);
  t.is(pasteProblem([long, long, long, long]), undefined);
  t.regex(pasteProblem([long, long, long, long, 'y']) ?? '', /^That paste has 16385 bytes/);
  t.regex(pasteProblem(['.' + 'x'.repeat(LIMITS.maxLineBytes)]) ?? '', /a line of more than 4096 bytes/);
  t.regex(pasteProblem(['short'], true) ?? '', /far too long/);
});

// ---- rendering and state ----

test('a pasted block renders as one message: the sender, then its lines indented behind a bar', (t) => {
  const lines = ['PASTE #dev bob 7 1/3 def f(x):', 'PASTE #dev bob 7 2/3     return x', 'PASTE #dev bob 7 3/3'];
  t.deepEqual(
    lines.map((l) => renderServerLine(l, plain)),
    ['13:30 #dev <bob> pasted 3 lines:\n      │ def f(x):', '      │     return x', '      │'],
  );
  t.is(renderServerLine('PASTE #dev bob 8 1/1 just one', plain), '13:30 #dev <bob> just one');
  t.is(renderServerLine('PASTE #dev bob 9 2/3 ask alice', plain), '    » │ ask alice', 'a mention is marked on its line');
  t.is(renderServerLine('PASTE #dev bob 9 x/3 odd', plain), '13:30 PASTE #dev bob 9 x/3 odd', 'a malformed line shows as it came');
});

test('a pasted block in history renders the same way, dim, with its original time', (t) => {
  const colour: RenderContext = { ...plain, colour: true };
  const lines = [
    'HISTORY #dev 41 2026-03-10T07:15:00Z bob PASTE 1/2 first',
    'HISTORY #dev 41 2026-03-10T07:15:00Z bob PASTE 2/2',
  ];
  t.deepEqual(
    lines.map((l) => renderServerLine(l, plain)),
    ['[12:45] #dev <bob> pasted 2 lines:\n      │ first', '      │'],
  );
  t.is(renderServerLine('HISTORY #dev 42 2026-03-10T07:15:00Z bob PASTE 1/1 alone', plain), '[12:45] #dev <bob> alone');
  for (const line of lines) {
    const shown = renderServerLine(line, colour);
    for (const row of shown.split('\n')) t.true(row.startsWith('\x1b[2m'), `every row is dim: ${JSON.stringify(row)}`);
    t.is(stripStyles(shown), renderServerLine(line, plain));
  }
});

test('the client remembers the rooms and nicknames of PASTE lines, for completion', (t) => {
  const state = new ClientState();
  state.apply(parseServerLine('PASTE #code carol 3 1/2 hello')!);
  t.true(state.nicknames().includes('carol'));
  t.true(state.roomNames().includes('#code'));
});
