import test from 'ava';
import { HistoryFeed, type HistoryFeedOptions } from '../../lib/core/history-feed';
import type { ChatEvent } from '../../lib/core/events';
import type { HistoryPage, HistoryQueries } from '../../lib/core/ports/history-queries';
import type { HistoryEntry, HistoryStore, NewHistoryEntry, PruneResult } from '../../lib/core/ports/history-store';
import { Room, Session } from '../../lib/core/session';
import { createLogger, silentLogger } from '../../lib/log';
import { ChatError } from '../../lib/protocol/errors';
import { FakeClock } from '../helpers/fake-clock';
import { EventSink, notice } from '../helpers/event-sink';

/** An in-memory HistoryStore: entries get ids on commit; `healthy` and the next prune result are set by the test. */
class MemoryStore implements HistoryStore {
  healthy = true;
  shared = false;
  queued: NewHistoryEntry[] = [];
  committed: HistoryEntry[] = [];
  commits = 0;
  nextPrune: PruneResult = { deletedMessages: 0, unusedRooms: [], done: true };
  loadRooms = () => [];
  loadRoomCreations = () => [];
  saveRoom = () => undefined;
  forgetRoom = () => undefined;
  close = () => undefined;
  append(entry: NewHistoryEntry): void {
    this.queued.push(entry);
  }
  catchUps = 0;
  catchUpSearch(): void {
    this.catchUps++;
    this.commit();
  }
  commit(): void {
    this.commits++;
    for (const entry of this.queued.splice(0)) this.committed.push({ id: this.committed.length + 1, ...entry });
  }
  lastMessageId(): number {
    return this.committed.length;
  }
  recent(roomKey: string, limit: number): HistoryEntry[] {
    return this.committed.filter((e) => e.roomKey === roomKey).slice(-limit);
  }
  before = (): HistoryEntry[] => [];
  search = (): HistoryEntry[] => [];
  prune(): PruneResult {
    return this.nextPrune;
  }
}

/** Queries whose answers wait until the test calls answer(), so the test sees what happens meanwhile. */
class HeldQueries implements HistoryQueries {
  reads = 0;
  private waiting: (() => void)[] = [];
  constructor(private readonly store: MemoryStore) {}
  recent(roomKey: string, limit: number, uptoId = Infinity): Promise<HistoryPage> {
    this.reads++;
    return new Promise((resolve) => {
      this.waiting.push(() => resolve({ entries: this.store.recent(roomKey, limit).filter((e) => e.id <= uptoId), more: false }));
    });
  }
  before = (): Promise<HistoryPage> => Promise.resolve({ entries: [], more: false });
  search = (): Promise<HistoryEntry[]> => Promise.resolve([]);
  close = (): Promise<void> => Promise.resolve();
  answer(): void {
    for (const go of this.waiting.splice(0)) go();
  }
}

function setup(overrides: Partial<HistoryFeedOptions> = {}) {
  const clock = new FakeClock();
  const store = new MemoryStore();
  const queries = new HeldQueries(store);
  const options: { -readonly [K in keyof HistoryFeedOptions]: HistoryFeedOptions[K] } = { clock, log: silentLogger, history: store, historyQueries: queries, historyReplay: 2, ...overrides };
  const feed = new HistoryFeed(options);
  const room = new Room('#r', '#r');
  let id = 1;
  const user = (nick: string) => {
    const sink = new EventSink();
    const session = new Session(id++, sink, '192.0.2.1', clock.now());
    session.nick = nick;
    session.state = 'registered';
    room.members.add(session);
    return { session, sink };
  };
  return { clock, store, queries, feed, room, user, options };
}

const ok: ChatEvent = { type: 'reply', command: 'JOIN', subject: '#r', text: 'Now talking in #r.' };

test('record queues the entry with the clock time, makes the room persistent, and only messages make it used', (t) => {
  const w = setup();
  const alice = w.user('alice');
  t.is(w.feed.record(alice.session, w.room, 'TOPIC', 'hello'), w.clock.now());
  t.deepEqual([w.room.persistent, w.room.used], [true, false], 'a topic alone does not make a room used');
  w.clock.advance(5);
  t.is(w.feed.record(alice.session, w.room, 'MSG', 'hi'), w.clock.now());
  t.true(w.room.used);
  t.deepEqual(w.store.queued.map((e) => [e.nick, e.kind, e.text]), [['alice', 'TOPIC', 'hello'], ['alice', 'MSG', 'hi']]);
});

