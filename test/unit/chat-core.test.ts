import test from 'ava';
import { ChatCore, type ChatCoreOptions } from '../../lib/core/chat-core';
import type { ChatEvent } from '../../lib/core/events';
import type { Session } from '../../lib/core/session';
import { LIMITS } from '../../lib/protocol/limits';
import type { InputLine } from '../../lib/protocol/line-decoder';
import { FakeClock } from '../helpers/fake-clock';
import { action, codeOf, err, EventSink, msg, names, notice, ok, privmsg, roomInfo, textOf } from '../helpers/event-sink';

interface Client {
  session: Session;
  sink: EventSink;
  /** Sends one input line as the decoder would deliver it. */
  say(line: string): void;
  /** Events received since the last take (without their time). */
  take(): ChatEvent[];
}

interface World {
  core: ChatCore;
  clock: FakeClock;
  connect(): Client;
  /** Connects, registers with `nick`, and discards the welcome lines. */
  user(nick: string): Client;
}

function world(options: Partial<ChatCoreOptions> = {}): World {
  const clock = new FakeClock();
  const core = new ChatCore({ clock, ...options });
  const connect = (): Client => {
    const sink = new EventSink();
    const session = core.connect(sink, '192.0.2.1');
    if (!session) throw new Error('connection refused');
    return {
      session,
      sink,
      say: (line) => core.handleInput(session, { ok: true, text: line }),
      take: () => sink.take(),
    };
  };
  const user = (nick: string): Client => {
    const c = connect();
    c.say(nick);
    const lines = c.take();
    if (!lines.some((e) => e.type === 'reply' && e.command === 'NICK' && e.subject === nick)) throw new Error(`registration of ${nick} failed: ${JSON.stringify(lines)}`);
    return c;
  };
  return { core, clock, connect, user };
}

/** Drains the pending lines of every client. */
const drain = (...clients: Client[]): void => clients.forEach((c) => c.take());


// ---- registration ----

test('a newcomer is greeted with HELLO and registers by typing a nickname as a plain line', (t) => {
  const w = world({ version: '1.2.3', serverName: 'testnet' });
  const c = w.connect();
  const hello = c.take();
  t.is(hello.length, 1);
  t.like(hello[0], { type: 'hello', server: 'mychatd/1.2.3' });
  t.regex(textOf(hello[0]), /^Welcome to testnet!/);
  c.say('Alice');
  t.deepEqual(c.take(), [
    ok('NICK', 'Alice', 'Welcome, Alice! Type /help for commands; plain lines go to your current room.'),
    roomInfo('#lobby', 1),
    names('#lobby', 'Alice'),
    ok('JOIN', '#lobby', 'Now talking in #lobby.'),
  ]);
  t.is(c.session.state, 'registered');
});

test('a newcomer can also register with /nick', (t) => {
  const w = world();
  const c = w.connect();
  c.take();
  c.say('/nick Bob');
  const lines = c.take();
  t.like(lines[0], { type: 'reply', command: 'NICK', subject: 'Bob' });
  t.regex(textOf(lines[0]), /^Welcome, Bob!/);
  t.deepEqual(lines[lines.length - 1], ok('JOIN', '#lobby', 'Now talking in #lobby.'));
});

test('the message of the day follows the welcome, one NOTICE per non-blank line, neutralised', (t) => {
  const w = world({ motd: 'Be nice.\r\n\n\x1b[31mRules\x1b[0m apply' });
  const c = w.connect();
  c.take();
  c.say('Alice');
  const lines = c.take();
  t.deepEqual(lines.filter((e) => e.type === 'notice'), [notice('Be nice.'), notice('␛[31mRules␛[0m apply')]);
});

test('an invalid nickname is refused with NICK_INVALID and the user stays unregistered', (t) => {
  const w = world();
  const c = w.connect();
  c.take();
  c.say('9lives');
  const [line] = c.take();
  t.is(codeOf(line), 'NICK_INVALID');
  t.is(c.session.state, 'awaiting-nick');
  c.say('two words');
  t.is(codeOf(c.take()[0]), 'NICK_INVALID');
});

