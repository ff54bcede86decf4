import test from 'ava';
import { parseInput, splitWord } from '../../lib/protocol/parse-input';

test('a plain line is text for the current room', (t) => {
  t.deepEqual(parseInput('hello there'), { kind: 'text', text: 'hello there' });
});

test('trailing whitespace is trimmed from text, leading whitespace kept', (t) => {
  t.deepEqual(parseInput('hi   \t'), { kind: 'text', text: 'hi' });
  t.deepEqual(parseInput('  indented'), { kind: 'text', text: '  indented' });
});

test('"//text" sends the text "/text"', (t) => {
  t.deepEqual(parseInput('//text'), { kind: 'text', text: '/text' });
  t.deepEqual(parseInput('//join #x is how you join'), { kind: 'text', text: '/join #x is how you join' });
  t.deepEqual(parseInput('//'), { kind: 'text', text: '/' });
});

test('a command name is matched case-insensitively (returned lower-case)', (t) => {
  t.deepEqual(parseInput('/JOIN #x'), { kind: 'command', name: 'join', args: '#x' });
  t.deepEqual(parseInput('/Nick Bob'), { kind: 'command', name: 'nick', args: 'Bob' });
});

test('command arguments are trimmed but their case and inner spacing kept', (t) => {
  t.deepEqual(parseInput('/msg   Bob   Hello  World   '), { kind: 'command', name: 'msg', args: 'Bob   Hello  World' });
  t.deepEqual(parseInput('/part\t#Room'), { kind: 'command', name: 'part', args: '#Room' });
});

test('a command without arguments has empty args', (t) => {
  t.deepEqual(parseInput('/help'), { kind: 'command', name: 'help', args: '' });
  t.deepEqual(parseInput('/rooms   '), { kind: 'command', name: 'rooms', args: '' });
});

test('blank lines are ignored', (t) => {
  for (const line of ['', ' ', '   ', '\t', ' \t  ']) t.is(parseInput(line), undefined, JSON.stringify(line));
});

test('"/" alone is a command with an empty name (so the server answers UNKNOWN_COMMAND, not a message)', (t) => {
  t.deepEqual(parseInput('/'), { kind: 'command', name: '', args: '' });
  t.deepEqual(parseInput('/ hello'), { kind: 'command', name: '', args: 'hello' });
});

test('splitWord splits off the first word and trims the rest', (t) => {
  t.deepEqual(splitWord('  #room   the reason  '), { word: '#room', rest: 'the reason' });
  t.deepEqual(splitWord('one'), { word: 'one', rest: '' });
  t.deepEqual(splitWord(''), { word: '', rest: '' });
});
