import test from 'ava';
import { ALL_COMMANDS, completeLine, MAX_CANDIDATES, type CompletionSources } from '../../lib/client/completion';
import { defaultCommands } from '../../lib/core/commands';

const sources: CompletionSources = {
  commands: ALL_COMMANDS,
  nicks: ['bob', 'Bobby', 'carol', 'Zoë'],
  rooms: ['#lobby', '#dev', '#Design', '#ops'],
};

function complete(line: string, from: CompletionSources = sources): [string[], string] {
  return completeLine(line, from);
}

test('a command prefix completes to the command and a space', (t) => {
  t.deepEqual(complete('/jo'), [['/join '], '/jo']);
  t.deepEqual(complete('/wh'), [['/who ', '/whois '], '/wh']);
  t.deepEqual(complete('/JO'), [['/join '], '/JO'], 'commands are case-insensitive on the server, so here too');
  t.deepEqual(complete('/nosuch'), [[], '/nosuch']);
});

test('"/" then Tab offers every server command and the client\'s own, but not the aliases', (t) => {
  const [all] = complete('/');
  for (const spec of defaultCommands) t.true(all.includes(`/${spec.name} `), spec.name);
  t.true(all.includes('/clear '));
  t.true(all.includes('/say '));
  t.false(all.includes('/j '), 'aliases would only make every prefix ambiguous');
});

test('a nickname prefix at the start of a line completes to "nick: " (addressing someone)', (t) => {
  t.deepEqual(complete('car'), [['carol: '], 'car']);
  t.deepEqual(complete('bo'), [['bob: ', 'Bobby: '], 'bo']);
  t.deepEqual(complete('zo'), [['Zoë: '], 'zo'], 'matching ignores case and keeps the real spelling');
});

test('a nickname later in a line completes with a plain space', (t) => {
  t.deepEqual(complete('thanks car'), [['carol '], 'car']);
  t.deepEqual(complete('/me hugs BOBB'), [['Bobby '], 'BOBB']);
});

test('a word starting with # completes a room name, anywhere in the line', (t) => {
  t.deepEqual(complete('see #d'), [['#Design ', '#dev '], '#d']);
  t.deepEqual(complete('/part #op'), [['#ops '], '#op']);
});

test('the first argument completes what the command expects there', (t) => {
  t.deepEqual(complete('/join l'), [['#lobby '], 'l'], 'a room, even without typing the #');
  t.deepEqual(complete('/j #lo'), [['#lobby '], '#lo'], 'aliases are understood');
  t.deepEqual(complete('/msg ca'), [['carol '], 'ca']);
  t.deepEqual(complete('/whois '), [['bob ', 'Bobby ', 'carol ', 'Zoë '], ''], 'an empty nickname argument lists everyone seen');
  t.deepEqual(complete('/help jo'), [['join '], 'jo']);
  t.deepEqual(complete('/help /sea'), [['search '], '/sea']);
});

test('Tab does nothing where nothing can be known', (t) => {
  t.deepEqual(complete(''), [[], '']);
  t.deepEqual(complete('hello '), [[], '']);
  t.deepEqual(complete('//jo'), [[], '//jo'], '//text is a message, not a command');
  t.deepEqual(complete('xyz'), [[], 'xyz']);
});

test('a huge list of names is cut to a bounded number of candidates', (t) => {
  const many: CompletionSources = { ...sources, nicks: Array.from({ length: 5000 }, (_, i) => `user${i}`) };
  t.is(complete('/msg u', many)[0].length, MAX_CANDIDATES);
});