test('nicknames are unique ignoring case: alice is refused while Alice is online', (t) => {
  const w = world();
  w.user('Alice');
  const c = w.connect();
  c.take();
  c.say('alice');
  t.deepEqual(c.take(), [err('NICK_IN_USE', 'The nickname alice is taken; pick another.')]);
  c.say('ALICE');
  t.is(codeOf(c.take()[0]), 'NICK_IN_USE');
  t.is(c.session.state, 'awaiting-nick');
});

test('nicknames are unique across Unicode normalisation forms', (t) => {
  const w = world();
  w.user('Zoë');
  const c = w.connect();
  c.take();
  c.say('Zoe\u0308');
  t.is(codeOf(c.take()[0]), 'NICK_IN_USE');
});

test('a nickname is free again right after its holder disconnects', (t) => {
  const w = world();
  const alice = w.user('Alice');
  w.core.disconnect(alice.session, 'Connection lost');
  const again = w.connect();
  again.take();
  again.say('alice');
  const [welcome] = again.take();
  t.like(welcome, { type: 'reply', command: 'NICK', subject: 'alice' });
  t.regex(textOf(welcome), /^Welcome/);
});

test('a nickname is free again after /quit and after a nick change', (t) => {
  const w = world();
  const alice = w.user('Alice');
  alice.say('/nick Alicia');
  alice.take();
  const b = w.user('Alice'); // the old name is free
  b.say('/quit');
  t.true(b.sink.closed);
  t.notThrows(() => w.user('alice'));
});

test('commands that need a nickname answer NICK_REQUIRED before registration', (t) => {
  const w = world();
  const c = w.connect();
  c.take();
  for (const line of ['/join #x', '/msg bob hi', '/rooms', '/who', '/whois bob', '/me waves', '/part', '/topic #lobby']) {
    c.say(line);
    const [reply] = c.take();
    t.is(codeOf(reply), 'NICK_REQUIRED', line);
    t.regex(textOf(reply), /Pick a nickname before using \/\w+/);
  }
  t.is(c.session.state, 'awaiting-nick');
});

test('/help, /ping and /quit work before registration', (t) => {
  const w = world();
  const c = w.connect();
  c.take();
  c.say('/ping abc');
  t.deepEqual(c.take(), [{ type: 'pong', token: 'abc' }]);
  c.say('/help');
  const help = c.take();
  t.true(help.length > 5);
  t.like(help[help.length - 1], { type: 'reply', command: 'HELP', subject: '*' });
  c.say('/quit');
  t.deepEqual(c.take(), [{ type: 'bye', text: 'Goodbye!' }]);
  t.true(c.sink.closed);
});

test('/format switches the connection before its reply, in any state; an unknown format is BAD_ARGS and changes nothing', (t) => {
  const w = world();
  const c = w.connect();
  c.take();
  c.say('/format xml');
  t.is(codeOf(c.take()[0]), 'BAD_ARGS');
  t.is(c.sink.format, 'mychat');
  c.say('/format JSON');
  t.is(c.sink.format, 'json', 'switched before registration, names matched ignoring case');
  t.like(c.take()[0], { type: 'reply', command: 'FORMAT', subject: 'json' });
  c.say('Alice');
  t.like(c.take()[0], { type: 'reply', command: 'NICK', subject: 'Alice' });
  c.say('/format mychat');
  t.is(c.sink.format, 'mychat');
  t.deepEqual(c.take(), [ok('FORMAT', 'mychat', 'mychat lines from now on.')]);
});

