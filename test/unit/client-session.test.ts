import test from 'ava';
import { ClientState, MAX_REMEMBERED } from '../../lib/client/client-state';
import { backoffDelay, BACKOFF_MAX_MS, formatDelay, nickVariant } from '../../lib/client/reconnect';
import { isInternalPong, Registration, type RegistrationEvent, type RegistrationPlan } from '../../lib/client/registration';
import { interpretInput, isQuitLine, literalLine } from '../../lib/client/user-input';
import { parseServerLine } from '../../lib/protocol/server-lines';

function line(text: string) {
  const parsed = parseServerLine(text);
  if (parsed === undefined) throw new Error(`not a server line: ${text}`);
  return parsed;
}

function feed(state: ClientState, ...lines: string[]): ClientState {
  for (const text of lines) state.apply(line(text));
  return state;
}

// ---------------------------------------------------------------- what the prompt shows

test('the nickname and current room follow OK NICK, OK JOIN and OK PART like the server\'s rule', (t) => {
  const state = feed(new ClientState(), 'OK NICK alice Welcome, alice!', 'OK JOIN #lobby Now talking in #lobby.');
  t.is(state.nick, 'alice');
  t.is(state.currentRoom, '#lobby');
  feed(state, 'OK JOIN #dev Now talking in #dev.', 'OK JOIN #ops Now talking in #ops.');
  t.is(state.currentRoom, '#ops');
  feed(state, 'OK JOIN #dev Now talking in #dev.');
  t.is(state.currentRoom, '#dev', 'joining a room you are in makes it current');
  feed(state, 'OK PART #dev Left #dev; now talking in #ops.');
  t.is(state.currentRoom, '#ops', 'parting the current room falls back to the one used before it');
  feed(state, 'OK PART #ops Left #ops; now talking in #lobby.', 'OK PART #lobby Left #lobby; you are in no room now (/join #ROOM).');
  t.is(state.currentRoom, undefined);
  feed(state, 'OK NICK alicia You are now known as alicia.');
  t.is(state.nick, 'alicia');
});

test('the room named by OK PART wins if the client\'s idea of the order was off', (t) => {
  const state = feed(new ClientState(), 'OK NICK a hi', 'OK JOIN #x ok', 'OK JOIN #y ok', 'OK JOIN #z ok');
  feed(state, 'OK PART #z Left #z; now talking in #x.');
  t.is(state.currentRoom, '#x');
});

test('other people\'s events do not change the user\'s rooms', (t) => {
  const state = feed(new ClientState(), 'OK NICK alice hi', 'OK JOIN #dev ok', 'JOIN #ops bob', 'PART #dev carol', 'MSG #ops bob hi');
  t.deepEqual(state.rooms, ['#dev']);
});

test('nicknames seen are remembered for completion, renamed on NICK, forgotten on QUIT, never the user\'s own', (t) => {
  const state = feed(new ClientState(), 'OK NICK alice hi', 'NAMES #lobby alice bob carol', 'JOIN #lobby dave', 'PRIVMSG erin hey');
  t.deepEqual(state.nicknames().sort(), ['bob', 'carol', 'dave', 'erin']);
  feed(state, 'NICK carol caroline', 'QUIT dave Quit');
  t.deepEqual(state.nicknames().sort(), ['bob', 'caroline', 'erin']);
  feed(state, 'MSG #dev Frank hi', 'WHOIS gina rooms #art', 'HISTORY #old 1 2026-01-01T00:00:00Z hank MSG hi');
  t.true(['Frank', 'gina', 'hank'].every((n) => state.nicknames().includes(n)));
  t.true(['#lobby', '#dev', '#art', '#old'].every((r) => state.roomNames().includes(r)));
});

test('memory for names is bounded: the oldest are forgotten first', (t) => {
  const state = new ClientState();
  for (let i = 0; i <= MAX_REMEMBERED; i++) state.apply(line(`JOIN #r user${i}`));
  t.is(state.nicknames().length, MAX_REMEMBERED);
  t.false(state.nicknames().includes('user0'));
  t.true(state.nicknames().includes(`user${MAX_REMEMBERED}`));
});

