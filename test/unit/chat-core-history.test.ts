import test from 'ava';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MYCHAT_CODEC } from '../../lib/codec/mychat-codec';
import { ChatCore } from '../../lib/core/chat-core';
import { eventSize } from '../../lib/core/event-size';
import type { ChatEvent, HistoryEvent } from '../../lib/core/events';
import type { Session } from '../../lib/core/session';
import { silentLogger } from '../../lib/log';
import { inlineQueries } from '../../lib/history/history-reader';
import { SqliteHistoryStore } from '../../lib/history/sqlite-history-store';
import { EventSink, msg, notice, ok } from '../helpers/event-sink';

/** The history events among `events`. */
const historyOf = (events: readonly ChatEvent[]): HistoryEvent[] => events.flatMap((e) => (e.type === 'history' ? [e] : []));
/** True for a history or history-end event. */
const isHistory = (e: ChatEvent): boolean => e.type === 'history' || e.type === 'history-end';

function setup(t: { teardown(fn: () => void): void }) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mychat-core-history-'));
  // onOutage runs only after an append, by which time `core` exists.
  const store = new SqliteHistoryStore({ dataDir: dir, sync: 'normal', log: silentLogger, onOutage: (unsaved) => core.historyOutage(unsaved) });
  const core = new ChatCore({ history: store, historyQueries: inlineQueries(store), historyReplay: 3 });
  t.teardown(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  // Replay is read asynchronously: each helper waits for the command to finish, as a connection does.
  const user = async (nick: string) => {
    const sink = new EventSink();
    const session = core.connect(sink, `192.0.2.${nick.length}`) as Session;
    await core.handleInput(session, { ok: true, text: nick });
    sink.take();
    return { sink, session, say: async (text: string) => await core.handleInput(session, { ok: true, text }) };
  };
  return { core, store, user };
}

test('joining an existing room replays its last N as HISTORY lines, then HISTEND, then OK JOIN; a new room replays nothing', async (t) => {
  const { user } = setup(t);
  const alice = await user('alice');
  await alice.say('/join #r');
  t.false(alice.sink.take().some(isHistory), 'a room that did not exist has nothing to replay');
  for (const text of ['one', 'two', 'three', 'four']) alice.say(text);
  await alice.say('/me nods');
  const bob = await user('bob');
  await bob.say('/join #r');
  const reply = bob.sink.take();
  t.deepEqual(reply.map((e) => e.type), ['room', 'names', 'history', 'history', 'history', 'history-end', 'reply'], JSON.stringify(reply));
  t.deepEqual(historyOf(reply).map((e) => [e.room, e.from, e.kind, e.text]), [['#r', 'alice', 'MSG', 'three'], ['#r', 'alice', 'MSG', 'four'], ['#r', 'alice', 'ACTION', 'nods']]);
  t.deepEqual(reply[reply.length - 2], { type: 'history-end', room: '#r', count: 3, text: 'Replayed the last 3; /history #r for more.' });
});

test('/replay off stops replay for that connection only', async (t) => {
  const { user } = setup(t);
  const alice = await user('alice');
  await alice.say('/join #r');
  await alice.say('hello');
  const bob = await user('bob');
  await bob.say('/replay off');
  t.deepEqual(bob.sink.take(), [ok('REPLAY', 'off', 'Joining a room replays no history.')]);
  await bob.say('/join #r');
  t.false(bob.sink.take().some(isHistory));
  const carol = await user('carol');
  await carol.say('/join #r');
  t.true(historyOf(carol.sink.take()).some((e) => e.room === '#r'));
});