test('the registration timeout closes a silent connection with BYE after the configured time, not before', (t) => {
  const w = world({ registrationTimeoutMs: 30_000 });
  const c = w.connect();
  c.take();
  w.clock.advance(29_999);
  t.false(c.sink.closed);
  t.deepEqual(c.take(), []);
  w.clock.advance(1);
  t.deepEqual(c.take(), [{ type: 'bye', text: 'No nickname chosen in time' }]);
  t.true(c.sink.closed);
  t.is(w.core.sessionCount, 0);
});

test('registering in time cancels the registration timeout', (t) => {
  const w = world({ registrationTimeoutMs: 30_000 });
  const c = w.connect();
  w.clock.advance(10_000);
  c.say('Alice');
  c.take();
  w.clock.advance(60_000);
  t.false(c.sink.closed);
  t.deepEqual(c.take(), []);
  t.is(w.clock.pending, 0);
});

test('a connection beyond maxClients is refused with ERR SERVER_FULL, BYE and a close', (t) => {
  const w = world({ maxClients: 2 });
  w.connect();
  w.connect();
  const sink = new EventSink();
  t.is(w.core.connect(sink, '192.0.2.9'), undefined);
  t.is(codeOf(sink.events[0]), 'SERVER_FULL');
  t.deepEqual(sink.events[1], { type: 'bye', text: 'Server full' });
  t.true(sink.closed);
  t.is(w.core.sessionCount, 2);
});

test('a slot freed by a disconnect can be used again', (t) => {
  const w = world({ maxClients: 1 });
  const a = w.connect();
  w.core.disconnect(a.session, 'Connection closed');
  t.notThrows(() => w.connect());
});

// ---- nick changes ----

test('a nick change is told once to each peer sharing a room, even when they share two rooms, and not to strangers', (t) => {
  const w = world();
  const alice = w.user('Alice');
  const bob = w.user('Bob');
  const carol = w.user('Carol');
  alice.say('/join #two');
  bob.say('/join #two');
  carol.say('/part #lobby');
  drain(alice, bob, carol);
  alice.say('/nick Alicia');
  t.deepEqual(bob.take(), [{ type: 'nick', from: 'Alice', to: 'Alicia' }]);
  t.deepEqual(carol.take(), []);
  t.deepEqual(alice.take(), [ok('NICK', 'Alicia', 'You are now known as Alicia.')]);
});

test('a nick change to a different case of the same name is allowed', (t) => {
  const w = world();
  const alice = w.user('alice');
  const bob = w.user('Bob');
  drain(alice, bob);
  alice.say('/nick Alice');
  t.deepEqual(alice.take(), [ok('NICK', 'Alice', 'You are now known as Alice.')]);
  t.deepEqual(bob.take(), [{ type: 'nick', from: 'alice', to: 'Alice' }]);
});

test('changing to a nickname someone else holds is NICK_IN_USE and changes nothing', (t) => {
  const w = world();
  const alice = w.user('Alice');
  const bob = w.user('Bob');
  drain(alice, bob);
  alice.say('/nick BOB');
  t.is(codeOf(alice.take()[0]), 'NICK_IN_USE');
  t.deepEqual(bob.take(), []);
  t.is(alice.session.nick, 'Alice');
});

// ---- rooms and messages ----

test('JOIN is told to the room members, not the joiner or outsiders; the joiner gets ROOM, NAMES and OK', (t) => {
  const w = world();
  const alice = w.user('Alice');
  const bob = w.user('Bob');
  const carol = w.user('Carol');
  alice.say('/join #rust');
  drain(alice, bob, carol);
  bob.say('/join #Rust');
  t.deepEqual(alice.take(), [{ type: 'join', room: '#rust', nick: 'Bob' }]);
  t.deepEqual(carol.take(), []);
  t.deepEqual(bob.take(), [roomInfo('#rust', 2), names('#rust', 'Alice', 'Bob'), ok('JOIN', '#rust', 'Now talking in #rust.')]);
});

