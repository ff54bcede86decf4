import test from 'ava';
import { ChatState } from '../../web/chat-state';
import { complete, commonPrefix, COMMAND_NAMES } from '../../web/completion';
import { parseEvent, type ServerEvent } from '../../web/events';
import { planPaste } from '../../web/paste';
import { reconnectDelay } from '../../web/reconnect';
import { mentions, visible } from '../../web/text';

/*
 * The browser client's DOM-free modules: the state fed with JSON-mode events, what it sends, completion,
 * paste planning and the reconnect backoff. The page itself is tested in real Chromium (e2e/browser).
 */

const AT = '2026-12-02T10:00:00.000Z';

function client(): { state: ChatState; sent: string[]; feed: (...events: ServerEvent[]) => void } {
  const sent: string[] = [];
  const state = new ChatState((frame) => sent.push(frame));
  return { state, sent, feed: (...events) => events.forEach((e) => state.apply(e)) };
}

/** Registers `nick` and answers the automatic join of #lobby with `replay` stored entries. */
function registered(nick = 'alice', replay: number[] = []): ReturnType<typeof client> {
  const c = client();
  c.feed({ type: 'hello', server: 'mychatd/0.1.0', text: 'Welcome' });
  c.state.register(nick);
  c.feed(
    { type: 'reply', command: 'NICK', subject: nick, text: `Welcome, ${nick}!` },
    { type: 'room', room: '#lobby', members: 2, topic: 'hello all' },
    { type: 'names', label: '#lobby', nicks: ['bob', nick] },
    ...replay.map((id): ServerEvent => ({ type: 'history', room: '#lobby', id, at: AT, from: 'bob', kind: 'MSG', text: `stored ${id}` })),
    ...(replay.length > 0 ? [{ type: 'history-end', room: '#lobby', count: replay.length, text: 'Replayed.' } as ServerEvent] : []),
    { type: 'reply', command: 'JOIN', subject: '#lobby', text: 'Now talking in #lobby.' },
  );
  return c;
}

test('registering: the server refuses a nickname in its own words, then the automatic join fills the room', (t) => {
  const { state, sent, feed } = client();
  feed({ type: 'hello', server: 'mychatd/0.1.0', text: 'Welcome' });
  t.is(state.phase, 'nick');
  state.register('BOB');
  t.deepEqual(JSON.parse(sent.pop()!), { cmd: 'nick', name: 'BOB' });
  feed({ type: 'failure', code: 'NICK_IN_USE', text: 'The nickname BOB is taken; pick another.' });
  t.is(state.phase, 'nick');
  t.is(state.nickError, 'The nickname BOB is taken; pick another.');
  const { state: s } = registered('alice', [7, 8]);
  t.is(s.phase, 'chat');
  t.is(s.current.name, '#lobby');
  t.is(s.current.topic, 'hello all');
  t.deepEqual(s.current.members, ['alice', 'bob']);
  const stored = s.current.entries.filter((e) => e.history === true);
  t.deepEqual(
    stored.map((e) => [e.id, e.text, e.at]),
    [
      [7, 'stored 7', AT],
      [8, 'stored 8', AT],
    ],
  );
  t.true(s.current.entries.some((e) => e.kind === 'marker'));
});

test('a nickname sent before the server said hello (a slow link) is registered when the hello comes, once', (t) => {
  const { state, sent, feed } = client();
  state.connected();
  state.submitNick(' alice ');
  t.deepEqual(sent, [], 'nothing can be sent before the hello');
  t.is(state.phase, 'connecting');
  feed({ type: 'hello', server: 'mychatd/0.1.0', text: 'Welcome' });
  t.deepEqual(sent.map((frame) => JSON.parse(frame) as unknown), [{ cmd: 'nick', name: 'alice' }]);
  t.is(state.phase, 'registering');
  // Pressing Enter again while registering sends nothing more.
  state.submitNick('alice');
  t.is(sent.length, 1);
});

