import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ChatCore } from '../../lib/core/chat-core';
import type { ChatEvent, HistoryEvent } from '../../lib/core/events';
import { unstuff } from '../../lib/core/paste-block';
import type { Session } from '../../lib/core/session';
import { inlineQueries } from '../../lib/history/history-reader';
import { SqliteHistoryStore } from '../../lib/history/sqlite-history-store';
import { LIMITS } from '../../lib/protocol/limits';
import type { InputLine } from '../../lib/protocol/line-decoder';
import { silentLogger } from '../../lib/log';
import { codeOf, err, EventSink, msg, ok, textOf } from '../helpers/event-sink';

/** A paste event as take() returns it (without its time). */
const paste = (room: string, from: string, pasteId: string, lines: string[]): ChatEvent => ({ type: 'paste', room, from, pasteId, lines }) as unknown as ChatEvent;

interface User {
  session: Session;
  sink: EventSink;
  /** Sends a line; the Promise (history reads) settles when the command has answered. */
  say(text: string): Promise<void> | undefined;
  input(line: InputLine): void;
  take(): ChatEvent[];
  /** Settles when registration (and the replay of #lobby, read asynchronously) has finished. */
  ready: Promise<void> | undefined;
}

function setup(core: ChatCore) {
  let n = 0;
  return (nick: string): User => {
    const sink = new EventSink();
    const session = core.connect(sink, `192.0.2.${++n}`) as Session;
    const ready = core.handleInput(session, { ok: true, text: nick });
    sink.take();
    return {
      ready,
      session,
      sink,
      say: (text) => core.handleInput(session, { ok: true, text }),
      input: (line) => core.handleInput(session, line),
      take: () => sink.take(),
    };
  };
}

/** A core with a real SQLite history in a temporary directory, removed after the test. */
function withHistory(t: { teardown(fn: () => void): void }) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mychat-core-paste-'));
  const store = new SqliteHistoryStore({ dataDir: dir, sync: 'normal', log: silentLogger });
  const core = new ChatCore({ history: store, historyQueries: inlineQueries(store), historyReplay: 5 });
  t.teardown(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { core, store, user: setup(core) };
}

test('unstuff removes exactly one leading dot', (t) => {
  t.is(unstuff('..'), '.');
  t.is(unstuff('..x'), '.x');
  t.is(unstuff('.x'), 'x');
  t.is(unstuff('x.'), 'x.');
  t.is(unstuff(''), '');
});

test('/paste takes literal lines up to "." and delivers them to the others as one block of PASTE lines', (t) => {
  const core = new ChatCore();
  const user = setup(core);
  const alice = user('alice');
  const bob = user('bob');
  const carol = user('carol');
  carol.say('/part #lobby');
  alice.take();
  bob.take();
  carol.take();

  alice.say('/paste');
  t.deepEqual(alice.take(), [
    ok('PASTE', '#lobby', 'Send the lines, then a line holding only "." to end; a line starting with "." is sent with one more "." in front. Commands are not read until then.'),
  ]);
  for (const line of ['def f(x):', '    return x', '', '/quit not a command', '..', '..x', '\x1b[31mred']) alice.say(line);
  t.deepEqual(bob.take(), [], 'nothing is delivered before the end line');
  t.deepEqual(alice.take(), [], 'lines of a block get no reply');
  t.is(alice.session.state, 'registered', '/quit inside a block is text');
  alice.say('.');
  t.deepEqual(alice.take(), [ok('PASTE', '#lobby', 'Sent 7 lines.')]);
  t.deepEqual(bob.take(), [paste('#lobby', 'alice', '1', ['def f(x):', '    return x', '', '/quit not a command', '.', '.x', '␛[31mred'])]);
  t.deepEqual(carol.take(), [], 'only members of the room receive it');

  // Commands work again, and the next block has the next id.
  alice.say('/ping back');
  t.deepEqual(alice.take(), [{ type: 'pong', token: 'back' }]);
  alice.say('/paste');
  alice.say('again');
  alice.say('.');
  t.deepEqual(alice.take().slice(1), [ok('PASTE', '#lobby', 'Sent 1 line.')]);
  t.deepEqual(bob.take(), [paste('#lobby', 'alice', '2', ['again'])]);
});

