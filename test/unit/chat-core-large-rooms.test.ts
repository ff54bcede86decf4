import test from 'ava';
import { ChatCore, type ChatCoreOptions } from '../../lib/core/chat-core';
import type { ChatEvent } from '../../lib/core/events';
import type { Session } from '../../lib/core/session';
import { LIMITS } from '../../lib/protocol/limits';
import { FakeClock } from '../helpers/fake-clock';
import { codeOf, EventSink, names, ok, roomInfo, textOf } from '../helpers/event-sink';

interface Client {
  session: Session;
  say(line: string): void;
  /** Events received since the last take (without their time). */
  take(): ChatEvent[];
}

/** A core on a fake clock with a large-room threshold of 3 unless told otherwise. */
function world(options: Partial<ChatCoreOptions> = {}) {
  const clock = new FakeClock();
  const core = new ChatCore({ clock, largeRoom: 3, ...options });
  const connect = (): Client => {
    const sink = new EventSink();
    const session = core.connect(sink, '192.0.2.1')!;
    return { session, say: (line) => core.handleInput(session, { ok: true, text: line }), take: () => sink.take() };
  };
  /** Registers `nick`; the welcome lines are left to read. */
  const user = (nick: string): Client => {
    const c = connect();
    c.take(); // HELLO
    c.say(nick);
    return c;
  };
  return { core, clock, connect, user };
}

const drain = (...clients: Client[]): void => clients.forEach((c) => c.take());
const types = (events: ChatEvent[]): string[] => events.map((e) => e.type);

test('the joiner that makes a room large gets ROOM and a NOTICE pointing to /who, no NAMES; the members get no JOIN', (t) => {
  const w = world();
  const [a, b, c] = ['a', 'b', 'c'].map((nick) => w.user(nick));
  drain(a!, b!, c!);
  const d = w.user('d');
  const welcome = d.take();
  t.deepEqual(
    welcome.filter((e) => e.type !== 'reply'),
    [
      roomInfo('#lobby', 4),
      {
        type: 'notice',
        text: `#lobby is a large room (4 members, more than 3): joins, parts, quits and nickname changes are not shown in it, and /who #lobby lists its members, ${LIMITS.maxWhoNames} at a time.`,
      },
    ],
  );
  t.deepEqual(welcome[welcome.length - 1], ok('JOIN', '#lobby', 'Now talking in #lobby.'));
  for (const member of [a!, b!, c!]) t.deepEqual(member.take(), [], 'no JOIN for the 4th member');
});

test('up to the threshold a room gets every JOIN and the joiner every name', (t) => {
  const w = world();
  const a = w.user('a');
  const b = w.user('b');
  drain(a, b);
  const c = w.user('c');
  t.deepEqual(a.take(), [{ type: 'join', room: '#lobby', nick: 'c' }]);
  t.deepEqual(
    c.take().filter((e) => e.type === 'room' || e.type === 'names'),
    [roomInfo('#lobby', 3), names('#lobby', 'a', 'b', 'c')],
  );
  t.deepEqual(b.take().map((e) => e.type), ['join']);
});

test('in a large room /part, /quit and /nick are not told to its members, while a small room shared with the user hears all three', (t) => {
  const w = world();
  const users = ['a', 'b', 'c', 'd', 'e'].map((nick) => w.user(nick));
  const [a, b, , , e] = users as [Client, Client, Client, Client, Client];
  // b and e also share a small room.
  b.say('/join #small');
  e.say('/join #small');
  drain(...users);

  e.say('/nick eve');
  t.deepEqual(a.take(), [], 'no NICK through the large #lobby');
  t.deepEqual(b.take(), [{ type: 'nick', from: 'e', to: 'eve' }], 'NICK through #small');
  t.deepEqual(e.take(), [ok('NICK', 'eve', 'You are now known as eve.')]);

  e.say('/part #lobby bye');
  t.deepEqual(a.take(), [], 'no PART in the large #lobby');
  t.deepEqual(b.take(), []);
  t.deepEqual(types(e.take()), ['reply'], 'the parter still gets OK PART');

  e.say('/join #lobby');
  t.deepEqual(a.take(), [], 'no JOIN in the large #lobby');
  t.deepEqual(b.take(), []);
  e.take();

  e.say('/quit gone');
  t.deepEqual(a.take(), [], 'no QUIT to someone who only shares the large #lobby');
  t.deepEqual(b.take(), [{ type: 'quit', nick: 'eve', reason: 'Quit: gone' }], 'QUIT to a member of #small, once');
});

test('messages, actions and topics still reach every member of a large room', (t) => {
  const w = world();
  const users = ['a', 'b', 'c', 'd'].map((nick) => w.user(nick));
  drain(...users);
  users[0]!.say('hello all');
  users[0]!.say('/topic #lobby Big');
  for (const other of users.slice(1)) t.deepEqual(types(other.take()), ['message', 'topic']);
});