test('during a storage outage chat goes on, each sender is told once, and nothing queued is lost', async (t) => {
  const { store, user } = setup(t);
  const alice = await user('alice');
  const bob = await user('bob');
  await alice.say('/join #r');
  await bob.say('/join #r');
  await alice.say('before the outage');
  store.commit();
  bob.sink.take();
  alice.sink.take();
  const db = (store as unknown as { db: Database.Database }).db;
  db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`);
  const big = 'x'.repeat(3000);
  for (let i = 0; i < 20; i++) {
    await alice.say(`${i} ${big}`);
    store.commit();
  }
  t.is(bob.sink.take().filter((e) => e.type === 'message' && e.room === '#r' && e.from === 'alice').length, 20, 'live delivery goes on');
  const notices = alice.sink.take().filter((e) => e.type === 'notice');
  t.deepEqual(notices, [notice('History cannot be saved right now (storage error): your messages are delivered live but may not be kept.')]);
  await bob.say('me too');
  t.is(bob.sink.take().filter((e) => e.type === 'notice').length, 1, 'another sender during the outage is told too, once');
  await bob.say('again');
  t.is(bob.sink.take().filter((e) => e.type === 'notice').length, 0);
  db.pragma('max_page_count = 1073741823');
  // The store retries on its own timer (the first retry comes a second after the failure).
  const deadline = Date.now() + 5000;
  while (!store.healthy && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  t.true(store.healthy);
  t.is(store.recent('#r', 100).length, 23, 'every message of the outage was written once the disk recovered');
});

test('live lines that arrive while a join replay is being read come after the replay and OK JOIN, never before or twice', async (t) => {
  const { core, store, user } = setup(t);
  const alice = await user('alice');
  await alice.say('/join #r');
  for (const text of ['one', 'two']) await alice.say(text);
  // A reader whose answer the test releases by hand, as a slow worker would answer.
  const real = inlineQueries(store);
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));
  (core.options as { historyQueries: unknown }).historyQueries = { ...real, recent: async (...args: Parameters<typeof real.recent>) => { await gate; return real.recent(...args); } };
  // #lobby has no history, so bob's registration replays nothing and does not wait for the gate.
  const bob = await user('bob');
  const joining = bob.say('/join #r');
  await alice.say('said during the replay');
  store.commit();
  t.deepEqual(bob.sink.events.filter((e) => e.type === 'message'), [], 'held back while the replay is read');
  release();
  await joining;
  const events = bob.sink.take();
  t.deepEqual(events.slice(-3).map((e) => e.type), ['history-end', 'reply', 'message']);
  t.deepEqual(events[events.length - 2], ok('JOIN', '#r', 'Now talking in #r.'));
  t.deepEqual(events[events.length - 1], msg('#r', 'alice', 'said during the replay'));
  t.is(events.filter((e) => 'text' in e && e.text.includes('said during the replay')).length, 1, 'the live line is not also replayed');
  t.deepEqual(historyOf(events).map((e) => [e.kind, e.text]), [['MSG', 'one'], ['MSG', 'two']]);
});

test('a /history page is cut at the reply size limit, keeping the newest, and says how to page back', async (t) => {
  const { user } = setup(t);
  const alice = await user('alice');
  await alice.say('/join #big');
  for (let i = 0; i < 60; i++) await alice.say(`${i} ${'y'.repeat(3000)}`);
  alice.sink.take();
  await alice.say('/history #big 60');
  const events = alice.sink.take();
  const history = historyOf(events);
  const size = history.reduce((n, e) => n + eventSize(e), 0);
  t.true(size <= 64 * 1024, `${size} bytes by eventSize`);
  // The size the core counts is never below what the mychat codec writes for the same events.
  const wire = history.reduce((n, e) => n + MYCHAT_CODEC.encode(e).length, 0);
  t.true(wire <= size, `${wire} bytes on the mychat wire`);
  t.true(history.length >= 15 && history.length < 60);
  t.true(history[history.length - 1]!.text.startsWith('59 '), 'the newest entry is shown');
  const end = events.find((e) => e.type === 'history-end');
  t.deepEqual(end, {
    type: 'history-end',
    room: '#big',
    count: history.length,
    text: `Reply size limit reached (64 KiB). Older: /history #big 60 before ${history[0]!.id}`,
  });
});

test('a storm of joins into one room shares one replay read; a room with nothing said needs none', async (t) => {
  const { core, store, user } = setup(t);
  const alice = await user('alice');
  await alice.say('/join #busy');
  await alice.say('hello');
  await alice.say('/join #quiet');
  await alice.say('/topic #quiet only a topic here');
  const real = inlineQueries(store);
  const asked: string[] = [];
  (core.options as { historyQueries: unknown }).historyQueries = {
    ...real,
    recent: (...args: Parameters<typeof real.recent>) => {
      asked.push(args[0]);
      return real.recent(...args);
    },
  };
  const joiners = await Promise.all(['b1', 'b2', 'b3', 'b4', 'b5'].map((nick) => user(nick)));
  await Promise.all(joiners.map((j) => j.say('/join #busy')));
  t.deepEqual(asked, ['#busy'], 'five joins in one turn, one read');
  for (const j of joiners) {
    t.true(j.sink.take().some((e) => e.type === 'history-end' && e.room === '#busy' && e.count === 1 && e.text === 'Replayed the last 1; /history #busy for more.'));
  }
  await joiners[0]!.say('/join #quiet');
  t.deepEqual(asked, ['#busy'], 'no read for a room where only a topic was set');
  t.deepEqual(joiners[0]!.sink.take().pop(), ok('JOIN', '#quiet', 'Now talking in #quiet.'));
});

test('with a store that writes behind the output, a PONG waits until what was said before the PING is written', async (t) => {
  const { store, user } = setup(t);
  // The store stands for one whose commits finish later (the writer thread, PostgreSQL): written() is held by the test.
  let release: () => void = () => undefined;
  let pending = true;
  (store as unknown as { written(): Promise<void> | undefined }).written = () => (pending ? new Promise<void>((resolve) => (release = resolve)) : undefined);
  const alice = await user('alice');
  await alice.say('/join #p');
  alice.sink.take();
  await alice.say('said before the ping');
  const ping = alice.say('/ping t1');
  await new Promise((resolve) => setImmediate(resolve));
  t.false(alice.sink.take().some((e) => e.type === 'pong'), 'no PONG while the line before it is not written');
  pending = false;
  release();
  await ping;
  t.deepEqual(alice.sink.take().filter((e) => e.type === 'pong'), [{ type: 'pong', token: 't1' }]);
  // Nothing waiting: the PONG comes at once.
  await alice.say('/ping t2');
  t.deepEqual(alice.sink.take().filter((e) => e.type === 'pong'), [{ type: 'pong', token: 't2' }]);
});