test('a room message goes to the other members of the current room only', (t) => {
  const w = world();
  const alice = w.user('Alice');
  const bob = w.user('Bob');
  const carol = w.user('Carol');
  alice.say('/join #x');
  bob.say('/join #x');
  drain(alice, bob, carol);
  alice.say('hello x');
  t.deepEqual(bob.take(), [msg('#x', 'Alice', 'hello x')]);
  t.deepEqual(alice.take(), []);
  t.deepEqual(carol.take(), []);
});

test('message text is neutralised before it reaches anyone', (t) => {
  const w = world();
  const alice = w.user('Alice');
  const bob = w.user('Bob');
  drain(alice, bob);
  alice.say('look \x1b]52;c;SGVsbG8=\x07 \u202egnp.exe');
  t.deepEqual(bob.take(), [msg('#lobby', 'Alice', 'look ␛]52;c;SGVsbG8=␇ �gnp.exe')]);
});

test('"//text" sends a message that starts with a slash', (t) => {
  const w = world();
  const alice = w.user('Alice');
  const bob = w.user('Bob');
  drain(alice, bob);
  alice.say('//join is a command');
  t.deepEqual(bob.take(), [msg('#lobby', 'Alice', '/join is a command')]);
});

test('/me sends ACTION to the other room members only', (t) => {
  const w = world();
  const alice = w.user('Alice');
  const bob = w.user('Bob');
  const carol = w.user('Carol');
  carol.say('/part');
  drain(alice, bob, carol);
  alice.say('/me waves');
  t.deepEqual(bob.take(), [action('#lobby', 'Alice', 'waves')]);
  t.deepEqual(alice.take(), []);
  t.deepEqual(carol.take(), []);
});

test('/msg reaches only the addressee (nick matched ignoring case), and the sender gets OK', (t) => {
  const w = world();
  const alice = w.user('Alice');
  const bob = w.user('Bob');
  const carol = w.user('Carol');
  drain(alice, bob, carol);
  alice.say('/msg bob psst, a secret');
  t.deepEqual(bob.take(), [privmsg('Alice', 'psst, a secret')]);
  t.deepEqual(alice.take(), [ok('MSG', 'Bob', 'Message sent to Bob.')]);
  t.deepEqual(carol.take(), []);
});

test('/msg to nobody is NO_SUCH_NICK', (t) => {
  const w = world();
  const alice = w.user('Alice');
  alice.say('/msg ghost boo');
  t.is(codeOf(alice.take()[0]), 'NO_SUCH_NICK');
});

test('PART is told to the remaining members with the reason; the parter gets OK and outsiders nothing', (t) => {
  const w = world();
  const alice = w.user('Alice');
  const bob = w.user('Bob');
  const carol = w.user('Carol');
  alice.say('/join #x');
  bob.say('/join #x');
  drain(alice, bob, carol);
  bob.say('/part #x see you all');
  t.deepEqual(alice.take(), [{ type: 'part', room: '#x', nick: 'Bob', reason: 'see you all' }]);
  t.deepEqual(carol.take(), []);
  t.deepEqual(bob.take(), [ok('PART', '#x', 'Left #x; now talking in #lobby.')]);
});

test('/part falls back to the room used before, and /part with only a reason leaves the current room', (t) => {
  const w = world();
  const alice = w.user('Alice');
  const bob = w.user('Bob');
  alice.say('/join #a');
  alice.say('/join #b');
  alice.say('/join #a'); // #a current again; order is lobby, b, a
  drain(alice, bob);
  alice.say('/part bye all');
  t.deepEqual(alice.take(), [ok('PART', '#a', 'Left #a; now talking in #b.')]);
  alice.say('/part');
  t.deepEqual(alice.take(), [ok('PART', '#b', 'Left #b; now talking in #lobby.')]);
  alice.say('back in the lobby');
  t.deepEqual(bob.take(), [msg('#lobby', 'Alice', 'back in the lobby')]);
});