test('a nickname sent while the first connection failed and the page waits to reconnect is registered after the reconnect', (t) => {
  const { state, sent, feed } = client();
  state.disconnected('The connection was lost (1006).');
  t.is(state.phase, 'offline');
  state.submitNick('bob');
  state.connected();
  t.is(state.phase, 'registering');
  feed({ type: 'hello', server: 'mychatd/0.1.0', text: 'Welcome' });
  t.deepEqual(sent.map((frame) => JSON.parse(frame) as unknown), [{ cmd: 'nick', name: 'bob' }]);
});

test('activity elsewhere counts as unread, a mention or a private message also as a mention; showing it clears both', (t) => {
  const { state, sent, feed } = registered();
  state.submit('/join dev');
  t.deepEqual(JSON.parse(sent.pop()!), { cmd: 'join', room: '#dev' });
  feed({ type: 'room', room: '#dev', members: 1, topic: '' }, { type: 'names', label: '#dev', nicks: ['alice'] }, { type: 'reply', command: 'JOIN', subject: '#dev', text: '' });
  t.is(state.current.name, '#dev');
  feed(
    { type: 'message', room: '#lobby', from: 'bob', id: 1, at: AT, text: 'one' },
    { type: 'message', room: '#lobby', from: 'bob', id: 2, at: AT, text: 'ALICE: lunch?' },
    { type: 'private', from: 'carol', at: AT, text: 'psst' },
    { type: 'join', room: '#lobby', nick: 'dave' },
  );
  const lobby = state.conversations.get('#lobby')!;
  t.like(lobby, { unread: 2, mentions: 1 });
  t.like(state.conversations.get('@carol')!, { kind: 'private', unread: 1, mentions: 1 });
  t.deepEqual(lobby.members, ['alice', 'bob', 'dave']);
  state.select('#lobby');
  t.like(lobby, { unread: 0, mentions: 0 });
  t.deepEqual(
    state.list().map((c) => c.name),
    ['mychatd', '#dev', '#lobby', 'carol'],
  );
});

test('a plain line goes to the room shown: the server is told to switch rooms first when it is elsewhere', (t) => {
  const { state, sent, feed } = registered();
  feed({ type: 'room', room: '#dev', members: 1, topic: '' }, { type: 'reply', command: 'JOIN', subject: '#dev', text: '' });
  state.select('#lobby');
  sent.length = 0;
  t.deepEqual(state.submit('hi there'), { ok: true });
  t.deepEqual(sent.map((f) => JSON.parse(f)), [{ cmd: 'join', room: '#lobby' }, { cmd: 'say', text: 'hi there' }]);
  state.submit('//not a command');
  t.deepEqual(JSON.parse(sent.pop()!), { cmd: 'say', text: '/not a command' });
  // Typing in #lobby right after /join #x, before its reply: the server's current room is #x by then.
  sent.length = 0;
  state.submit('/join #x');
  state.submit('still here');
  t.deepEqual(
    sent.map((f) => JSON.parse(f)),
    [{ cmd: 'join', room: '#x' }, { cmd: 'join', room: '#lobby' }, { cmd: 'say', text: 'still here' }],
  );
  t.like(state.submit('/format mychat'), { ok: false });
  t.like(state.submit('/paste'), { ok: false });
});

test('several lines are one paste block: confirmed above the size, opened behind a ping, nothing else sent in between', (t) => {
  const { state, sent, feed } = registered();
  sent.length = 0;
  const lines = Array.from({ length: 12 }, (_, i) => (i === 0 ? '.hidden dot' : `line ${i}`));
  t.like(state.submit(lines.join('\n')), { ok: false, confirm: 'Send 12 lines (90 bytes) to #lobby as one paste?' });
  t.deepEqual(sent, []);
  state.confirmPaste();
  t.deepEqual(sent, ['{"cmd":"ping","token":"paste-1"}', '/paste #lobby']);
  state.submit('typed meanwhile');
  t.is(sent.length, 2, 'held until the block is open');
  feed({ type: 'pong', token: 'paste-1' }, { type: 'reply', command: 'PASTE', subject: '#lobby', text: 'Send the lines…' });
  t.deepEqual(sent.slice(2), ['..hidden dot', ...lines.slice(1), '.']);
  feed({ type: 'reply', command: 'PASTE', subject: '#lobby', text: 'Sent 12 lines.' });
  t.deepEqual(JSON.parse(sent[sent.length - 1]!), { cmd: 'say', text: 'typed meanwhile' });
  t.is(state.current.entries.filter((e) => e.kind === 'paste').length, 1);
});

