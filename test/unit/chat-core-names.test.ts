import test, { type ExecutionContext } from 'ava';
import { ChatCore, type ChatCoreOptions } from '../../lib/core/chat-core';
import type { Session } from '../../lib/core/session';
import type { Clock } from '../../lib/core/ports/clock';
import type { ChatEvent } from '../../lib/core/events';
import { codeOf, err, EventSink, roomInfo, textOf } from '../helpers/event-sink';

/*
 * Look-alike, invisible, reserved and held nicknames, and look-alike room names, against the chat core
 * with a manual clock (holds expire by the core's injected Clock).
 */

/** Time moves only when the test says; timers are never needed by the rules tested here. */
class ManualClock implements Clock {
  t = 1_700_000_000_000;
  now(): number {
    return this.t;
  }
  setTimeout(): unknown {
    return undefined;
  }
  clearTimeout(): void {}
}

function world(options: Partial<ChatCoreOptions> = {}) {
  const clock = new ManualClock();
  const core = new ChatCore({ clock, ...options });
  /** A connection from `address` that has not picked a nickname yet. */
  const connect = (address = '192.0.2.1') => {
    const sink = new EventSink();
    const session = core.connect(sink, address) as Session;
    sink.take();
    return {
      session,
      sink,
      /** Sends one line and returns the first event of the answer. */
      say: (text: string): ChatEvent | undefined => {
        sink.take();
        core.handleInput(session, { ok: true, text });
        return sink.take()[0];
      },
    };
  };
  const user = (nick: string, address = '192.0.2.1') => {
    const c = connect(address);
    const answer = c.say(nick);
    if (answer?.type !== 'reply' || answer.command !== 'NICK' || answer.subject !== nick) throw new Error(`registration of ${nick} failed: ${JSON.stringify(answer)}`);
    return c;
  };
  return { core, clock, connect, user };
}

/** Asserts that `event` is a failure with `code` whose text matches `text`. */
function failed(t: ExecutionContext, event: ChatEvent | undefined, code: string, text: RegExp = /./, message?: string): void {
  t.is(codeOf(event), code, message);
  t.regex(textOf(event), text, message);
}

test('each look-alike of alice is refused with NICK_IN_USE naming alice while she is online', (t) => {
  const w = world();
  w.user('alice');
  const c = w.connect('192.0.2.9');
  for (const name of ['\u0430lice', 'alic\u0435', 'al\u0456ce', '\u0391lice', '\u0251lice', 'aIice', 'alice\u034f', 'alice\ufe0f', 'alice\u180b']) {
    t.deepEqual(c.say(name), err('NICK_IN_USE', `The nickname ${name} looks like alice, who is online; pick another.`), JSON.stringify(name));
  }
  t.deepEqual(c.say('ALICE'), err('NICK_IN_USE', 'The nickname ALICE is taken; pick another.'));
  t.is(c.session.state, 'awaiting-nick');
  t.like(c.say('alicia'), { type: 'reply', command: 'NICK', subject: 'alicia' }, 'a different name is fine');
});

test('a nickname made only of the invisible Hangul filler is refused as invalid', (t) => {
  const c = world().connect();
  t.deepEqual(c.say('\u3164\u3164'), err('NICK_INVALID', 'Invalid nickname: a nickname cannot contain invisible characters (it has U+3164).'));
  failed(t, c.say('bob\u0435'), 'NICK_INVALID', /^Invalid nickname: a nickname cannot mix scripts/, 'mixed script with no clash is invalid');
});

test('changing to a look-alike of someone online is refused; changing to a look-alike of your own name is judged on its own', (t) => {
  const w = world();
  w.user('alice');
  const bob = w.user('bob');
  t.deepEqual(bob.say('/nick aIice'), err('NICK_IN_USE', 'The nickname aIice looks like alice, who is online; pick another.'));
  failed(t, bob.say('/nick b\u043eb'), 'NICK_INVALID', /^.*mix scripts/);
  t.like(bob.say('/nick Bob'), { type: 'reply', command: 'NICK', subject: 'Bob' });
  t.like(w.connect('192.0.2.5').say('\u0432\u043e\u0432'), { type: 'reply', command: 'NICK' }, 'an all-Cyrillic name that does not look like bob is fine');
});

test('reserved names and their look-alikes are refused with NICK_RESERVED naming the reserved name; the list can be changed', (t) => {
  const w = world();
  const c = w.connect();
  t.deepEqual(c.say('admin'), err('NICK_RESERVED', 'The nickname admin is reserved; pick another.'));
  t.deepEqual(c.say('Admin'), err('NICK_RESERVED', 'The nickname admin is reserved; pick another.'));
  t.deepEqual(c.say('\u0430dmin'), err('NICK_RESERVED', 'The nickname аdmin looks like the reserved name admin; pick another.'));
  t.deepEqual(c.say('r00t'), err('NICK_RESERVED', 'The nickname r00t looks like the reserved name root; pick another.'));
  for (const name of ['server', 'administrator', 'mychat', 'mychatd', 'operator', 'nickserv', 'chanserv', 'system', 'sysop', 'moderator']) {
    failed(t, c.say(name), 'NICK_RESERVED', /./, name);
  }
  w.core.reconfigure({ reservedNicks: ['boss'] });
  failed(t, c.say('BOSS'), 'NICK_RESERVED', /^The nickname boss is reserved/);
  t.like(c.say('admin'), { type: 'reply', command: 'NICK', subject: 'admin' }, 'a name no longer reserved is free');
});

