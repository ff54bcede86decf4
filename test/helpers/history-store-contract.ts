import test, { type ExecutionContext } from 'ava';
import type { HistoryQueries } from '../../lib/core/ports/history-queries';
import type { HistoryStore, NewHistoryEntry, PruneResult, RetentionPolicy, RoomCreations, StoredRoom } from '../../lib/core/ports/history-store';

/*
 * The HistoryStore contract: what every store must do, whatever it keeps its data in. Each store's test
 * file (history-store-sqlite.test.ts, history-store-postgres.test.ts) runs these same tests through a
 * harness that hides only how the store is opened, how one waits for its writes, and how its storage is
 * made to fail. Reads go through the store's HistoryQueries, as in the daemon.
 */

/** One store under test, with the few operations whose shape depends on the store. */
export interface StoreHarness {
  store: HistoryStore;
  queries: HistoryQueries;
  /** Commits what is queued and waits until it is written (or could not be). */
  settle(): Promise<void>;
  /** The rooms as stored now. */
  rooms(): Promise<StoredRoom[]>;
  /** The creation log as stored now, counted per block since `since`. */
  creations(since: number): Promise<RoomCreations[]>;
  /** One bounded retention step, awaited. */
  prune(now: number, policy: RetentionPolicy): Promise<PruneResult>;
  /** Rows left in the store's tables (forgotten rooms included). */
  rowCounts(): Promise<{ messages: number; rooms: number }>;
  /** Makes writes fail as a full disk does (reads still work); the returned function gives the space back. */
  failWrites(): Promise<() => Promise<void>>;
  /** Closes the store (with a last attempt of at most `lastAttemptMs` during an outage); resolves with what was not kept. */
  close(lastAttemptMs?: number): Promise<number>;
  /** Closes this store and opens the same storage again. */
  reopen(): Promise<StoreHarness>;
}

/** Opens a store on fresh, empty storage; its teardown is registered on `t`. */
export type OpenStore = (t: ExecutionContext, options: { logLines?: string[]; onOutage?: (unsaved: readonly NewHistoryEntry[]) => void }) => Promise<StoreHarness>;

function entry(room: string, text: string, at = 1_000, nick = 'alice', kind: NewHistoryEntry['kind'] = 'MSG'): NewHistoryEntry {
  return { roomKey: room, roomName: room, at, nick, kind, text };
}

/** Waits, at most `timeoutMs`, until `condition()` holds (a store retries on its own timer, up to 30 s apart). */
async function until(condition: () => boolean, timeoutMs = 40_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return true;
}

/** Counts the write transactions a store attempts (both stores run each one through their writeBatch). */
function countWrites(store: HistoryStore): { attempts: number } {
  const spy = { attempts: 0 };
  const inner = store as unknown as { writeBatch: (batch: unknown[]) => unknown };
  const write = inner.writeBatch.bind(store);
  inner.writeBatch = (batch) => {
    spy.attempts++;
    return write(batch);
  };
  return spy;
}

/** Texts of a room's newest `limit` entries, oldest first. */
async function texts(h: StoreHarness, room: string, limit = 1000): Promise<string[]> {
  return (await h.queries.recent(room, limit)).entries.map((e) => e.text);
}

/** Every text of a room, oldest first, read in pages (a query returns at most 1,000). */
async function allTexts(h: StoreHarness, room: string): Promise<string[]> {
  let page = await h.queries.recent(room, 1000);
  const all = page.entries.map((e) => e.text);
  while (page.more) {
    page = await h.queries.before(room, page.entries[0]!.id, 1000);
    all.unshift(...page.entries.map((e) => e.text));
  }
  return all;
}

/** Runs retention steps until a pass is done; returns every room reported unused on the way. */
async function pruneAll(h: StoreHarness, now: number, policy = { maxMessagesPerRoom: 10, maxAgeMs: 5_000 }): Promise<string[]> {
  const unused: string[] = [];
  for (let step = 0; step < 10_000; step++) {
    const result = await h.prune(now, policy);
    unused.push(...result.unusedRooms);
    if (result.done) return unused;
  }
  throw new Error('retention never finished');
}