test('without a store nothing is kept and the reader answers NO_HISTORY', (t) => {
  const w = setup({ history: undefined });
  const alice = w.user('alice');
  w.feed.record(alice.session, w.room, 'MSG', 'hi');
  t.false(w.room.persistent);
  t.is(t.throws(() => w.feed.reader(w.room), { instanceOf: ChatError })!.code, 'NO_HISTORY');
});

test('during an outage each sender is told once; a new outage tells them again', (t) => {
  const w = setup();
  const alice = w.user('alice');
  const bob = w.user('bob');
  const outageNotice = notice('History cannot be saved right now (storage error): your messages are delivered live but may not be kept.');
  const unsaved = [alice, alice, bob].map((u) => ({ roomKey: '#r', roomName: '#r', at: 0, nick: u.session.nick, kind: 'MSG' as const, text: 'x' }));
  const byNick = (nick: string) => [alice, bob].find((u) => u.session.nick === nick)?.session;
  w.feed.outage(unsaved, byNick);
  t.deepEqual(alice.sink.take(), [outageNotice]);
  t.deepEqual(bob.sink.take(), [outageNotice]);
  w.store.healthy = false;
  w.feed.record(alice.session, w.room, 'MSG', 'still down');
  t.deepEqual(alice.sink.take(), [], 'already told about this outage');
  w.feed.outage(unsaved.slice(0, 1), byNick);
  t.deepEqual(alice.sink.take(), [outageNotice], 'a new outage is news');
});

test('a join replay commits first, holds live events until the page is read, then sends replay, the reply, and what was held', async (t) => {
  const w = setup();
  const alice = w.user('alice');
  for (const text of ['one', 'two', 'three']) w.feed.record(alice.session, w.room, 'MSG', text);
  w.room.used = true;
  const bob = w.user('bob');
  const done = w.feed.replay(bob.session, w.room, ok, () => t.fail('no overflow'));
  t.truthy(done);
  t.is(w.store.committed.length, 3, 'what was said before the join is committed before it is read');
  bob.session.deliver({ type: 'message', room: '#r', from: 'alice', text: 'live', at: 1 });
  t.deepEqual(bob.sink.take(), [], 'held while the page is read');
  w.queries.answer();
  await done;
  const got = bob.sink.take();
  t.deepEqual(got.map((e) => e.type), ['history', 'history', 'history-end', 'reply', 'message']);
  t.deepEqual(got.flatMap((e) => (e.type === 'history' ? [e.text] : [])), ['two', 'three'], 'the last historyReplay entries');
});

test('joiners of one room within a second share one read; none is made with replay off or for an unused room', async (t) => {
  const w = setup();
  const alice = w.user('alice');
  w.feed.record(alice.session, w.room, 'MSG', 'one');
  const joins = ['b', 'c', 'd'].map((nick) => w.feed.replay(w.user(nick).session, w.room, ok, () => undefined));
  w.queries.answer();
  await Promise.all(joins);
  t.is(w.queries.reads, 1);
  const quiet = w.user('quiet');
  quiet.session.replay = false;
  t.is(w.feed.replay(quiet.session, w.room, ok, () => undefined), undefined);
  const empty = new Room('#empty', '#empty');
  empty.persistent = true;
  t.is(w.feed.replay(w.user('e').session, empty, ok, () => undefined), undefined, 'nothing was ever said there');
});

test('with a store shared with other servers, joining a room never used here replays what they stored, and marks it used', async (t) => {
  const w = setup();
  w.store.shared = true;
  const room = new Room('#elsewhere', '#elsewhere');
  room.persistent = true;
  // Said on another node: in the shared store, unknown to this server.
  for (const text of ['one', 'two']) w.store.committed.push({ id: w.store.committed.length + 1, roomKey: '#elsewhere', at: 0, nick: 'far', kind: 'MSG', text });
  const bob = w.user('bob');
  const done = w.feed.replay(bob.session, room, ok, () => t.fail('no overflow'));
  t.truthy(done, 'the join reads the store');
  w.queries.answer();
  await done;
  const got = bob.sink.take();
  t.deepEqual(got.map((e) => e.type), ['history', 'history', 'history-end', 'reply']);
  t.deepEqual(got.flatMap((e) => (e.type === 'history' ? [e.text] : [])), ['one', 'two']);
  t.true(room.used, 'the room is used from now on');
});

