import test from 'ava';
import type { ChatEvent } from '../../lib/core/events';
import { formatJsonEvent, jsonCodec } from '../../lib/codec/json-codec';

const AT = Date.UTC(2026, 11, 2, 10, 0, 0, 0);

const lineOf = (event: ChatEvent): string => jsonCodec().encode(event).toString('utf8');

test('a message is one JSON object with a type field, typed fields and a CRLF end', (t) => {
  const line = lineOf({ type: 'message', room: '#dev', from: 'bob', id: 1042, at: AT, text: 'hi' });
  t.is(line, '{"type":"message","room":"#dev","from":"bob","id":1042,"at":"2026-12-02T10:00:00.000Z","text":"hi"}\r\n');
});

test('times are ISO 8601 UTC with milliseconds, numbers stay numbers, arrays stay arrays', (t) => {
  const whois = JSON.parse(lineOf({ type: 'whois', nick: 'bob', rooms: ['#a', '#b'], connectedAt: AT + 7, idleSeconds: 42 }));
  t.deepEqual(whois, { type: 'whois', nick: 'bob', rooms: ['#a', '#b'], connectedAt: '2026-12-02T10:00:00.007Z', idleSeconds: 42 });
  const paste = JSON.parse(lineOf({ type: 'paste', room: '#a', from: 'bob', pasteId: 'p1', lines: ['one', '', 'three'], at: AT }));
  t.deepEqual(paste.lines, ['one', '', 'three']);
  const end = JSON.parse(lineOf({ type: 'history-end', room: '#a', count: 0, text: 'No history.' }));
  t.is(end.count, 0);
});

test('a message that was not stored has no id field', (t) => {
  const object = JSON.parse(lineOf({ type: 'message', room: '#dev', from: 'bob', at: AT, text: 'hi' }));
  t.false('id' in object);
});

test('only the documented fields are written, whatever else the event object carries', (t) => {
  const event = { type: 'notice', text: 'hello', internal: 'secret' } as unknown as ChatEvent;
  t.is(formatJsonEvent(event), '{"type":"notice","text":"hello"}');
});

test('text with line breaks, separators, NUL and ESC stays on one line and reads back unchanged', (t) => {
  const text = 'a\nb\rc\u2028d\u2029e\u0085f\u0000g\u001b[31mh\ud800i';
  const line = lineOf({ type: 'private', from: 'bob', at: AT, text });
  const body = line.slice(0, -2);
  t.true(line.endsWith('\r\n'));
  // No character of the body may end a line for any common line splitter.
  // eslint-disable-next-line no-control-regex
  t.deepEqual(body.split(/\r\n|[\n\r\u000b\u000c\u001c-\u001e\u0085\u2028\u2029]/u), [body]);
  t.true(/^[\x20-\x7e]*$/u.test(body), 'the escaped body is printable ASCII here');
  t.is(JSON.parse(body).text, text);
});

test('non-ASCII text is written as UTF-8, not escaped', (t) => {
  const bytes = jsonCodec().encode({ type: 'notice', text: 'héllo ☃' });
  t.is(bytes.toString('utf8'), '{"type":"notice","text":"héllo ☃"}\r\n');
});

test('a broadcast event is encoded once per codec: the same object gives the same buffer', (t) => {
  const codec = jsonCodec();
  t.is(codec.name, 'json');
  const event: ChatEvent = { type: 'join', room: '#dev', nick: 'bob' };
  const first = codec.encode(event);
  t.is(codec.encode(event), first);
  const other = codec.encode({ type: 'join', room: '#dev', nick: 'bob' });
  t.not(other, first);
  t.deepEqual(other, first);
});