test('a refused /paste sends none of its lines', (t) => {
  const { state, sent, feed } = registered();
  sent.length = 0;
  state.submit('a\nb');
  feed({ type: 'failure', code: 'BAD_ARGS', text: 'an earlier command failed' }, { type: 'pong', token: 'paste-1' }, { type: 'failure', code: 'NOT_IN_ROOM', text: 'Join #lobby to paste into it.' });
  t.deepEqual(sent, ['{"cmd":"ping","token":"paste-1"}', '/paste #lobby']);
  t.true(state.current.entries.some((e) => e.kind === 'error' && e.text.includes('The paste was not sent')));
});

test('after a reconnect: the same nickname, back into the rooms, and the replay adds only what was missed', (t) => {
  const { state, sent, feed } = registered('alice', [1, 2]);
  feed({ type: 'room', room: '#dev', members: 1, topic: '' }, { type: 'reply', command: 'JOIN', subject: '#dev', text: '' });
  state.select('#lobby');
  state.submit('my own line');
  state.disconnected('The connection was lost (1006).');
  t.is(state.phase, 'offline');
  sent.length = 0;
  state.connected();
  feed({ type: 'hello', server: 'mychatd/0.1.0', text: 'Welcome' });
  t.deepEqual(JSON.parse(sent.shift()!), { cmd: 'nick', name: 'alice' });
  feed({ type: 'reply', command: 'NICK', subject: 'alice', text: '' });
  t.deepEqual(
    sent.map((f) => JSON.parse(f)),
    [
      { cmd: 'join', room: '#dev' },
      { cmd: 'join', room: '#lobby' },
    ],
  );
  const replay = [1, 2, 3].map((id): ServerEvent => ({ type: 'history', room: '#lobby', id, at: AT, from: 'bob', kind: 'MSG', text: `stored ${id}` }));
  replay.push({ type: 'history', room: '#lobby', id: 4, at: AT, from: 'alice', kind: 'MSG', text: 'my own line' });
  feed(...replay, { type: 'history-end', room: '#lobby', count: 4, text: '' }, { type: 'reply', command: 'JOIN', subject: '#lobby', text: '' });
  const texts = state.conversations.get('#lobby')!.entries.filter((e) => e.kind === 'message').map((e) => e.text);
  t.deepEqual(texts, ['stored 1', 'stored 2', 'my own line', 'stored 3']);
  t.is(state.current.name, '#lobby', 'the view stays where it was');
});

test('a first scroll-back page that holds lines already shown live shows them once, with their ids', (t) => {
  const { state, sent, feed } = registered('alice');
  feed({ type: 'message', room: '#lobby', from: 'bob', text: 'hi alice, welcome', at: AT });
  sent.length = 0;
  t.true(state.loadOlder('#lobby'));
  t.deepEqual(JSON.parse(sent.pop()!), { cmd: 'history', room: '#lobby', n: 50 });
  feed(
    { type: 'history', room: '#lobby', id: 7, at: AT, from: 'bob', kind: 'MSG', text: 'hi alice, welcome' },
    { type: 'history', room: '#lobby', id: 8, at: AT, from: 'carol', kind: 'MSG', text: 'hi alice, welcome' },
    { type: 'history-end', room: '#lobby', count: 2, text: 'Start of history.' },
    { type: 'reply', command: 'HISTORY', subject: '#lobby', text: '2 stored messages.' },
  );
  const said = state.conversations.get('#lobby')!.entries.filter((e) => e.text === 'hi alice, welcome');
  t.deepEqual(
    said.map((e) => [e.from, e.id, e.history === true]),
    [
      ['bob', 7, false],
      ['carol', 8, true],
    ],
    "bob's live line took its id; carol's stored line with the same words is another entry",
  );
});

