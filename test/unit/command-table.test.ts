import test from 'ava';
import { bindCommands, CommandTable, parseArgs, usageOf, type CommandSpec } from '../../lib/core/command-table';
import { commandHandlers, defaultCommands } from '../../lib/core/commands';
import { COMMAND_CATALOGUE } from '../../lib/protocol/command-catalogue';
import { ChatError } from '../../lib/protocol/errors';

const table = new CommandTable(defaultCommands);
const spec = (name: string): CommandSpec => {
  const found = table.lookup(name);
  if (!found) throw new Error(`no /${name}`);
  return found;
};

const noop = (): void => undefined;
const make = (name: string, args: CommandSpec['args'], aliases?: string[]): CommandSpec => ({
  name,
  args,
  help: 'test',
  states: ['registered'],
  run: noop,
  ...(aliases ? { aliases } : {}),
});

/** parseArgs with absent (undefined) optional arguments left out, for deepEqual. */
function parsed(s: CommandSpec, raw: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(parseArgs(s, raw))) if (value !== undefined) out[key] = value;
  return out;
}

/** Runs parseArgs and returns the ChatError it throws. */
function badArgs(t: import('ava').ExecutionContext, s: CommandSpec, raw: string): ChatError {
  const error = t.throws(() => parseArgs(s, raw), { instanceOf: ChatError });
  return error as ChatError;
}

// ---- usage ----

test('usageOf derives the usage from the declared args: required bare, optional in brackets', (t) => {
  t.is(usageOf(spec('part')), '/part [#ROOM] [REASON]');
  t.is(usageOf(spec('msg')), '/msg NICK TEXT');
  t.is(usageOf(spec('join')), '/join #ROOM');
  t.is(usageOf(spec('topic')), '/topic #ROOM [TEXT]');
  t.is(usageOf(make('clear', [])), '/clear');
  t.is(usageOf(spec('rooms')), '/rooms [WORD]');
});

// ---- parseArgs ----

test('parseArgs maps words and the trailing text to their names', (t) => {
  t.deepEqual(parsed(spec('msg'), 'Bob  hello   there'), { NICK: 'Bob', TEXT: 'hello   there' });
  t.deepEqual(parsed(spec('join'), '  #room  '), { '#ROOM': '#room' });
  t.deepEqual(parsed(make('clear', []), ''), {});
});

test('a missing required argument is BAD_ARGS, and the message shows the usage', (t) => {
  for (const [name, raw] of [['join', ''], ['msg', 'Bob'], ['msg', ''], ['nick', '   '], ['whois', '']] as const) {
    const error = badArgs(t, spec(name), raw);
    t.is(error.code, 'BAD_ARGS');
    t.true(error.message.includes(usageOf(spec(name))), error.message);
  }
});

test('an optional room is only taken when the word starts with #', (t) => {
  t.deepEqual(parsed(spec('part'), 'bye all'), { REASON: 'bye all' });
  t.deepEqual(parsed(spec('part'), '#x bye all'), { '#ROOM': '#x', REASON: 'bye all' });
  t.deepEqual(parsed(spec('part'), '#x'), { '#ROOM': '#x' });
  t.deepEqual(parsed(spec('part'), ''), {});
  t.deepEqual(parsed(spec('who'), '#x'), { '#ROOM': '#x' });
});

test('an optional room not starting with # leaves the argument list, so a stray word is rejected', (t) => {
  // /who takes only an optional room: "/who lobby" is not "/who #lobby" silently.
  const error = badArgs(t, spec('who'), 'lobby');
  t.is(error.code, 'BAD_ARGS');
  t.true(error.message.includes('/who [#ROOM]'));
});

test('extra arguments are rejected with BAD_ARGS', (t) => {
  for (const [name, raw] of [['join', '#a #b'], ['whois', 'bob carol'], ['rooms', 'x y'], ['nick', 'two words'], ['help', 'a b']] as const) {
    const error = badArgs(t, spec(name), raw);
    t.is(error.code, 'BAD_ARGS', `${name} ${raw}`);
    t.regex(error.message, /^Usage: \//);
  }
});

test('an optional text argument is absent when empty', (t) => {
  t.deepEqual(parsed(spec('quit'), ''), {});
  t.deepEqual(parsed(spec('quit'), 'gone fishing'), { REASON: 'gone fishing' });
  t.deepEqual(parsed(spec('topic'), '#x'), { '#ROOM': '#x' });
});

// ---- the table ----

test('lookup finds commands by name and by alias', (t) => {
  t.is(table.lookup('j'), spec('join'));
  t.is(table.lookup('leave'), spec('part'));
  t.is(table.lookup('?'), spec('help'));
  t.is(table.lookup('nosuch'), undefined);
});

test('a table with a duplicate name or alias throws', (t) => {
  t.throws(() => new CommandTable([make('a', []), make('a', [])]), { message: /duplicate.*\/a/ });
  t.throws(() => new CommandTable([make('a', []), make('b', [], ['a'])]), { message: /duplicate/ });
  t.throws(() => new CommandTable([make('a', [], ['x']), make('b', [], ['x'])]), { message: /duplicate/ });
  t.notThrows(() => new CommandTable([make('a', [], ['x']), make('b', [], ['y'])]));
});

test('every default command has help text, states, a lower-case unique name, and sane args', (t) => {
  const names = new Set<string>();
  for (const command of defaultCommands) {
    t.regex(command.name, /^[a-z]+$/, command.name);
    t.false(names.has(command.name), `duplicate ${command.name}`);
    names.add(command.name);
    t.true(command.help.trim().length > 10, `/${command.name} needs help text`);
    t.true(command.states.length > 0, `/${command.name} needs states`);
    // A text argument swallows the rest of the line, so it must come last.
    const textAt = command.args.findIndex((arg) => arg.kind === 'text');
    t.true(textAt < 0 || textAt === command.args.length - 1, `/${command.name}: text arg must be last`);
    // A required argument after an optional one would be unreachable.
    const firstOptional = command.args.findIndex((arg) => arg.optional);
    t.true(firstOptional < 0 || command.args.slice(firstOptional).every((arg) => arg.optional), `/${command.name}: required after optional`);
  }
  t.notThrows(() => new CommandTable(defaultCommands));
});

test('the commands a newcomer needs are usable before registration; the rest are not', (t) => {
  for (const name of ['nick', 'help', 'ping', 'quit']) t.true(spec(name).states.includes('awaiting-nick'), name);
  for (const name of ['join', 'part', 'msg', 'me', 'topic', 'rooms', 'who', 'whois']) t.false(spec(name).states.includes('awaiting-nick'), name);
});

test('the daemon has exactly one handler per catalogue command, and start-up refuses a missing or unknown one', (t) => {
  t.deepEqual(Object.keys(commandHandlers).sort(), COMMAND_CATALOGUE.map((info) => info.name).sort());
  t.deepEqual(
    defaultCommands.map((spec) => spec.name),
    COMMAND_CATALOGUE.map((info) => info.name),
  );
  const withoutPing = Object.fromEntries(Object.entries(commandHandlers).filter(([name]) => name !== 'ping'));
  t.throws(() => bindCommands(COMMAND_CATALOGUE, withoutPing), { message: 'no handler for /ping' });
  t.throws(() => bindCommands(COMMAND_CATALOGUE, { ...commandHandlers, frobnicate: noop }), { message: 'handler for unknown command /frobnicate' });
});
