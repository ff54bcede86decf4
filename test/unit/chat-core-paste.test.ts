import { MYCHAT_CODEC } from '../../lib/codec/mychat-codec';
import type { ChatEvent } from '../../lib/core/events';
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ChatCore } from '../../lib/core/chat-core';
import { unstuff } from '../../lib/core/paste-block';
import type { Session } from '../../lib/core/session';
import type { ClientSink } from '../../lib/core/ports/client-sink';
import { inlineQueries } from '../../lib/history/history-reader';
import { SqliteHistoryStore } from '../../lib/history/sqlite-history-store';
import { LIMITS } from '../../lib/protocol/limits';
import type { InputLine } from '../../lib/protocol/line-decoder';
import { silentLogger } from '../../lib/log';

/** A sink that records every line as a string (checking it is exactly one CRLF line). */
class RecordingSink implements ClientSink {
  lines: string[] = [];
  closed = false;
  deliver(event: ChatEvent): void {
    const text = MYCHAT_CODEC.encode(event).toString('utf8');
    for (const line of text.split(/(?<=\r\n)/)) this.send(Buffer.from(line, 'utf8'));
  }

  send(line: Buffer): void {
    const s = line.toString('utf8');
    if (!s.endsWith('\r\n') || s.indexOf('\r\n') !== s.length - 2) throw new Error(`not one CRLF line: ${JSON.stringify(s)}`);
    this.lines.push(s.slice(0, -2));
  }
  close(): void {
    this.closed = true;
  }
  take(): string[] {
    const out = this.lines;
    this.lines = [];
    return out;
  }
}

interface User {
  session: Session;
  sink: RecordingSink;
  /** Sends a line; the Promise (history reads) settles when the command has answered. */
  say(text: string): Promise<void> | undefined;
  input(line: InputLine): void;
  take(): string[];
  /** Settles when registration (and the replay of #lobby, read asynchronously) has finished. */
  ready: Promise<void> | undefined;
}

function setup(core: ChatCore) {
  let n = 0;
  return (nick: string): User => {
    const sink = new RecordingSink();
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
    'OK PASTE #lobby Send the lines, then a line holding only "." to end; a line starting with "." is sent with one more "." in front. Commands are not read until then.',
  ]);
  for (const line of ['def f(x):', '    return x', '', '/quit not a command', '..', '..x', '\x1b[31mred']) alice.say(line);
  t.deepEqual(bob.take(), [], 'nothing is delivered before the end line');
  t.deepEqual(alice.take(), [], 'lines of a block get no reply');
  t.is(alice.session.state, 'registered', '/quit inside a block is text');
  alice.say('.');
  t.deepEqual(alice.take(), ['OK PASTE #lobby Sent 7 lines.']);
  t.deepEqual(bob.take(), [
    'PASTE #lobby alice 1 1/7 def f(x):',
    'PASTE #lobby alice 1 2/7     return x',
    'PASTE #lobby alice 1 3/7',
    'PASTE #lobby alice 1 4/7 /quit not a command',
    'PASTE #lobby alice 1 5/7 .',
    'PASTE #lobby alice 1 6/7 .x',
    'PASTE #lobby alice 1 7/7 ␛[31mred',
  ]);
  t.deepEqual(carol.take(), [], 'only members of the room receive it');

  // Commands work again, and the next block has the next id.
  alice.say('/ping back');
  t.deepEqual(alice.take(), ['PONG back']);
  alice.say('/paste');
  alice.say('again');
  alice.say('.');
  t.deepEqual(alice.take().slice(1), ['OK PASTE #lobby Sent 1 line.']);
  t.deepEqual(bob.take(), ['PASTE #lobby alice 2 1/1 again']);
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
  t.deepEqual(alice.take().slice(1), ['OK PASTE #lobby Empty paste; nothing was sent.']);
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
  t.is(alice.take()[0]?.split(' ')[1], 'NO_CURRENT_ROOM');
  alice.say('/paste #other');
  t.deepEqual(alice.take(), ['ERR NOT_IN_ROOM Join #other to paste into it.']);
  alice.say('/paste #nowhere');
  t.is(alice.take()[0]?.split(' ')[1], 'NO_SUCH_ROOM');
  // Not in paste mode after a refusal: a plain line is a message again.
  alice.say('/join #other');
  alice.take();
  bob.take();
  alice.say('/join #third');
  alice.say('/paste #other');
  alice.take();
  alice.say('to the named room');
  alice.say('.');
  t.deepEqual(alice.take(), ['OK PASTE #other Sent 1 line.']);
  t.deepEqual(bob.take(), ['PASTE #other alice 1 1/1 to the named room']);

  const newcomer = core.connect(new RecordingSink(), '192.0.2.99') as Session;
  const sink = newcomer.sink as RecordingSink;
  sink.take();
  core.handleInput(newcomer, { ok: true, text: '/paste' });
  t.is(sink.take()[0]?.split(' ')[1], 'NICK_REQUIRED');
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
  const [err, ...rest] = alice.take();
  t.regex(err ?? '', /^ERR PASTE_TOO_LONG A paste has at most 100 lines and 16384 bytes/);
  t.deepEqual(rest, []);
  t.deepEqual(alice.session.paste?.lines, [], 'the buffered lines are freed at once');
  for (let i = 0; i < 50; i++) alice.say(`/msg bob discarded ${i}`);
  t.deepEqual(alice.take(), [], 'ERR only once');
  alice.say('.');
  t.deepEqual(alice.take(), ['OK PASTE #lobby Paste ended; it was discarded and nothing of it was sent.']);
  t.deepEqual(bob.take(), []);
  alice.say('hello again');
  t.deepEqual(bob.take(), ['MSG #lobby alice hello again']);
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
  t.deepEqual(alice.take().slice(1), ['OK PASTE #lobby Sent 5 lines.']);
  t.is(bob.take().length, 5);

  alice.say('/paste');
  for (let i = 0; i < 4; i++) alice.say(long);
  alice.say('y');
  t.regex(alice.take()[1] ?? '', /^ERR PASTE_TOO_LONG /);
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
  t.is(lines.length, 3, lines.join('\n'));
  t.regex(lines[1]!, /^ERR LINE_TOO_LONG The paste had a line of more than 4096 bytes, so it was discarded/);
  t.regex(lines[2]!, /^OK PASTE #lobby Paste ended; it was discarded/);
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
  t.deepEqual(bob.take(), ['QUIT alice Connection closed']);
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
  const history = bob.take().filter((l) => l.startsWith('HISTORY '));
  const strip = (l: string): string => l.replace(/^(HISTORY #lobby \d+) \S+Z/, '$1 TIME');
  t.deepEqual(history.map(strip), [
    expect(id - 1, 'MSG before'),
    `HISTORY #lobby ${id} TIME alice PASTE 1/3 first pasted`,
    `HISTORY #lobby ${id} TIME alice PASTE 2/3`,
    `HISTORY #lobby ${id} TIME alice PASTE 3/3 .dotted`,
    expect(id + 1, 'MSG after'),
  ]);
  await bob.say('/search #lobby dotted');
  const found = bob.take();
  t.deepEqual(found.filter((l) => l.startsWith('HISTORY ')).map(strip), history.slice(1, 4).map(strip));
  t.true(found.includes('HISTEND #lobby 1 1 match, newest first.'), 'HISTEND counts entries, not lines');

  function expect(entryId: number, rest: string): string {
    return `HISTORY #lobby ${entryId} TIME alice ${rest}`;
  }
});