test('after an abrupt disconnect the nickname is held for its address only, and says for how long', (t) => {
  const w = world();
  const bob = w.user('bob', '192.0.2.7');
  w.core.disconnect(bob.session, 'Connection reset by peer');
  const other = w.connect('192.0.2.8');
  t.deepEqual(other.say('bob'), err('NICK_RESERVED', 'The nickname bob is held for someone who just disconnected, for 60 more seconds; pick another.'));
  failed(t, other.say('B\u043eb'), 'NICK_RESERVED', /^The nickname bob is held/, 'look-alikes of a held name are refused too');
  w.clock.t += 45_500;
  t.regex(textOf(other.say('bob')), /for 15 more seconds/);
  t.like(w.connect('192.0.2.7').say('Bob'), { type: 'reply', command: 'NICK', subject: 'Bob' }, 'the same address takes it back');
  w.core.disconnect(w.connect('192.0.2.7').session, 'unregistered connections hold nothing');
  failed(t, other.say('bob'), 'NICK_IN_USE', /./, 'and now it is simply in use');
});

test('a held nickname is free for anyone once the hold expires, and /quit holds nothing', (t) => {
  const w = world({ nickHoldMs: 10_000 });
  const bob = w.user('bob', '192.0.2.7');
  w.core.disconnect(bob.session, 'Connection lost');
  const other = w.connect('192.0.2.8');
  t.regex(textOf(other.say('bob')), /for 10 more seconds/);
  w.clock.t += 10_000;
  t.like(other.say('bob'), { type: 'reply', command: 'NICK', subject: 'bob' });
  const carol = w.user('carol', '192.0.2.7');
  carol.say('/quit');
  t.like(w.connect('192.0.2.8').say('carol'), { type: 'reply', command: 'NICK', subject: 'carol' }, 'leaving with /quit gives the name up at once');
});

test('a registered user dropped by a server-side end (send queue, timeout) is held like a lost connection', (t) => {
  const w = world();
  const dave = w.user('dave', '192.0.2.7');
  w.core.end(dave.session, 'Send queue exceeded');
  failed(t, w.connect('192.0.2.8').say('dave'), 'NICK_RESERVED', /./);
});

test('an IPv6 user gets the held nickname back from another address of the same /64, not from another /64', (t) => {
  const w = world();
  const erin = w.user('erin', '2001:db8:1:2::10');
  w.core.disconnect(erin.session, 'Connection lost');
  failed(t, w.connect('2001:db8:1:3::10').say('erin'), 'NICK_RESERVED', /./);
  t.like(w.connect('2001:db8:1:2:ffff::1').say('erin'), { type: 'reply', command: 'NICK', subject: 'erin' });
});

test('--nick-hold 0 holds nothing, and a reload applies to the next disconnect', (t) => {
  const w = world({ nickHoldMs: 0 });
  w.core.disconnect(w.user('bob', '192.0.2.7').session, 'Connection lost');
  t.like(w.connect('192.0.2.8').say('bob'), { type: 'reply', command: 'NICK', subject: 'bob' });
  w.core.reconfigure({ nickHoldMs: 5000 });
  w.core.disconnect(w.user('carol', '192.0.2.7').session, 'Connection lost');
  t.regex(textOf(w.connect('192.0.2.8').say('carol')), /for 5 more seconds/);
});

test('holds are bounded: beyond max-clients held names the oldest hold is dropped', (t) => {
  const w = world({ maxClients: 3 });
  for (const nick of ['n1', 'n2', 'n3', 'n4']) w.core.disconnect(w.user(nick, '192.0.2.7').session, 'Connection lost');
  const other = w.connect('192.0.2.8');
  t.like(other.say('n1'), { type: 'reply', command: 'NICK', subject: 'n1' }, 'the oldest hold made room for a newer one');
  const another = w.connect('192.0.2.9');
  for (const nick of ['n2', 'n3', 'n4']) failed(t, another.say(nick), 'NICK_RESERVED', /./, nick);
});

test('a room name that looks like an existing room reaches that room or is refused naming it', (t) => {
  const w = world();
  const alice = w.user('alice');
  alice.say('/join #team');
  alice.say('/join #alice');
  const bob = w.user('bob');
  t.deepEqual(bob.say('/join #t\u0435am'), roomInfo('#team', 2), 'a Cyrillic е lands in #team itself');
  t.deepEqual(bob.say('/join #lobby\u034f'), roomInfo('#lobby', 2), 'an invisible suffix does not make a new room');
  t.deepEqual(bob.say('/join #aIice'), err('ROOM_INVALID', 'Invalid room name: #aIice looks like #alice, which exists; join #alice or pick another name.'));
  failed(t, bob.say('/join #b\u0435ta'), 'ROOM_INVALID', /^Invalid room name: a room name cannot mix scripts/);
  failed(t, bob.say('/join #\u3164'), 'ROOM_INVALID', /^Invalid room name: a room name cannot contain invisible characters/);
  t.is(w.core.allRooms().map((r) => r.name).join(' '), '#alice #lobby #team', 'no look-alike room was created');
});