test('with no room left, a plain line is NO_CURRENT_ROOM and /part is NO_CURRENT_ROOM', (t) => {
  const w = world();
  const alice = w.user('Alice');
  alice.say('/part');
  t.deepEqual(alice.take(), [ok('PART', '#lobby', 'Left #lobby; you are in no room now (/join #ROOM).')]);
  alice.say('anyone?');
  t.is(codeOf(alice.take()[0]), 'NO_CURRENT_ROOM');
  alice.say('/part');
  t.is(codeOf(alice.take()[0]), 'NO_CURRENT_ROOM');
});

test('/part of a room you are not in is NOT_IN_ROOM; of a missing room NO_SUCH_ROOM', (t) => {
  const w = world();
  const alice = w.user('Alice');
  const bob = w.user('Bob');
  bob.say('/join #bobs');
  alice.take();
  alice.say('/part #bobs');
  t.is(codeOf(alice.take()[0]), 'NOT_IN_ROOM');
  alice.say('/part #nowhere');
  t.is(codeOf(alice.take()[0]), 'NO_SUCH_ROOM');
});

test('QUIT is told once to every peer with the reason, not to strangers', (t) => {
  const w = world();
  const alice = w.user('Alice');
  const bob = w.user('Bob');
  const carol = w.user('Carol');
  alice.say('/join #x');
  bob.say('/join #x');
  carol.say('/part');
  drain(alice, bob, carol);
  alice.say('/quit off to bed');
  t.deepEqual(alice.take(), [{ type: 'bye', text: 'Goodbye!' }]);
  t.true(alice.sink.closed);
  t.deepEqual(bob.take(), [{ type: 'quit', nick: 'Alice', reason: 'Quit: off to bed' }]);
  t.deepEqual(carol.take(), []);
});

test('a lost connection is told to peers as QUIT with the adapter reason; an unregistered one is not told at all', (t) => {
  const w = world();
  const alice = w.user('Alice');
  const bob = w.user('Bob');
  const lurker = w.connect();
  drain(alice, bob);
  w.core.disconnect(bob.session, 'Connection lost');
  t.deepEqual(alice.take(), [{ type: 'quit', nick: 'Bob', reason: 'Connection lost' }]);
  w.core.disconnect(lurker.session, 'Connection closed');
  t.deepEqual(alice.take(), []);
  // Disconnecting twice is harmless.
  w.core.disconnect(bob.session, 'Connection lost');
  t.deepEqual(alice.take(), []);
});

test('after a disconnect the session gets nothing more and its input is ignored', (t) => {
  const w = world();
  const alice = w.user('Alice');
  const bob = w.user('Bob');
  drain(alice, bob);
  w.core.disconnect(bob.session, 'Connection lost');
  t.deepEqual(alice.take(), [{ type: 'quit', nick: 'Bob', reason: 'Connection lost' }]);
  alice.say('still there?');
  bob.say('/who');
  t.deepEqual(bob.take(), []);
  t.deepEqual(alice.take(), []);
});

test('TOPIC: members set it, everyone else in the room is told, outsiders can read it but not set it', (t) => {
  const w = world();
  const alice = w.user('Alice');
  const bob = w.user('Bob');
  const carol = w.user('Carol');
  alice.say('/join #x');
  bob.say('/join #x');
  drain(alice, bob, carol);
  alice.say('/topic #x Release on Friday');
  t.deepEqual(bob.take(), [{ type: 'topic', room: '#x', by: 'Alice', text: 'Release on Friday' }]);
  t.deepEqual(alice.take(), [ok('TOPIC', '#x', 'Topic of #x changed.')]);
  t.deepEqual(carol.take(), []);
  carol.say('/topic #x');
  const shown = carol.take();
  t.deepEqual(shown[0], roomInfo('#x', 2, 'Release on Friday'));
  t.like(shown[1], { type: 'reply', command: 'TOPIC', subject: '#x' });
  t.regex(textOf(shown[1]), /^Topic set by Alice at \d{4}-/);
  carol.say('/topic #x mine now');
  t.is(codeOf(carol.take()[0]), 'NOT_IN_ROOM');
  alice.say('/topic #x -');
  t.deepEqual(bob.take(), [{ type: 'topic', room: '#x', by: 'Alice', text: '' }]);
  t.deepEqual(alice.take(), [ok('TOPIC', '#x', 'Topic of #x cleared.')]);
});