/** Fills the storage until the store reports an outage; returns how many messages of `size` it sent. */
async function sendUntilFailing(h: StoreHarness, room: string, filler: string): Promise<number> {
  let sent = 0;
  while (h.store.healthy && sent < 100) {
    h.store.append(entry(room, `${sent++} ${filler}`));
    await h.settle();
  }
  return sent;
}

/** What a store's test file says about the store beside how to open it. */
export interface ContractOptions {
  /**
   * False for a store whose write transactions run in another thread (ThreadedSqliteStore), where they
   * cannot be counted: the test that counts them runs against the store that thread runs (SqliteHistoryStore).
   */
  countableWrites?: boolean;
  /** Rows the store deletes in one retention step. */
  pruneStepRows: number;
}

/** Registers the contract's tests for one kind of store; `title` prefixes each test's title. */
export function historyStoreContract(title: string, open: OpenStore, options: ContractOptions): void {
  test(`${title}: appended entries are readable, oldest first, and survive reopening`, async (t) => {
    const h = await open(t, {});
    for (let i = 0; i < 5; i++) h.store.append(entry('#a', `m${i}`, 1000 + i));
    h.store.append(entry('#b', 'other room'));
    await h.settle();
    const page = await h.queries.recent('#a', 3);
    t.deepEqual(page.entries.map((e) => e.text), ['m2', 'm3', 'm4']);
    t.true(page.more);
    const again = await h.reopen();
    t.deepEqual(await texts(again, '#a'), ['m0', 'm1', 'm2', 'm3', 'm4']);
    t.deepEqual((await again.queries.recent('#b', 10)).entries.map((e) => [e.roomKey, e.nick, e.kind, e.text, e.at]), [['#b', 'alice', 'MSG', 'other room', 1000]]);
    t.deepEqual((await again.rooms()).map((r) => r.key).sort(), ['#a', '#b']);
    t.deepEqual(await again.queries.recent('#nowhere', 10), { entries: [], more: false });
  });

  test(`${title}: ids increase in append order and "before" pages back without gaps or overlap`, async (t) => {
    const h = await open(t, {});
    for (let i = 0; i < 50; i++) h.store.append(entry('#p', `m${i}`));
    await h.settle();
    const seen: string[] = [];
    let page = await h.queries.recent('#p', 20);
    while (page.entries.length > 0) {
      seen.unshift(...page.entries.map((e) => e.text));
      for (let i = 1; i < page.entries.length; i++) t.true(page.entries[i]!.id > page.entries[i - 1]!.id);
      page = await h.queries.before('#p', page.entries[0]!.id, 20);
    }
    t.deepEqual(seen, Array.from({ length: 50 }, (_, i) => `m${i}`));
    t.false((await h.queries.before('#p', Number.MAX_SAFE_INTEGER, 50)).more);
  });

  test(`${title}: a replay read at the store's mark sees what was queued before it, not what came after`, async (t) => {
    const h = await open(t, {});
    h.store.append(entry('#r', 'before the join'));
    // As HistoryFeed.replay does: commit, take the mark, and read up to it while later lines go live.
    h.store.commit();
    const mark = h.store.lastMessageId();
    h.store.append(entry('#r', 'after the join'));
    const replay = h.queries.recent('#r', 10, mark);
    await h.settle();
    t.deepEqual((await replay).entries.map((e) => e.text), ['before the join']);
    t.deepEqual(await texts(h, '#r'), ['before the join', 'after the join']);
  });

  test(`${title}: search finds entries with every word (3+ letters as prefixes), ignores case and Latin accents, stays in its room, newest first`, async (t) => {
    const h = await open(t, {});
    const add = (room: string, text: string): void => h.store.append(entry(room, text));
    add('#s', 'Deploy the Crème brûlée service');
    add('#s', 'lunch is served');
    add('#s', 'deployment finished for the creme service');
    add('#other', 'deploy creme elsewhere');
    add('#u', "don't stop-me_now at İstanbul");
    add('#u', 'Ёлка άλφα 日本語のテキスト ŁÓDŹ straße');
    add('#u', 'an ox is on it');
    add('#u', 'oxen are big');
    add('#n', 'decomposed cafe\u0301 and e\u0301xit');
    await h.settle();
    const find = async (room: string, words: string[], limit = 10): Promise<string[]> => (await h.queries.search(room, words, limit)).map((e) => e.text);
    t.deepEqual(await find('#s', ['deploy', 'CREME']), ['deployment finished for the creme service', 'Deploy the Crème brûlée service']);
    t.deepEqual(await find('#s', ['serv'], 1), ['deployment finished for the creme service'], 'limit and prefix');
    t.deepEqual(await find('#s', ['"quoted']), [], 'quotes cannot break the query');
    t.deepEqual(await find('#s', ["'", '&', '|', '!', ':*', '<->']), [], 'neither can query operators');
    t.deepEqual(await find('#nowhere', ['deploy']), []);
    t.deepEqual(await find('#u', ['ox']), ['an ox is on it'], 'two letters: the whole word only');
    t.deepEqual(await find('#u', ['oxe']), ['oxen are big'], 'three letters: a prefix');
    t.deepEqual(await find('#u', ['stop-me']), ["don't stop-me_now at İstanbul"], 'a word of several tokens is a phrase');
    t.deepEqual(await find('#u', ['me-stop']), [], 'in that order');
    t.deepEqual(await find('#u', ['don', 'istanbul']), ["don't stop-me_now at İstanbul"]);
    t.deepEqual(await find('#u', ['лка']), [], 'a prefix, not an infix');
    t.deepEqual(await find('#u', ['ёлк', 'ΆΛΦΑ', 'łodz', 'STRASSE']), [], 'ß is not ss');
    t.deepEqual(await find('#u', ['lodz']), [], 'ł is a letter of its own, not l with a diacritic');
    t.deepEqual(await find('#u', ['ёлк', 'ΆΛΦΑ', 'ŁODZ', 'STRAßE', '日本語']), ['Ёлка άλφα 日本語のテキスト ŁÓDŹ straße'], 'non-Latin letters fold case and keep their accents');
    t.deepEqual(await find('#u', ['елка']), [], 'Cyrillic ё keeps its diaeresis, as in SQLite unicode61');
    t.deepEqual(await find('#n', ['café', 'exit']), ['decomposed cafe\u0301 and e\u0301xit'], 'a combining accent is dropped, not a word break');
    t.deepEqual(await find('#n', ['xit']), []);
  });

  test(`${title}: retention keeps the newest N per room, drops old messages, and reports rooms left with no message, topic or not`, async (t) => {
    const h = await open(t, {});
    for (let i = 0; i < 30; i++) h.store.append(entry('#big', `m${i}`, 10_000 + i));
    h.store.append(entry('#old', 'ancient', 10));
    h.store.append(entry('#topic', 'old message', 10));
    h.store.append(entry('#topic', 'Welcome', 11_000, 'alice', 'TOPIC'));
    await h.settle();
    const unused = await pruneAll(h, 12_000);
    t.deepEqual(await texts(h, '#big', 100), Array.from({ length: 10 }, (_, i) => `m${20 + i}`));
    t.deepEqual(await texts(h, '#old'), []);
    t.deepEqual(unused.sort(), ['#old', '#topic'], 'a topic change alone does not make a room used');
    const rooms = await h.rooms();
    t.deepEqual(rooms.map((r) => [r.key, r.used]).sort(), [['#big', true], ['#old', false], ['#topic', false]], 'the core decides when to forget them');
    t.deepEqual(
      rooms.filter((r) => r.key === '#topic').map((r) => [r.topic, r.topicBy, r.topicAt]),
      [['Welcome', 'alice', 11_000]],
    );
    t.deepEqual(await h.queries.search('#big', ['m0'], 10), [], 'pruned messages leave the search index too');
  });

  test(`${title}: a room is saved at creation, before anything is said, and kept until forgotten`, async (t) => {
    const h = await open(t, {});
    h.store.saveRoom({ roomKey: '#new', roomName: '#New', at: 100_000 });
    h.store.saveRoom({ roomKey: '#new', roomName: '#New', at: 200_000 });
    const again = await h.reopen();
    t.deepEqual(await again.rooms(), [{ key: '#new', name: '#New', topic: '', topicBy: '', topicAt: 0, used: false }]);
    t.deepEqual(await pruneAll(again, 10_000_000_000), ['#new'], 'reported unused, not deleted: the store does not know who is in it');
    t.is((await again.rooms()).length, 1);
    again.store.forgetRoom('#new');
    await again.settle();
    t.deepEqual(await again.rooms(), []);
  });

  test(`${title}: forgetting a room frees its name at once; retention deletes what it held in bounded steps`, async (t) => {
    const h = await open(t, {});
    for (let i = 0; i < options.pruneStepRows + 250; i++) h.store.append(entry('#squat', `topic ${i}`, 1_000 + i, 'mallory', 'TOPIC'));
    h.store.append(entry('#other', 'kept', 1_000));
    await h.settle();
    h.store.forgetRoom('#squat');
    h.store.append(entry('#squat', 'a new room of the same name', 5_000));
    await h.settle();
    t.deepEqual(await texts(h, '#squat'), ['a new room of the same name'], 'nothing of the forgotten room shows');
    t.deepEqual((await h.rooms()).map((r) => [r.key, r.topic]).sort(), [['#other', ''], ['#squat', '']]);
    const policy = { maxMessagesPerRoom: 10_000, maxAgeMs: 1e12 };
    const first = await h.prune(6_000, policy);
    t.false(first.done);
    t.is(first.deletedMessages, options.pruneStepRows, 'one step deletes a bounded number of rows');
    await pruneAll(h, 6_000, policy);
    t.deepEqual(await h.rowCounts(), { messages: 2, rooms: 2 }, 'every row of the forgotten room is gone, and so is its room row');
    t.deepEqual(await h.queries.search('#squat', ['topic'], 10), []);
  });

  test(`${title}: room creations are logged with their address block, counted per block, and survive reopening`, async (t) => {
    const h = await open(t, {});
    h.store.saveRoom({ roomKey: '#a', roomName: '#a', at: 1_000, creator: '192.0.2.0/24' });
    h.store.saveRoom({ roomKey: '#b', roomName: '#b', at: 2_000, creator: '192.0.2.0/24' });
    h.store.saveRoom({ roomKey: '#c', roomName: '#c', at: 3_000, creator: '2001:db8:0:0:0:0:0:0/64' });
    h.store.forgetRoom('#a');
    const again = await h.reopen();
    const counts = async (since: number): Promise<RoomCreations[]> => (await again.creations(since)).sort((x, y) => (x.creator < y.creator ? -1 : 1));
    t.deepEqual(await counts(0), [
      { creator: '192.0.2.0/24', count: 2, first: 1_000 },
      { creator: '2001:db8:0:0:0:0:0:0/64', count: 1, first: 3_000 },
    ], "a forgotten room still counts: forgetting one's own rooms does not give the allowance back");
    t.deepEqual(await counts(1_500), [
      { creator: '192.0.2.0/24', count: 1, first: 2_000 },
      { creator: '2001:db8:0:0:0:0:0:0/64', count: 1, first: 3_000 },
    ]);
    await pruneAll(again, 2_500 + 3_600_000);
    t.deepEqual((await counts(0)).map((c) => c.creator), ['2001:db8:0:0:0:0:0:0/64'], 'retention drops log rows older than an hour');
  });

  if (options.countableWrites !== false) test(`${title}: a storage failure keeps chat going: logged once, reported once, no write from commit() until the timer retries, nothing lost`, async (t) => {
    const logs: string[] = [];
    const outages: number[] = [];
    const h = await open(t, { logLines: logs, onOutage: (unsaved) => outages.push(unsaved.length) });
    h.store.append(entry('#d', 'before'));
    await h.settle();
    const restore = await h.failWrites();
    const writes = countWrites(h.store);
    const big = 'x'.repeat(3000);
    let sent = await sendUntilFailing(h, '#d', big);
    t.false(h.store.healthy);
    const attempts = writes.attempts;
    for (let i = 0; i < 40; i++) {
      h.store.append(entry('#d', `${sent++} ${big}`));
      h.store.commit();
    }
    t.is(writes.attempts, attempts, 'no commit() tried the storage during the outage: the output path pays nothing');
    t.is(logs.filter((l) => l.includes('history-write-failed')).length, 1, 'one log line per outage, not per message');
    t.is(outages.length, 1);
    await restore();
    t.true(await until(() => h.store.healthy), 'the retry timer wrote the backlog');
    t.regex(logs.find((l) => l.includes('history-write-recovered')) ?? '', /written=4\d lost=0/);
    t.deepEqual(
      (await h.queries.recent('#d', 200)).entries.map((e) => e.text.split(' ')[0]),
      ['before', ...Array.from({ length: sent }, (_, i) => String(i))],
      'every queued message was written, in order',
    );
  });

  test(`${title}: during an outage the backlog is bounded in entries and in bytes; the oldest are dropped, counted and logged`, async (t) => {
    const logs: string[] = [];
    const h = await open(t, { logLines: logs });
    h.store.append(entry('#b', 'before'));
    await h.settle();
    const restore = await h.failWrites();
    // Bytes: 4,000-byte texts pass the 8 MiB bound long before 10,000 entries.
    const text = 'y'.repeat(3990);
    const size = 2 + 2 + 'alice'.length + 4000 + 64;
    const kept = Math.floor((8 * 1024 * 1024) / size);
    for (let i = 0; i < kept + 30; i++) h.store.append(entry('#b', `${String(i).padStart(9, '0')} ${text}`));
    await h.settle();
    t.is(logs.filter((l) => l.includes('history-backlog-full')).length, 1, 'logged once when dropping starts');
    await restore();
    t.true(await until(() => h.store.healthy));
    t.regex(logs.find((l) => l.includes('history-write-recovered')) ?? '', new RegExp(`written=${kept} lost=30`));
    const stored = (await allTexts(h, '#b')).map((text) => text.slice(0, 9));
    t.is(stored.length, kept + 1);
    t.is(stored[1], String(30).padStart(9, '0'), 'the oldest unsaved ones went first');
    t.is(stored.at(-1), String(kept + 29).padStart(9, '0'));

    // Entries: 10,000 at most.
    const restoreAgain = await h.failWrites();
    logs.length = 0;
    await sendUntilFailing(h, '#b', 'x'.repeat(3000));
    t.false(h.store.healthy);
    for (let i = 0; i < 10_010; i++) h.store.append(entry('#b', `n${i}`));
    // No time for a last attempt: everything still queued or dropped is counted.
    await h.close(0);
    t.regex(logs.find((l) => l.includes('history-closed')) ?? '', new RegExp(`notKept=${10_010 + 1} unwritten=10000 dropped=${10_010 + 1 - 10_000} `));
    await restoreAgain();
  });

  test(`${title}: closing during an outage makes a last attempt and logs exactly how many messages were not kept`, async (t) => {
    const logs: string[] = [];
    const h = await open(t, { logLines: logs });
    h.store.append(entry('#c', 'kept'));
    await h.settle();
    const restore = await h.failWrites();
    let sent = await sendUntilFailing(h, '#c', 'z'.repeat(3000));
    t.false(h.store.healthy);
    for (let i = 0; i < 6; i++) h.store.append(entry('#c', `${sent++} ${'z'.repeat(3000)}`));
    const stored = (await h.queries.recent('#c', 200)).entries.length;
    const notKept = sent + 1 - stored;
    t.true(notKept >= 7);
    t.is(await h.close(100), notKept);
    t.regex(logs.find((l) => l.includes('history-closed')) ?? '', new RegExp(`error history-closed notKept=${notKept} unwritten=${notKept} dropped=0 written=0`));
    await restore();
    const again = await h.reopen();
    t.is((await again.queries.recent('#c', 200)).entries.length, stored, 'what the log says was not kept is what is missing');
    logs.length = 0;
    again.store.append(entry('#c', 'fine'));
    t.is(await again.close(100), 0);
    t.regex(logs.join(''), /info history-closed notKept=0/, 'a healthy close says so too');
  });
}