test('a lost connection remembers the nickname and rooms in order, and hides replayed history already seen', (t) => {
  const state = feed(new ClientState(), 'OK NICK alice hi', 'OK JOIN #lobby ok', 'OK JOIN #dev ok');
  const lostAt = Date.parse('2026-03-10T08:00:00Z');
  t.deepEqual(state.connectionLost(lostAt), { nick: 'alice', rooms: ['#lobby', '#dev'] });
  t.false(state.registered);
  t.deepEqual(state.rooms, []);
  // Re-joining #dev replays its history: what came before the drop was on screen already.
  t.true(state.isSeenReplay(line('HISTORY #dev 7 2026-03-10T07:59:00Z bob MSG seen live')));
  t.false(state.isSeenReplay(line('HISTORY #dev 8 2026-03-10T08:00:05Z bob MSG said while we were away')));
  t.false(state.isSeenReplay(line('HISTEND #dev 2 Replayed the last 2.')), 'the end line stays when something was shown');
  t.true(state.isSeenReplay(line('HISTORY #lobby 3 2026-03-10T07:00:00Z bob MSG old')));
  t.true(state.isSeenReplay(line('HISTEND #lobby 1 Replayed the last 1.')), 'nothing new in #lobby: no end line either');
  feed(state, 'OK JOIN #lobby ok', 'OK JOIN #dev ok');
  t.false(state.isSeenReplay(line('HISTORY #dev 7 2026-03-10T07:59:00Z bob MSG seen live')), 'an explicit /history later shows everything');
  t.false(state.isSeenReplay(line('HISTORY #elsewhere 1 2026-01-01T00:00:00Z bob MSG never seen')));
});

test('after a reconnection, #lobby\'s replay is hidden for a user who had left #lobby', (t) => {
  const state = feed(new ClientState(), 'OK NICK alice hi', 'OK JOIN #lobby ok', 'OK JOIN #dev ok', 'OK PART #lobby Left #lobby; now talking in #dev.');
  state.connectionLost(Date.parse('2026-03-10T08:00:00Z'));
  t.true(state.isSeenReplay(line('HISTORY #lobby 9 2026-03-10T09:00:00Z bob MSG newer, but the user left #lobby')));
  t.true(state.isSeenReplay(line('HISTEND #lobby 1 Replayed the last 1.')));
});

// ---------------------------------------------------------------- registration

const plan: RegistrationPlan = { nick: 'alice', rooms: ['#dev', '#ops'], partLobby: false, nickVariants: 0, readyToken: 'mychat-client-ready-1' };

function run(registration: Registration, ...lines: string[]): RegistrationEvent[] {
  return lines.flatMap((text) => registration.handle(line(text)));
}

function sent(events: RegistrationEvent[]): string[] {
  return events.flatMap((e) => (e.kind === 'send' ? [e.line] : []));
}

test('registration asks for the nickname after HELLO, joins after OK NICK, and is ready after the PONG', (t) => {
  const reg = new Registration(plan);
  t.deepEqual(run(reg, 'HELLO mychatd/1 Welcome'), [{ kind: 'send', line: '/nick alice' }]);
  const afterNick = run(reg, 'OK NICK alice Welcome, alice!');
  t.deepEqual(afterNick[0], { kind: 'registered', nick: 'alice' });
  t.deepEqual(sent(afterNick), ['/join #dev', '/join #ops', '/ping mychat-client-ready-1']);
  t.deepEqual(run(reg, 'ROOM #lobby 1', 'OK JOIN #lobby ok', 'OK JOIN #dev ok', 'MSG #dev bob hi', 'OK JOIN #ops ok', 'PONG other'), []);
  t.false(reg.done);
  t.deepEqual(run(reg, 'PONG mychat-client-ready-1'), [{ kind: 'ready', nick: 'alice' }]);
  t.true(reg.done);
  t.deepEqual(run(reg, 'ERR NICK_IN_USE later errors are the user\'s own'), []);
});