test('a topic longer than the limit is TEXT_TOO_LONG', (t) => {
  const w = world();
  const alice = w.user('Alice');
  alice.say('/topic #lobby ' + 'x'.repeat(LIMITS.maxTopicLength + 1));
  t.is(codeOf(alice.take()[0]), 'TEXT_TOO_LONG');
  alice.say('/topic #lobby ' + '😀'.repeat(LIMITS.maxTopicLength));
  t.deepEqual(alice.take()[0], ok('TOPIC', '#lobby', 'Topic of #lobby changed.'));
});

test('#lobby survives empty while other empty rooms vanish from /rooms', (t) => {
  const w = world();
  const alice = w.user('Alice');
  alice.say('/join #temp');
  alice.say('/join #keep');
  const bob = w.user('Bob');
  bob.say('/join #keep');
  bob.say('/part #lobby');
  alice.say('/part #temp');
  alice.say('/part #lobby');
  drain(alice, bob);
  alice.say('/rooms');
  t.deepEqual(alice.take(), [roomInfo('#keep', 2), roomInfo('#lobby', 0), ok('ROOMS', '2', '2 rooms.')]);
  // The vanished room really is gone.
  alice.say('/who #temp');
  t.is(codeOf(alice.take()[0]), 'NO_SUCH_ROOM');
});

test('a broadcast hands every member the very same event object, so each codec encodes it once', (t) => {
  const w = world();
  const alice = w.user('Alice');
  const bob = w.user('Bob');
  const carol = w.user('Carol');
  const dave = w.user('Dave');
  const recipients = [bob, carol, dave];
  const last = (c: Client): ChatEvent => c.sink.events[c.sink.events.length - 1]!;
  alice.say('hi everyone');
  t.deepEqual(last(bob), { type: 'message', room: '#lobby', from: 'Alice', text: 'hi everyone', at: w.clock.now() });
  for (const c of recipients) t.is(last(c), last(bob));
  alice.say('/nick Alicia');
  t.deepEqual(last(bob), { type: 'nick', from: 'Alice', to: 'Alicia' });
  for (const c of recipients) t.is(last(c), last(bob));
  alice.say('/quit');
  t.deepEqual(last(bob), { type: 'quit', nick: 'Alicia', reason: 'Quit' });
  for (const c of recipients) t.is(last(c), last(bob));
});

test('shutdown sends BYE to everyone, registered or not, and closes every sink', (t) => {
  const w = world();
  const alice = w.user('Alice');
  const bob = w.user('Bob');
  const lurker = w.connect();
  drain(alice, bob, lurker);
  w.core.shutdown();
  for (const c of [alice, bob, lurker]) {
    t.deepEqual(c.take(), [{ type: 'bye', text: 'Server shutting down' }]);
    t.is(c.sink.closes.length, 1);
  }
  t.is(w.core.sessionCount, 0);
  t.is(w.core.userCount, 0);
});

test('whois shows rooms, connect time and idle seconds from the injected clock', (t) => {
  const w = world();
  const start = w.clock.now();
  const bob = w.user('Bob');
  bob.say('/join #x');
  const alice = w.user('Alice');
  w.clock.advance(42_500);
  drain(alice, bob);
  alice.say('/whois BOB');
  t.deepEqual(alice.take(), [
    { type: 'whois', nick: 'Bob', rooms: ['#lobby', '#x'], connectedAt: start, idleSeconds: 42 },
    ok('WHOIS', 'Bob', 'End of WHOIS for Bob.'),
  ]);
});

