import test from 'ava';
import type { ExecutionContext } from 'ava';
import { connect, register, type TestClient } from '../helpers/client';
import { startDaemon, type Daemon } from '../helpers/daemon';
import { assertValidEvent } from '../helpers/json-schema';
import { CHAT_EVENT_TYPES } from '../../lib/core/events';

let daemon: Daemon;
test.before(async () => {
  daemon = await startDaemon();
});
test.after.always(async () => {
  await daemon?.stop();
});

type Json = Record<string, unknown>;

/** Parses a received line as a JSON event (undefined when it is not JSON). */
function parse(line: string): Json | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    return JSON.parse(line) as Json;
  } catch {
    return undefined;
  }
}

/** Waits for the next JSON event that has every field of `like`. */
async function waitForEvent(client: TestClient, like: Json): Promise<Json> {
  const line = await client.waitForLine((text) => {
    const event = parse(text);
    return event !== undefined && Object.entries(like).every(([key, value]) => event[key] === value);
  });
  return parse(line)!;
}

/** Connects a bot and switches it to JSON mode before it has a nickname. */
async function jsonBot(nick: string): Promise<TestClient> {
  const bot = await connect(daemon.port);
  bot.send('/format json');
  await waitForEvent(bot, { type: 'reply', command: 'FORMAT', subject: 'json' });
  bot.send(JSON.stringify({ cmd: 'nick', name: nick }));
  await waitForEvent(bot, { type: 'reply', command: 'JOIN', subject: '#lobby' });
  return bot;
}

/** Every line the bot received after switching is one JSON object valid against the published schema. */
function assertAllValid(t: ExecutionContext, bot: TestClient): Set<string> {
  const types = new Set<string>();
  const afterSwitch = bot.lines.slice(1);
  for (const line of afterSwitch) {
    const event = parse(line);
    t.not(event, undefined, `not a JSON line: ${line}`);
    assertValidEvent(t, event);
    types.add(String(event!.type));
  }
  return types;
}