test('an empty paste sends nothing and says so', (t) => {
  const core = new ChatCore();
  const user = setup(core);
  const alice = user('alice');
  const bob = user('bob');
  alice.take();
  bob.take();
  alice.say('/paste');
  alice.say('.');
  t.deepEqual(alice.take().slice(1), [ok('PASTE', '#lobby', 'Empty paste; nothing was sent.')]);
  t.deepEqual(bob.take(), []);
});

test('/paste needs a current room, or a named room the user is in', (t) => {
  const core = new ChatCore();
  const user = setup(core);
  const alice = user('alice');
  const bob = user('bob');
  bob.say('/join #other');
  alice.say('/part');
  alice.take();
  bob.take();
  alice.say('/paste');
  t.is(codeOf(alice.take()[0]), 'NO_CURRENT_ROOM');
  alice.say('/paste #other');
  t.deepEqual(alice.take(), [err('NOT_IN_ROOM', 'Join #other to paste into it.')]);
  alice.say('/paste #nowhere');
  t.is(codeOf(alice.take()[0]), 'NO_SUCH_ROOM');
  // Not in paste mode after a refusal: a plain line is a message again.
  alice.say('/join #other');
  alice.take();
  bob.take();
  alice.say('/join #third');
  alice.say('/paste #other');
  alice.take();
  alice.say('to the named room');
  alice.say('.');
  t.deepEqual(alice.take(), [ok('PASTE', '#other', 'Sent 1 line.')]);
  t.deepEqual(bob.take(), [paste('#other', 'alice', '1', ['to the named room'])]);

  const newcomer = core.connect(new EventSink(), '192.0.2.99') as Session;
  const sink = newcomer.sink as EventSink;
  sink.take();
  core.handleInput(newcomer, { ok: true, text: '/paste' });
  t.is(codeOf(sink.take()[0]), 'NICK_REQUIRED');
});

test('a block past the line limit is refused once, the rest up to "." is discarded, and nothing is sent', (t) => {
  const core = new ChatCore();
  const user = setup(core);
  const alice = user('alice');
  const bob = user('bob');
  alice.take();
  bob.take();
  alice.say('/paste');
  alice.take();
  for (let i = 1; i <= LIMITS.maxPasteLines; i++) alice.say(`line ${i}`);
  t.deepEqual(alice.take(), [], 'the limit itself is allowed');
  alice.say('one too many');
  const [refusal, ...rest] = alice.take();
  t.is(codeOf(refusal), 'PASTE_TOO_LONG');
  t.regex(textOf(refusal), /^A paste has at most 100 lines and 16384 bytes/);
  t.deepEqual(rest, []);
  t.deepEqual(alice.session.paste?.lines, [], 'the buffered lines are freed at once');
  for (let i = 0; i < 50; i++) alice.say(`/msg bob discarded ${i}`);
  t.deepEqual(alice.take(), [], 'ERR only once');
  alice.say('.');
  t.deepEqual(alice.take(), [ok('PASTE', '#lobby', 'Paste ended; it was discarded and nothing of it was sent.')]);
  t.deepEqual(bob.take(), []);
  alice.say('hello again');
  t.deepEqual(bob.take(), [msg('#lobby', 'alice', 'hello again')]);
});

test('a block past the byte limit is refused at the line that passes it; exactly the limit is allowed', (t) => {
  const core = new ChatCore();
  const user = setup(core);
  const alice = user('alice');
  const bob = user('bob');
  alice.take();
  bob.take();
  // Four lines of 4095 bytes and the three "\n" between them make 16383 bytes; one more byte is the limit.
  const long = 'x'.repeat(4095);
  alice.say('/paste');
  for (let i = 0; i < 4; i++) alice.say(long);
  alice.say('');
  alice.say('.');
  t.deepEqual(alice.take().slice(1), [ok('PASTE', '#lobby', 'Sent 5 lines.')]);
  const [block, ...others] = bob.take();
  t.is(block?.type === 'paste' ? block.lines.length : 0, 5, 'one paste event of 5 lines');
  t.deepEqual(others, []);

  alice.say('/paste');
  for (let i = 0; i < 4; i++) alice.say(long);
  alice.say('y');
  t.is(codeOf(alice.take()[1]), 'PASTE_TOO_LONG');
  alice.say('.');
  alice.take();
  t.deepEqual(bob.take(), []);
});