test('whois idle time restarts when the user chats in a room', (t) => {
  const w = world();
  const bob = w.user('Bob');
  const alice = w.user('Alice');
  w.clock.advance(100_000);
  bob.say('just talking in the lobby');
  w.clock.advance(5_000);
  drain(alice, bob);
  alice.say('/whois Bob');
  t.like(alice.take().find((e) => e.type === 'whois'), { nick: 'Bob', idleSeconds: 5 });
});

test('/ping does not count as activity for whois idle time', (t) => {
  const w = world();
  const bob = w.user('Bob');
  const alice = w.user('Alice');
  bob.say('/join #x'); // activity at t0
  w.clock.advance(30_000);
  bob.say('/ping keepalive');
  drain(alice, bob);
  alice.say('/whois Bob');
  t.like(alice.take().find((e) => e.type === 'whois'), { nick: 'Bob', idleSeconds: 30 });
});

test('BAD_ARGS replies include the usage', (t) => {
  const w = world();
  const alice = w.user('Alice');
  alice.say('/join');
  t.deepEqual(alice.take(), [err('BAD_ARGS', 'Usage: /join #ROOM')]);
  alice.say('/msg Bob');
  t.deepEqual(alice.take(), [err('BAD_ARGS', 'Usage: /msg NICK TEXT')]);
});

test('UNKNOWN_COMMAND replies point to /help, including for "/" alone', (t) => {
  const w = world();
  const alice = w.user('Alice');
  alice.say('/frobnicate now');
  t.deepEqual(alice.take(), [err('UNKNOWN_COMMAND', 'Unknown command /frobnicate. Type /help for the list.')]);
  alice.say('/');
  const [line] = alice.take();
  t.is(codeOf(line), 'UNKNOWN_COMMAND');
  t.true(textOf(line).includes('/help'));
});

test('an unknown command name with control characters is echoed neutralised', (t) => {
  const w = world();
  const alice = w.user('Alice');
  alice.say('/x\x1b[2J');
  const [line] = alice.take();
  t.false(textOf(line).includes('\x1b'));
  t.true(textOf(line).includes('␛'));
});

test('/help COMMAND explains one command, with its usage', (t) => {
  const w = world();
  const alice = w.user('Alice');
  alice.say('/help /PART');
  const lines = alice.take();
  t.deepEqual(lines[0], { type: 'help', command: 'part', text: 'Usage: /part [#ROOM] [REASON]' });
  t.true(lines.some((e) => e.type === 'help' && e.command === 'part' && e.text === 'Aliases: /leave'));
  t.deepEqual(lines[lines.length - 1], ok('HELP', 'part', 'Needs a nickname.'));
  alice.say('/help nosuch');
  t.is(codeOf(alice.take()[0]), 'UNKNOWN_COMMAND');
});

test('TOO_MANY_ROOMS after 50 rooms (the lobby counts); rejoining a room you are in is fine', (t) => {
  const w = world();
  const alice = w.user('Alice');
  for (let i = 1; i < LIMITS.maxRoomsPerUser; i++) {
    // Room creation is also limited per address and hour; step past that window now and then.
    if (i % LIMITS.maxRoomsCreatedPerHour === 0) w.clock.advance(3_600_000);
    alice.say(`/join #r${i}`);
  }
  t.is(alice.session.rooms.length, LIMITS.maxRoomsPerUser);
  t.false(alice.take().some((e) => e.type === 'failure'));
  alice.say('/join #onemore');
  t.is(codeOf(alice.take()[0]), 'TOO_MANY_ROOMS');
  alice.say('/join #r7');
  t.deepEqual(alice.take().slice(-1), [ok('JOIN', '#r7', 'Now talking in #r7.')]);
  alice.say('/part #r1');
  alice.take();
  alice.say('/join #onemore');
  t.deepEqual(alice.take().slice(-1), [ok('JOIN', '#onemore', 'Now talking in #onemore.')]);
});