test('a taken nickname is refused at once when no variants are allowed', (t) => {
  const reg = new Registration(plan);
  run(reg, 'HELLO x y');
  t.deepEqual(run(reg, 'ERR NICK_IN_USE The nickname alice is taken; pick another.'), [
    { kind: 'nick-refused', nick: 'alice', code: 'NICK_IN_USE', text: 'The nickname alice is taken; pick another.' },
  ]);
  // The user may then pick one by hand; the plan goes on from there.
  t.deepEqual(sent(run(reg, 'OK NICK alice2 Welcome')), ['/join #dev', '/join #ops', '/ping mychat-client-ready-1']);
});

test('on reconnection a taken nickname is retried as nick_, nick__, … and the user is told', (t) => {
  const reg = new Registration({ ...plan, nickVariants: 2 });
  run(reg, 'HELLO x y');
  t.deepEqual(run(reg, 'ERR NICK_IN_USE taken'), [
    { kind: 'nick-taken', nick: 'alice', next: 'alice_' },
    { kind: 'send', line: '/nick alice_' },
  ]);
  t.deepEqual(run(reg, 'ERR NICK_IN_USE taken'), [
    { kind: 'nick-taken', nick: 'alice_', next: 'alice__' },
    { kind: 'send', line: '/nick alice__' },
  ]);
  t.deepEqual(run(reg, 'ERR NICK_IN_USE taken'), [{ kind: 'nick-refused', nick: 'alice__', code: 'NICK_IN_USE', text: 'taken' }]);
});

test('a refused join is reported; the server\'s automatic room is left when the user had left it, whatever its name', (t) => {
  const reg = new Registration({ ...plan, partLobby: true });
  run(reg, 'HELLO x y');
  t.deepEqual(sent(run(reg, 'OK NICK alice hi')), ['/join #dev', '/join #ops', '/ping mychat-client-ready-1']);
  t.deepEqual(sent(run(reg, 'OK JOIN #start Now talking in #start.')), ['/part #start']);
  t.deepEqual(run(reg, 'ERR TOO_MANY_ROOMS full'), [{ kind: 'join-refused', code: 'TOO_MANY_ROOMS', text: 'full' }]);
  t.deepEqual(sent(run(reg, 'OK JOIN #dev Now talking in #dev.')), [], 'planned rooms stay');
  const withLobby = new Registration({ ...plan, rooms: ['#dev', '#LOBBY'], partLobby: true });
  run(withLobby, 'HELLO x y');
  run(withLobby, 'OK NICK alice hi');
  t.deepEqual(sent(run(withLobby, 'OK JOIN #lobby Now talking in #lobby.')), [], 'a planned #lobby stays');
  // A server without an automatic join (mychatd --auto-join '') answers only the planned joins: nothing is left.
  const noAutoJoin = new Registration({ ...plan, partLobby: true });
  run(noAutoJoin, 'HELLO x y');
  run(noAutoJoin, 'OK NICK alice hi');
  t.deepEqual(sent(run(noAutoJoin, 'OK JOIN #dev Now talking in #dev.', 'OK JOIN #ops Now talking in #ops.', 'PONG mychat-client-ready-1')), []);
});

test('without a nickname the user registers by typing one; the joins follow', (t) => {
  const reg = new Registration({ ...plan, nick: '' });
  t.deepEqual(run(reg, 'HELLO x y', 'ERR NICK_INVALID bad'), []);
  t.deepEqual(sent(run(reg, 'OK NICK typed hi')), ['/join #dev', '/join #ops', '/ping mychat-client-ready-1']);
});

test('only the client\'s own pings are hidden', (t) => {
  t.true(isInternalPong(line('PONG mychat-client-alive-x1')));
  t.false(isInternalPong(line('PONG mine')));
  t.false(isInternalPong(line('NOTICE mychat-client-alive-x1')));
});

// ---------------------------------------------------------------- reconnection