test('with a shared store, a room with nothing stored costs one read a second however many join, and shows no history lines', async (t) => {
  const w = setup();
  w.store.shared = true;
  const room = new Room('#quiet', '#quiet');
  const alice = w.user('alice');
  const joins = ['b', 'c', 'd'].map((nick) => {
    // Something said elsewhere between the joins moves the replay mark: the look is shared all the same.
    w.feed.record(alice.session, w.room, 'MSG', `in #r before ${nick}`);
    const joiner = w.user(nick);
    return { joiner, done: w.feed.replay(joiner.session, room, ok, () => undefined) };
  });
  t.true(joins.every((j) => j.done !== undefined));
  t.is(w.queries.reads, 1, 'one read for the storm');
  w.queries.answer();
  await Promise.all(joins.map((j) => j.done));
  for (const { joiner } of joins) t.deepEqual(joiner.sink.take(), [ok], 'nothing stored: just the join reply');
  t.false(room.used);
  // A join-and-part loop within the second reads nothing more; a second later the store is looked at again.
  w.clock.advance(500);
  const again = w.feed.replay(w.user('e').session, room, ok, () => undefined);
  await again;
  t.is(w.queries.reads, 1);
  w.clock.advance(600);
  const later = w.feed.replay(w.user('f').session, room, ok, () => undefined);
  t.is(w.queries.reads, 2);
  w.queries.answer();
  await later;
  // Without a shared store such a room is never read.
  w.store.shared = false;
  w.clock.advance(2000);
  t.is(w.feed.replay(w.user('g').session, room, ok, () => undefined), undefined);
});

test('a joiner that fell too far behind during the replay is handed to the overflow callback and sent nothing more', async (t) => {
  const w = setup();
  const alice = w.user('alice');
  w.feed.record(alice.session, w.room, 'MSG', 'one');
  const bob = w.user('bob');
  const over: Session[] = [];
  const done = w.feed.replay(bob.session, w.room, ok, (s) => over.push(s));
  const big = 'x'.repeat(4000);
  for (let i = 0; i < 300; i++) bob.session.deliver({ type: 'message', room: '#r', from: 'alice', text: big, at: i });
  w.queries.answer();
  await done;
  t.deepEqual(over, [bob.session]);
  t.deepEqual(bob.sink.take(), []);
});

test('prune passes the store result on, and is a no-op without a store', (t) => {
  const w = setup();
  w.store.nextPrune = { deletedMessages: 4, unusedRooms: ['#r'], done: false };
  t.deepEqual(w.feed.prune({ maxMessagesPerRoom: 1, maxAgeMs: 1 }), { deletedMessages: 4, unusedRooms: ['#r'], done: false });
  t.is(setup({ history: undefined }).feed.prune({ maxMessagesPerRoom: 1, maxAgeMs: 1 }), undefined);
});

test('a retention pass is logged once, when its last step is done, with what all its steps deleted', (t) => {
  const lines: string[] = [];
  const w = setup({ log: createLogger('info', (line) => lines.push(line), false) });
  const policy = { maxMessagesPerRoom: 1, maxAgeMs: 1 };
  for (const step of [
    { deletedMessages: 1000, unusedRooms: [], done: false },
    { deletedMessages: 1000, unusedRooms: ['#a'], done: false },
    { deletedMessages: 7, unusedRooms: ['#b'], done: true },
  ]) {
    w.store.nextPrune = step;
    w.feed.prune(policy);
  }
  t.is(lines.filter((line) => line.includes('history-pruned')).length, 1);
  t.regex(lines.join('\n'), /history-pruned messages=2007 unusedRooms=2 steps=3/);
  t.false(lines.join('\n').includes('history-pruning'), 'a short pass logs no progress');
  // A pass that deletes nothing says nothing.
  w.store.nextPrune = { deletedMessages: 0, unusedRooms: [], done: true };
  w.feed.prune(policy);
  t.is(lines.filter((line) => line.includes('history-pruned')).length, 1);
});

test('a long retention pass also logs its progress every PRUNE_PROGRESS_LOG_MS, so a pass cut short by a stop is not left untold', (t) => {
  const lines: string[] = [];
  const w = setup({ log: createLogger('info', (line) => lines.push(line), false) });
  const policy = { maxMessagesPerRoom: 1, maxAgeMs: 1 };
  w.store.nextPrune = { deletedMessages: 1000, unusedRooms: [], done: false };
  for (let step = 0; step < 25; step++) {
    w.feed.prune(policy);
    w.clock.advance(1000);
  }
  const progress = lines.filter((line) => line.includes('history-pruning'));
  t.is(progress.length, 2, 'at 10 s and 20 s');
  t.regex(progress[0]!, /history-pruning messages=11000 unusedRooms=0 steps=11 ms=10000/);
  t.false(lines.join('\n').includes('history-pruned'), 'the pass is not over');
});