test('when a large room shrinks back to the threshold its events are shown again, and a new joiner gets the names', (t) => {
  const w = world();
  const users = ['a', 'b', 'c', 'd'].map((nick) => w.user(nick));
  const [a, b, c, d] = users as [Client, Client, Client, Client];
  drain(...users);
  // The 4th member leaving is judged with them in (4 > 3): as quiet as their join was.
  d.say('/part');
  t.deepEqual(a.take(), []);
  // Now 3 members: not large; the next departure is told.
  c.say('/part #lobby later');
  t.deepEqual(a.take(), [{ type: 'part', room: '#lobby', nick: 'c', reason: 'later' }]);
  t.deepEqual(b.take(), [{ type: 'part', room: '#lobby', nick: 'c', reason: 'later' }]);
  c.say('/join #lobby');
  t.deepEqual(a.take(), [{ type: 'join', room: '#lobby', nick: 'c' }]);
  t.deepEqual(
    c.take().filter((e) => e.type === 'names'),
    [names('#lobby', 'a', 'b', 'c')],
  );
});

test('--large-room 0 never makes a room large; a reload applies a new threshold at once', (t) => {
  const w = world({ largeRoom: 0 });
  const users = ['a', 'b', 'c', 'd', 'e'].map((nick) => w.user(nick));
  t.deepEqual(types(users[0]!.take()).filter((type) => type === 'join'), ['join', 'join', 'join', 'join']);
  t.true(users[4]!.take().some((e) => e.type === 'names'));
  w.core.reconfigure({ largeRoom: 4 });
  users[4]!.say('/part');
  t.deepEqual(users[0]!.take(), [], '5 members > 4: the part is quiet');
  w.core.reconfigure({ largeRoom: 0 });
  users[3]!.say('/part');
  t.deepEqual(types(users[0]!.take()), ['part']);
});

test('/who in a large room lists one bounded page at a time, says how to get the next, and refuses page 0', (t) => {
  const w = world({ maxPerAddress: 0 });
  const count = LIMITS.maxWhoNames * 2 + 5;
  const users = Array.from({ length: count }, (_, i) => w.user(`u${i}`));
  const asker = users[0]!;
  drain(...users);
  const page = (line: string): { nicks: string[]; end: ChatEvent | undefined } => {
    asker.say(line);
    const events = asker.take();
    return { nicks: events.flatMap((e) => (e.type === 'names' ? e.nicks : [])), end: events[events.length - 1] };
  };
  const first = page('/who #lobby');
  t.is(first.nicks.length, LIMITS.maxWhoNames);
  t.deepEqual(first.end, ok('WHO', '#lobby', `${count} in #lobby: page 1 of 3; /who #lobby 2 for more.`));
  const second = page('/who #lobby 2');
  const third = page('/who #lobby 3');
  t.deepEqual(third.end, ok('WHO', '#lobby', `${count} in #lobby: page 3 of 3.`));
  t.deepEqual([...first.nicks, ...second.nicks, ...third.nicks].sort(), users.map((u) => u.session.nick).sort(), 'the pages together list everyone once');
  const past = page('/who #lobby 4');
  t.deepEqual(past, { nicks: [], end: ok('WHO', '#lobby', `${count} in #lobby: page 4 is past the last one, 3.`) });
  const everyone = page('/who 3');
  t.is(everyone.nicks.length, 5);
  t.deepEqual(everyone.end, ok('WHO', '*', `${count} online: page 3 of 3.`));
  asker.say('/who #lobby 0');
  const refused = asker.take();
  t.is(codeOf(refused[0]), 'BAD_ARGS');
  t.regex(textOf(refused[0]), /count from 1/);
});

test('--auto-join "" registers with OK NICK and joins nothing; --auto-join #start joins #start, which exists from the start', (t) => {
  const off = world({ autoJoin: '' });
  const alone = off.user('alone');
  const welcome = alone.take();
  t.deepEqual(welcome, [ok('NICK', 'alone', 'Welcome, alone! Type /help for commands; plain lines go to your current room.')]);
  alone.say('hello?');
  t.is(codeOf(alone.take()[0]), 'NO_CURRENT_ROOM');

  const start = world({ autoJoin: '#start' });
  t.true(start.core.allRooms().some((room) => room.name === '#start'), '#start exists before anyone joins it');
  const a = start.user('a');
  const events = a.take();
  t.deepEqual(events[events.length - 1], ok('JOIN', '#start', 'Now talking in #start.'));
  a.say('/part');
  a.take();
  t.true(start.core.allRooms().some((room) => room.name === '#start'), '#start stays when left empty');
});
