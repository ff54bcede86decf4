import test from 'ava';
import { encodeLine, FIELD_COUNT, formatLine, KEYWORDS, parseServerLine } from '../../lib/protocol/server-lines';

test('encodeLine produces one UTF-8 line ending in CRLF', (t) => {
  const line = encodeLine('MSG', ['#lobby', 'Zoë'], 'hello 😀');
  t.true(Buffer.isBuffer(line));
  t.is(line.toString('utf8'), 'MSG #lobby Zoë hello 😀\r\n');
  t.deepEqual([...line.subarray(-2)], [0x0d, 0x0a]);
  t.is(line.toString('utf8').indexOf('\r\n'), line.toString('utf8').length - 2);
});

test('encodeLine leaves out empty free text (no trailing space)', (t) => {
  t.is(encodeLine('BYE', []).toString(), 'BYE\r\n');
  t.is(encodeLine('ROOM', ['#x', '0'], '').toString(), 'ROOM #x 0\r\n');
});

test('FIELD_COUNT covers every keyword', (t) => {
  for (const keyword of KEYWORDS) t.true(Number.isInteger(FIELD_COUNT[keyword]), keyword);
  t.is(Object.keys(FIELD_COUNT).length, KEYWORDS.length);
});

test('parseServerLine round-trips every keyword, with free text that contains spaces', (t) => {
  for (const keyword of KEYWORDS) {
    const fields = Array.from({ length: FIELD_COUNT[keyword] }, (_, i) => `f${i}`);
    const text = 'some free  text: with spaces';
    const wire = encodeLine(keyword, fields, text).toString('utf8');
    t.deepEqual(parseServerLine(wire.slice(0, -2)), { keyword, fields, text }, keyword);
  }
});

test('parseServerLine round-trips every keyword without free text', (t) => {
  for (const keyword of KEYWORDS) {
    const fields = Array.from({ length: FIELD_COUNT[keyword] }, (_, i) => `x${i}`);
    t.deepEqual(parseServerLine(formatLine(keyword, fields)), { keyword, fields, text: '' }, keyword);
  }
});

test('parseServerLine takes exactly FIELD_COUNT fields, the rest is text', (t) => {
  t.deepEqual(parseServerLine('ERR NICK_IN_USE The nickname Bob is taken; pick another.'), {
    keyword: 'ERR',
    fields: ['NICK_IN_USE'],
    text: 'The nickname Bob is taken; pick another.',
  });
  t.deepEqual(parseServerLine('NOTICE Welcome to the server'), { keyword: 'NOTICE', fields: [], text: 'Welcome to the server' });
});

test('an unknown keyword is not a server line', (t) => {
  t.is(parseServerLine('HELO x'), undefined);
  t.is(parseServerLine('msg #lobby bob hi'), undefined);
  t.is(parseServerLine(''), undefined);
  t.is(parseServerLine('PRIVMSGX bob hi'), undefined);
});