test('a search reader has the store catch its index up first; a /history reader only commits', (t) => {
  const w = setup();
  const alice = w.user('alice');
  w.feed.record(alice.session, w.room, 'MSG', 'hi');
  w.feed.reader(w.room);
  t.deepEqual([w.store.commits, w.store.catchUps], [1, 0]);
  w.feed.reader(w.room, true);
  t.deepEqual([w.store.commits, w.store.catchUps], [2, 1]);
});

test('a room listed in historyOffRooms (by room key) stores and replays nothing and its readers answer NO_HISTORY; a new list applies at once', async (t) => {
  const w = setup({ historyOffRooms: ['#BOTS'] });
  const bots = new Room('#Bots', '#bots');
  const alice = w.user('alice');
  bots.members.add(alice.session);
  w.feed.record(alice.session, bots, 'MSG', 'beep');
  w.feed.record(alice.session, bots, 'TOPIC', 'robots only');
  t.deepEqual(w.store.queued, [], 'nothing said in #bots is queued for the store');
  t.deepEqual([bots.persistent, bots.used], [false, false]);
  t.true(w.feed.keepsNothing(bots));
  for (const forSearch of [false, true]) {
    const error = t.throws(() => w.feed.reader(bots, forSearch), { instanceOf: ChatError })!;
    t.is(error.code, 'NO_HISTORY');
    t.is(error.message, 'Nothing said in #Bots is stored on this server, so it has no history to show or search.');
  }
  t.is(w.store.commits, 0, 'a refused query costs no commit');

  // Other rooms keep their history.
  w.feed.record(alice.session, w.room, 'MSG', 'hello');
  t.deepEqual(w.store.queued.map((e) => [e.roomKey, e.text]), [['#r', 'hello']]);
  t.is(w.feed.reader(w.room), w.queries);
  t.deepEqual(w.store.committed.map((e) => e.text), ['hello']);

  // Stored before the room was listed (a reload): kept in the store but neither replayed nor read.
  w.options.historyOffRooms = ['#r'];
  t.true(w.feed.keepsNothing(w.room));
  w.room.used = true;
  t.is(w.feed.replay(w.user('bob').session, w.room, ok, () => undefined), undefined, 'no replay');
  t.is(t.throws(() => w.feed.reader(w.room))!.message.startsWith('Nothing said in #r is stored'), true);
  w.options.historyOffRooms = [];
  t.false(w.feed.keepsNothing(bots), 'taken off the list: stored again');
  w.feed.record(alice.session, bots, 'MSG', 'stored now');
  t.deepEqual(w.store.queued.map((e) => e.text), ['stored now']);
  const replay = w.feed.replay(w.user('carol').session, w.room, ok, () => undefined);
  t.truthy(replay, 'and replayed again');
  w.queries.answer();
  await replay;
});

test("a client's /history and /search queries count against its query time: past it, HISTORY_BUSY says when to try again", async (t) => {
  const costs: number[] = [];
  const timed: HistoryQueries = {
    recent: (_key, _limit, _upto, spent) => (spent?.(costs.shift() ?? 0), Promise.resolve({ entries: [], more: false })),
    before: (_key, _before, _limit, spent) => (spent?.(costs.shift() ?? 0), Promise.resolve({ entries: [], more: false })),
    search: (_key, _words, _limit, spent) => (spent?.(costs.shift() ?? 0), Promise.resolve([])),
    close: () => Promise.resolve(),
  };
  const w = setup({ historyQueries: timed });
  const alice = w.user('alice');
  const bob = w.user('bob');
  costs.push(1000, 3000, 2000);
  await w.feed.reader(w.room, true, alice.session).search('#r', ['x'], 10);
  await w.feed.reader(w.room, false, alice.session).recent('#r', 10);
  await w.feed.reader(w.room, false, alice.session).before('#r', 5, 10);
  // 6 s of the 5 s burst used: a second's debt, refilled at 250 ms a second.
  const refused = t.throws(() => w.feed.reader(w.room, true, alice.session), { instanceOf: ChatError })!;
  t.is(refused.code, 'HISTORY_BUSY');
  t.is(refused.message, 'Your history queries used up your share of query time (5 s at once, then 250 ms a second); try again in 4 s, with fewer or longer words.');
  t.truthy(w.feed.reader(w.room, true, bob.session), 'another client has its own budget');
  t.is(w.feed.reader(w.room), timed, 'reads without a client (replays) are not counted');
  w.clock.advance(3900);
  t.throws(() => w.feed.reader(w.room, false, alice.session), { message: /try again in 1 s/ });
  w.clock.advance(200);
  costs.push(5);
  await w.feed.reader(w.room, false, alice.session).recent('#r', 10);
  t.pass('allowed again once the debt is refilled');
});