test('a JSON-mode bot and an nc user chat both ways in one room; JSON commands and plain lines both work', async (t) => {
  const bot = await jsonBot('jbot');
  const human = await register(daemon.port, 'jhuman');
  bot.send(JSON.stringify({ cmd: 'join', room: '#jsonroom' }));
  await waitForEvent(bot, { type: 'reply', command: 'JOIN', subject: '#jsonroom' });
  human.send('/join #jsonroom');
  await human.waitForLine('OK JOIN #jsonroom Now talking in #jsonroom.');
  await waitForEvent(bot, { type: 'join', room: '#jsonroom', nick: 'jhuman' });

  human.send('hello bot');
  const message = await waitForEvent(bot, { type: 'message', room: '#jsonroom', from: 'jhuman' });
  t.is(message.text, 'hello bot');
  t.regex(String(message.at), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

  bot.send(JSON.stringify({ cmd: 'say', text: '/not a command' }));
  t.is(await human.waitForLine(/^MSG #jsonroom jbot/), 'MSG #jsonroom jbot /not a command');
  bot.send('a plain line works too');
  t.is(await human.waitForLine(/^MSG #jsonroom jbot/), 'MSG #jsonroom jbot a plain line works too');
  bot.send(JSON.stringify({ cmd: 'msg', nick: 'jhuman', text: 'psst' }));
  t.is(await human.waitForLine(/^PRIVMSG/), 'PRIVMSG jbot psst');
  human.send('/msg jbot "quoted" \\ é ✓ 日本');
  const privateMessage = await waitForEvent(bot, { type: 'private', from: 'jhuman' });
  t.is(privateMessage.text, '"quoted" \\ é ✓ 日本');

  assertAllValid(t, bot);
  bot.end();
  human.end();
});

test('bad JSON commands get typed failures and nothing is posted', async (t) => {
  const bot = await jsonBot('jbad');
  const human = await register(daemon.port, 'jwatch');
  bot.send('{"cmd":"say","text":');
  t.like(await waitForEvent(bot, { type: 'failure' }), { code: 'BAD_JSON' });
  bot.send('{"cmd":"teleport"}');
  t.like(await waitForEvent(bot, { type: 'failure' }), { code: 'UNKNOWN_COMMAND' });
  bot.send('{"cmd":"msg","nick":"jwatch"}');
  t.like(await waitForEvent(bot, { type: 'failure' }), { code: 'BAD_ARGS' });
  bot.send('{"cmd":"join","room":"#a b"}');
  t.like(await waitForEvent(bot, { type: 'failure' }), { code: 'BAD_ARGS' });
  bot.send('[1,2,3]');
  t.is(await human.waitForLine(/^MSG #lobby jbad/), 'MSG #lobby jbad [1,2,3]', 'a line that is not an object is a plain line');
  await human.sync();
  t.deepEqual(human.pending(/^(MSG|PRIVMSG|JOIN)/), [], 'none of the refused commands reached anyone');
  assertAllValid(t, bot);
  bot.end();
  human.end();
});

test('the body of a refused JSON paste is dropped, never run as commands', async (t) => {
  const bot = await jsonBot('jpaster');
  const human = await register(daemon.port, 'jpwatch');
  bot.send(JSON.stringify({ cmd: 'paste', room: '#nowhere', text: '/part #lobby oops\n/nick stolen\nplain words' }));
  const refusal = await waitForEvent(bot, { type: 'failure' });
  t.is(refusal.code, 'NO_SUCH_ROOM');
  bot.send(JSON.stringify({ cmd: 'say', text: 'still here' }));
  t.is(await human.waitForLine(/^MSG #lobby jpaster/), 'MSG #lobby jpaster still here', 'the bot is still in #lobby under its own name');
  await human.sync();
  // Only jpaster's lines: other tests of this file talk in #lobby at the same time.
  t.deepEqual(human.pending(/^(PART #lobby jpaster|NICK jpaster|MSG #lobby jpaster)/), [], 'no body line was posted or run');
  assertAllValid(t, bot);
  bot.end();
  human.end();
});

test('every event type a JSON-mode session can see over TCP is valid against the published schema', async (t) => {
  const bot = await jsonBot('jschema');
  const other = await register(daemon.port, 'jother');
  const steps: Json[] = [
    { cmd: 'join', room: '#schema' },
    { cmd: 'topic', room: '#schema', text: 'Schema day' },
    { cmd: 'say', text: 'stored line' },
    { cmd: 'paste', room: '#schema', text: 'first\nsecond' },
    { cmd: 'history', room: '#schema', n: 5 },
    { cmd: 'search', room: '#schema', text: 'stored' },
    { cmd: 'rooms' },
    { cmd: 'who', room: '#schema' },
    { cmd: 'whois', nick: 'jother' },
    { cmd: 'help', command: 'ping' },
    { cmd: 'ping', token: 'tok' },
  ];
  for (const step of steps) bot.send(JSON.stringify(step));
  await waitForEvent(bot, { type: 'pong', token: 'tok' });
  other.send('/join #schema');
  await waitForEvent(bot, { type: 'join', nick: 'jother' });
  other.send('/msg jschema psst');
  await waitForEvent(bot, { type: 'private', from: 'jother' });
  other.send('/me waves');
  await waitForEvent(bot, { type: 'action', from: 'jother' });
  other.send('/topic #schema Changed');
  await waitForEvent(bot, { type: 'topic', by: 'jother' });
  other.send('/nick jother2');
  await waitForEvent(bot, { type: 'nick', from: 'jother', to: 'jother2' });
  other.send('/part #schema bye');
  await waitForEvent(bot, { type: 'part', nick: 'jother2' });
  const third = await register(daemon.port, 'jthird');
  third.send('/join #schema');
  await waitForEvent(bot, { type: 'join', nick: 'jthird' });
  third.send('/paste');
  third.send('pasted by someone else');
  third.send('.');
  await waitForEvent(bot, { type: 'paste', from: 'jthird' });
  third.send('/quit done');
  await waitForEvent(bot, { type: 'quit', nick: 'jthird' });
  bot.send('/replay off');
  bot.send('{"cmd":"nope"}');
  await waitForEvent(bot, { type: 'failure', code: 'UNKNOWN_COMMAND' });
  bot.send(JSON.stringify({ cmd: 'quit', reason: 'finished' }));
  await waitForEvent(bot, { type: 'bye' });
  await bot.waitClosed();

  const seen = assertAllValid(t, bot);
  // The greeting and server notices are not produced over TCP here: HELLO comes before /format, and
  // nothing in this session provokes a notice. Every other type must have been seen and validated.
  const expected = CHAT_EVENT_TYPES.filter((type) => type !== 'hello' && type !== 'notice');
  t.deepEqual(expected.filter((type) => !seen.has(type)), []);
  other.end();
});

test('/format mychat switches back: the reply and everything after it are mychat lines', async (t) => {
  const bot = await jsonBot('jback');
  bot.send(JSON.stringify({ cmd: 'format', format: 'mychat' }));
  t.is(await bot.waitForLine(/^OK FORMAT/), 'OK FORMAT mychat mychat lines from now on.');
  bot.send('/ping back');
  t.is(await bot.waitForLine(/PONG/), 'PONG back');
  bot.end();
});

test('a JSON command right behind /format json in the same packet is read as JSON; a typed /paste keeps "{" lines verbatim', async (t) => {
  const bot = await connect(daemon.port);
  bot.sendRaw('/format json\r\n{"cmd":"ping","token":"same-read"}\r\n');
  await bot.waitForLine('{"type":"pong","token":"same-read"}');
  bot.send(JSON.stringify({ cmd: 'nick', name: 'jpaste' }));
  await waitForEvent(bot, { type: 'reply', command: 'JOIN', subject: '#lobby' });
  const human = await register(daemon.port, 'jreader');
  bot.sendRaw('/paste\r\n{"cmd":"quit"}\r\n.\r\n');
  t.regex(await human.waitForLine(/^PASTE #lobby jpaste/), /^PASTE #lobby jpaste \S+ 1\/1 \{"cmd":"quit"\}$/);
  t.false(bot.closed, 'the pasted JSON was text, not a command');
  human.end();
  bot.end();
});