test('scroll-back asks for the page before the oldest shown entry and stops at the start of history', (t) => {
  const { state, sent, feed } = registered('alice', [50, 51]);
  sent.length = 0;
  t.true(state.loadOlder('#lobby'));
  t.false(state.loadOlder('#lobby'), 'one page at a time');
  t.deepEqual(JSON.parse(sent.pop()!), { cmd: 'history', room: '#lobby', n: 50, before: 50 });
  feed({ type: 'history', room: '#lobby', id: 49, at: AT, from: 'bob', kind: 'PASTE', text: 'a\nb' }, { type: 'history-end', room: '#lobby', count: 1, text: 'Start of history.' }, { type: 'reply', command: 'HISTORY', subject: '#lobby', text: '1 stored message.' });
  const lobby = state.conversations.get('#lobby')!;
  t.like(lobby.entries[0], { id: 49, kind: 'paste', text: 'a\nb', history: true });
  t.true(lobby.historyDone);
  t.false(state.loadOlder('#lobby'));
});

test('completion: commands, rooms, nicknames (addressed at the start of a line), the argument a command takes', (t) => {
  const sources = { commands: COMMAND_NAMES, nicks: ['bob', 'Bea', 'carol'], rooms: ['#dev', '#design', '#lobby'] };
  t.deepEqual(complete('/jo', 3, sources).candidates, ['/join ']);
  t.false(COMMAND_NAMES.includes('format'), '/format would break the client');
  t.deepEqual(complete('bo', 2, sources).candidates, ['bob: ']);
  t.deepEqual(complete('ask b', 5, sources).candidates, ['bob ', 'Bea ']);
  t.deepEqual(complete('/msg c', 6, sources), { from: 5, to: 6, candidates: ['carol '] });
  t.deepEqual(complete('/join de', 8, sources).candidates, ['#dev ', '#design ']);
  t.is(commonPrefix(['#dev ', '#design ']), '#de');
  t.deepEqual(complete('', 0, sources).candidates, []);
});

test('paste plans: dot-stuffing, the protocol limits, the confirmation threshold; backoff grows to 30 s', (t) => {
  t.like(planPaste('a\r\n.b\r\n..\n\n'), { ok: true, lines: ['a', '..b', '...'], confirm: false });
  t.like(planPaste(Array(101).fill('x').join('\n')), { ok: false });
  t.like(planPaste('y'.repeat(9000) + '\n' + 'y'.repeat(9000)), { ok: false });
  t.like(planPaste(Array(11).fill('x').join('\n')), { ok: true, confirm: true });
  t.deepEqual([0, 1, 2, 3, 7, 20].map((n) => reconnectDelay(n, 0.5)), [1000, 2000, 3000, 5000, 30000, 30000]);
  t.is(reconnectDelay(0, 0), 800);
});

test('text: control and bidi characters are made visible, mentions are whole words ignoring case; malformed events are dropped', (t) => {
  t.is(visible('a\u001b[31mb\u202ec'), 'a\u241b[31mb\ufffdc');
  t.true(mentions('hey ALICE!', 'alice'));
  t.false(mentions('malice', 'alice'));
  t.is(parseEvent('{"type":"message","room":"#a","from":"b","at":"x"}'), undefined);
  t.is(parseEvent('{"type":"nope"}'), undefined);
  t.is(parseEvent('not json'), undefined);
  t.like(parseEvent('{"type":"names","label":"#a","nicks":["b"]}'), { type: 'names', nicks: ['b'] });
});