test('reconnection waits 0.5 s at first, doubling up to 10 s, with jitter in the upper half of each step', (t) => {
  t.is(backoffDelay(0, () => 0), 250);
  t.is(backoffDelay(0, () => 0.999999), 500);
  t.is(backoffDelay(1, () => 0.999999), 1000);
  t.is(backoffDelay(3, () => 0.999999), 4000);
  for (const attempt of [5, 6, 50, 10_000]) {
    t.is(backoffDelay(attempt, () => 0.999999), BACKOFF_MAX_MS);
    t.is(backoffDelay(attempt, () => 0), BACKOFF_MAX_MS / 2);
  }
  t.is(formatDelay(500), '0.5 s');
  t.is(formatDelay(10_000), '10 s');
});

test('nickname variants stay within the 24-character limit', (t) => {
  t.is(nickVariant('alice', 1), 'alice_');
  t.is(nickVariant('alice', 3), 'alice___');
  const long = 'abcdefghijklmnopqrstuvwx';
  t.is(nickVariant(long, 2), 'abcdefghijklmnopqrstuv__');
  t.is([...nickVariant('ääääääääääääääääääääääää', 1)].length, 24);
});

// ---------------------------------------------------------------- typed lines

test('typed lines and /commands go to the server as typed', (t) => {
  t.deepEqual(interpretInput('hello there'), { kind: 'send', line: 'hello there' });
  t.deepEqual(interpretInput('/join #dev'), { kind: 'send', line: '/join #dev' });
  t.deepEqual(interpretInput('//not a command'), { kind: 'send', line: '//not a command' });
  t.deepEqual(interpretInput('   '), { kind: 'none' });
  t.deepEqual(interpretInput('/help join'), { kind: 'send', line: '/help join' });
});

test('/say sends its text literally, escaping a leading slash', (t) => {
  t.deepEqual(interpretInput('/say /join is the command'), { kind: 'send', line: '//join is the command' });
  t.deepEqual(interpretInput('/say plain  text'), { kind: 'send', line: 'plain  text' });
  t.deepEqual(interpretInput('/SAY //x'), { kind: 'send', line: '///x' });
  t.is(interpretInput('/say').kind, 'local');
  t.is(literalLine('/x'), '//x');
});

test('/clear and /help about the client\'s commands stay local; /quit and its aliases wait for BYE', (t) => {
  t.deepEqual(interpretInput('/clear'), { kind: 'clear' });
  t.is(interpretInput('/help say').kind, 'local');
  t.is(interpretInput('/help /clear').kind, 'local');
  t.deepEqual(interpretInput('/quit see you'), { kind: 'quit', line: '/quit see you' });
  t.deepEqual(interpretInput('/BYE'), { kind: 'quit', line: '/BYE' });
  t.deepEqual(interpretInput('/exit'), { kind: 'quit', line: '/exit' });
  t.true(isQuitLine('/quit'));
  t.false(isQuitLine('//quit'));
  t.false(isQuitLine('quit'));
});

test('/window, a bare /topic and "/join dev" are the client\'s business', (t) => {
  t.deepEqual(interpretInput('/window 3'), { kind: 'window', arg: '3' });
  t.deepEqual(interpretInput('/window'), { kind: 'window', arg: '' });
  t.deepEqual(interpretInput('/WINDOW #dev'), { kind: 'window', arg: '#dev' });
  t.deepEqual(interpretInput('/topic'), { kind: 'topic' });
  t.deepEqual(interpretInput('/topic #dev new'), { kind: 'send', line: '/topic #dev new' });
  t.deepEqual(interpretInput('/join dev'), { kind: 'send', line: '/join #dev' });
  t.deepEqual(interpretInput('/j dev'), { kind: 'send', line: '/j #dev' });
  t.deepEqual(interpretInput('/join #dev'), { kind: 'send', line: '/join #dev' });
  t.deepEqual(interpretInput('/join'), { kind: 'send', line: '/join' }, 'the server explains the usage');
  t.is(interpretInput('/help window').kind, 'local');
});
