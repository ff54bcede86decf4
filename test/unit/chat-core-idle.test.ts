import test from 'ava';
import { ChatCore, DEFAULT_MAX_PER_ADDRESS, type ChatCoreOptions } from '../../lib/core/chat-core';
import { parseOptions } from '../../daemon/options';
import type { Session } from '../../lib/core/session';
import { FakeClock } from '../helpers/fake-clock';
import { codeOf, err, EventSink } from '../helpers/event-sink';

function setup(options: Partial<ChatCoreOptions> = {}) {
  const clock = new FakeClock();
  const core = new ChatCore({ clock, ...options });
  const connect = (address = '192.0.2.1') => {
    const sink = new EventSink();
    const session = core.connect(sink, address) as Session;
    return { sink, session, say: (text: string) => core.handleInput(session, { ok: true, text }) };
  };
  const user = (nick: string) => {
    const client = connect();
    client.say(nick);
    client.sink.take();
    return client;
  };
  return { clock, core, connect, user };
}

const SECOND = 1000;

test('with an idle timeout, a registered user who sends nothing is told BYE and others see QUIT Idle timeout; any line, /ping included, counts', (t) => {
  const w = setup({ idleTimeoutMs: 300 * SECOND });
  const alice = w.user('alice');
  const bob = w.user('bob');
  w.clock.advance(200 * SECOND);
  bob.say('/ping still-here');
  w.clock.advance(99 * SECOND);
  t.false(alice.sink.closed);
  w.clock.advance(1 * SECOND);
  t.deepEqual(alice.sink.take(), [{ type: 'join', room: '#lobby', nick: 'bob' }, { type: 'bye', text: 'Idle timeout: nothing received from you for 300 seconds.' }]);
  t.true(alice.sink.closed);
  t.deepEqual(bob.sink.take(), [{ type: 'pong', token: 'still-here' }, { type: 'quit', nick: 'alice', reason: 'Idle timeout' }]);
  t.false(bob.sink.closed, 'the /ping kept bob');
  w.clock.advance(150 * SECOND);
  bob.say('');
  w.clock.advance(299 * SECOND);
  t.false(bob.sink.closed, 'an empty line counts too');
  w.clock.advance(1 * SECOND);
  t.true(bob.sink.closed);
  t.is(w.core.userCount, 0);
});

test('the idle timeout is off by default: nobody is disconnected for silence, and no timer runs for it', (t) => {
  const w = setup();
  const alice = w.user('alice');
  t.is(w.clock.pending, 0);
  w.clock.advance(30 * 86_400 * SECOND);
  t.false(alice.sink.closed);
  t.deepEqual(alice.sink.take(), []);
});

test('a connection without a nickname is left to the nickname timeout, not the idle timeout', (t) => {
  const w = setup({ idleTimeoutMs: 10 * SECOND, registrationTimeoutMs: 60 * SECOND });
  const anon = w.connect();
  w.clock.advance(59 * SECOND);
  t.false(anon.sink.closed);
  w.clock.advance(1 * SECOND);
  t.deepEqual(anon.sink.take().pop(), { type: 'bye', text: 'No nickname chosen in time' });
});

test('a reload that turns the idle timeout on applies to users already connected, and turning it off spares them', (t) => {
  const w = setup();
  const alice = w.user('alice');
  const bob = w.user('bob');
  w.clock.advance(600 * SECOND);
  bob.say('/ping x');
  w.core.reconfigure({ idleTimeoutMs: 300 * SECOND });
  w.clock.advance(0);
  t.true(alice.sink.closed, 'silent for 10 minutes, more than the new timeout');
  t.false(bob.sink.closed);
  w.core.reconfigure({ idleTimeoutMs: 0 });
  w.clock.advance(3600 * SECOND);
  t.false(bob.sink.closed);
});

test('many users timing out at once are disconnected in bounded steps, not in one long pass', (t) => {
  // 250 users from one test address: lift the per-address cap (default DEFAULT_MAX_PER_ADDRESS, 100).
  const w = setup({ idleTimeoutMs: 60 * SECOND, maxPerAddress: 0 });
  const users = Array.from({ length: 250 }, (_, i) => w.user(`u${i}`));
  w.clock.advance(60 * SECOND);
  const closed = (): number => users.filter((u) => u.sink.closed).length;
  t.is(closed(), 100, 'one step');
  w.clock.advance(1 * SECOND);
  t.is(closed(), 250, 'the next steps follow after short pauses');
});

test('refusals for a full server or a busy address say when to try again', (t) => {
  const w = setup({ maxClients: 2, maxPerAddress: 1 });
  w.connect('192.0.2.1');
  const busy = w.connect('192.0.2.1');
  t.deepEqual(busy.sink.take(), [
    err('TOO_MANY_CONNECTIONS', 'Your address already has 1 connections, the most this server allows; close one of them, or try again in a minute.'),
    { type: 'bye', text: 'Too many connections' },
  ]);
  w.connect('192.0.2.2');
  const full = w.connect('192.0.2.3');
  t.deepEqual(full.sink.take(), [
    err('SERVER_FULL', 'The server is full (2 connections); try again in a minute: a place frees up whenever someone leaves.'),
    { type: 'bye', text: 'Server full' },
  ]);
});

test('the core and the daemon share one per-address default: the 101st connection from one address is refused', (t) => {
  const w = setup();
  t.is(w.core.options.maxPerAddress, DEFAULT_MAX_PER_ADDRESS);
  t.is(parseOptions([], '0.0.0').maxPerAddress, DEFAULT_MAX_PER_ADDRESS, 'the daemon without --max-per-address');
  const clients = Array.from({ length: DEFAULT_MAX_PER_ADDRESS }, () => w.connect('192.0.2.7'));
  t.true(clients.every((c) => !c.sink.closed));
  const extra = w.connect('192.0.2.7');
  t.true(extra.sink.closed, 'over the default cap');
  t.is(codeOf(extra.sink.events[0]), 'TOO_MANY_CONNECTIONS');
});