test('a line the decoder refused inside a block discards the block with that error', (t) => {
  const core = new ChatCore();
  const user = setup(core);
  const alice = user('alice');
  const bob = user('bob');
  alice.take();
  bob.take();
  alice.say('/paste');
  alice.say('fine');
  alice.input({ ok: false, code: 'LINE_TOO_LONG' });
  alice.input({ ok: false, code: 'BAD_UTF8' });
  alice.say('.');
  const lines = alice.take();
  t.is(lines.length, 3, JSON.stringify(lines));
  t.is(codeOf(lines[1]), 'LINE_TOO_LONG');
  t.regex(textOf(lines[1]), /^The paste had a line of more than 4096 bytes, so it was discarded/);
  t.deepEqual(lines[2], ok('PASTE', '#lobby', 'Paste ended; it was discarded and nothing of it was sent.'));
  t.deepEqual(bob.take(), []);
});

test('a session that disconnects in the middle of a block sends nothing of it', (t) => {
  const core = new ChatCore();
  const user = setup(core);
  const alice = user('alice');
  const bob = user('bob');
  alice.take();
  bob.take();
  alice.say('/paste');
  alice.say('half of');
  alice.say('a paste');
  core.disconnect(alice.session, 'Connection closed');
  alice.say('.');
  t.deepEqual(bob.take(), [{ type: 'quit', nick: 'alice', reason: 'Connection closed' }]);
});

test('inputCost: 1 for ordinary lines, 0 inside a block, 1 per 20 lines for its end, 1 for discarded lines', (t) => {
  const core = new ChatCore();
  const user = setup(core);
  const alice = user('alice');
  const cost = (text: string): number => core.inputCost(alice.session, text);
  t.is(cost('hello'), 1);
  t.is(cost('.'), 1);
  t.is(cost('/paste'), 1);
  alice.say('/paste');
  t.is(cost('/quit'), 0);
  t.is(cost('.'), 1, 'an empty block still costs one line');
  for (let i = 0; i < 20; i++) alice.say('x');
  t.is(cost('.'), 1);
  alice.say('x');
  t.is(cost('.'), 2);
  for (let i = 21; i < LIMITS.maxPasteLines; i++) alice.say('x');
  t.is(cost('.'), 5, 'the largest block costs 5');
  t.is(cost('one too many'), 0);
  alice.say('one too many');
  t.is(cost('discarded'), 1, 'after the block failed, lines cost like any other');
  t.is(cost('.'), 1);
  alice.say('.');
  t.is(cost('hello'), 1);
});

test('a paste is stored as one history entry and replayed and searched as its lines', async (t) => {
  const { store, user } = withHistory(t);
  const alice = user('alice');
  alice.say('before');
  alice.say('/paste');
  for (const line of ['first pasted', '', '..dotted']) alice.say(line);
  alice.say('.');
  alice.say('after');
  store.commit();
  t.deepEqual(
    store.recent('#lobby', 10).map((e) => [e.kind, e.text]),
    [
      ['MSG', 'before'],
      ['PASTE', 'first pasted\n\n.dotted'],
      ['MSG', 'after'],
    ],
  );
  const id = store.recent('#lobby', 10)[1]!.id;
  const bob = user('bob');
  await bob.ready;
  bob.take();
  await bob.say('/history #lobby');
  const history = bob.take().flatMap((e) => (e.type === 'history' ? [e] : []));
  const entry = (entryId: number, kind: HistoryEvent['kind'], text: string): [number, string, string, string, string] => [entryId, '#lobby', 'alice', kind, text];
  const fields = (e: HistoryEvent): [number, string, string, string, string] => [e.id, e.room, e.from, e.kind, e.text];
  // One event per entry: the paste keeps its lines together (codecs split them, e.g. mychat's i/n lines).
  t.deepEqual(history.map(fields), [entry(id - 1, 'MSG', 'before'), entry(id, 'PASTE', 'first pasted\n\n.dotted'), entry(id + 1, 'MSG', 'after')]);
  await bob.say('/search #lobby dotted');
  const found = bob.take();
  t.deepEqual(found.flatMap((e) => (e.type === 'history' ? [fields(e)] : [])), [entry(id, 'PASTE', 'first pasted\n\n.dotted')]);
  t.true(found.some((e) => e.type === 'history-end' && e.room === '#lobby' && e.count === 1 && e.text === '1 match, newest first.'), 'the count is of entries, not lines');
});