test('one address can create only so many rooms an hour; joining existing rooms stays possible', (t) => {
  const w = world();
  const alice = w.user('Alice');
  const bob = w.user('Bob');
  for (let i = 0; i < LIMITS.maxRoomsCreatedPerHour; i++) alice.say(`/join #c${i}`);
  alice.take();
  alice.say('/join #toomany');
  t.is(codeOf(alice.take()[0]), 'TOO_MANY_ROOMS');
  bob.say('/join #also-too-many');
  t.is(codeOf(bob.take().pop()), 'TOO_MANY_ROOMS', 'the limit is per address, not per connection');
  bob.say('/join #c3');
  t.deepEqual(bob.take().slice(-1), [ok('JOIN', '#c3', 'Now talking in #c3.')]);
  w.clock.advance(3_600_000);
  alice.say('/join #toomany');
  t.deepEqual(alice.take().slice(-1), [ok('JOIN', '#toomany', 'Now talking in #toomany.')]);
});

test('an invalid room name is ROOM_INVALID', (t) => {
  const w = world();
  const alice = w.user('Alice');
  alice.say('/join lobby');
  t.is(codeOf(alice.take()[0]), 'ROOM_INVALID');
  alice.say('/join #' + 'x'.repeat(LIMITS.maxRoomNameLength + 1));
  t.is(codeOf(alice.take()[0]), 'ROOM_INVALID');
});

test('rejected input lines are answered with LINE_TOO_LONG / BAD_UTF8 and nothing is sent to others', (t) => {
  const w = world();
  const alice = w.user('Alice');
  const bob = w.user('Bob');
  drain(alice, bob);
  const tooLong: InputLine = { ok: false, code: 'LINE_TOO_LONG' };
  const bad: InputLine = { ok: false, code: 'BAD_UTF8' };
  w.core.handleInput(alice.session, tooLong);
  w.core.handleInput(alice.session, bad);
  const lines = alice.take();
  t.deepEqual(lines.map(codeOf), ['LINE_TOO_LONG', 'BAD_UTF8']);
  t.true(textOf(lines[0]).includes(String(LIMITS.maxLineBytes)));
  t.deepEqual(bob.take(), []);
});

test('/who lists a room\'s members, /who alone everyone online', (t) => {
  const w = world();
  const alice = w.user('Alice');
  const bob = w.user('Bob');
  w.connect(); // unregistered: not listed
  bob.say('/join #x');
  drain(alice, bob);
  alice.say('/who');
  t.deepEqual(alice.take(), [names('*', 'Alice', 'Bob'), ok('WHO', '*', '2 online.')]);
  alice.say('/who #X');
  t.deepEqual(alice.take(), [names('#x', 'Bob'), ok('WHO', '#x', '1 in #x.')]);
});

test('NAMES for a big room is split into bounded lines that together list everyone', (t) => {
  const w = world();
  const users = Array.from({ length: 45 }, (_, i) => w.user(`u${i}`));
  const last = users[users.length - 1]!;
  last.say('/who #lobby');
  const batches = last.take().flatMap((e) => (e.type === 'names' && e.label === '#lobby' ? [e] : []));
  t.true(batches.length >= 2, 'more than one names event');
  for (const batch of batches) t.true(batch.nicks.length <= 40, batch.nicks.join(' '));
  const listed = batches.flatMap((batch) => batch.nicks);
  t.deepEqual(listed.sort(), users.map((u) => u.session.nick).sort());
});

test('a /part or /quit reason is cut to the documented length', (t) => {
  const w = world();
  const alice = w.user('Alice');
  const bob = w.user('Bob');
  drain(alice, bob);
  alice.say('/quit ' + 'é'.repeat(LIMITS.maxReasonLength + 50));
  t.deepEqual(bob.take(), [{ type: 'quit', nick: 'Alice', reason: 'Quit: ' + 'é'.repeat(LIMITS.maxReasonLength) }]);
});
