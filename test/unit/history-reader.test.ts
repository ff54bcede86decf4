import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ChatError } from '../../lib/protocol/errors';
import type { LogFields, Logger, LogLevel } from '../../lib/log';
import { silentLogger } from '../../lib/log';
import { HistoryQueryError, inlineQueries, WorkerHistoryReader, type HistoryQueries, type WorkerReaderOptions } from '../../lib/history/history-reader';
import type { NewHistoryEntry } from '../../lib/core/ports/history-store';
import { ftsTerm } from '../../lib/history/search-terms';
import { SqliteHistoryStore } from '../../lib/history/sqlite-history-store';

/** Bound on any wait in these tests (reader threads start ts-node, which is slow on a loaded machine). */
const WAIT_MS = 20_000;

function tempDir(t: ExecutionContext): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mychat-reader-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function entry(room: string, text: string, at = 1_000): NewHistoryEntry {
  return { roomKey: room, roomName: room, at, nick: 'alice', kind: 'MSG', text };
}

/** A store holding `texts` in room `#a` (committed and indexed, so reader threads see them) and a few lines in `#b`. */
function storeWith(t: ExecutionContext, texts: string[]): { dataDir: string; store: SqliteHistoryStore } {
  const dataDir = tempDir(t);
  const store = new SqliteHistoryStore({ dataDir, sync: 'normal', log: silentLogger });
  t.teardown(() => store.close());
  texts.forEach((text, i) => store.append(entry('#a', text, 1_000 + i)));
  for (let i = 0; i < 3; i++) store.append(entry('#b', `other ${i}`));
  // Committed and indexed for search (as before each /search), so reader threads find them.
  store.catchUpSearch();
  return { dataDir, store };
}

/** A logger that records events and lets a test wait for one. */
function recordingLogger() {
  const events: Array<{ level: LogLevel; event: string; fields: LogFields | undefined }> = [];
  const waiters: Array<{ event: string; resolve: () => void }> = [];
  const log: Logger = {
    level: 'debug',
    log(level, event, fields) {
      events.push({ level, event, fields });
      for (const waiter of waiters.filter((w) => w.event === event)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    },
  };
  /** Resolves when `event` is logged (at once if it already was `times` times), or fails after WAIT_MS. */
  const next = (event: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${event} within ${WAIT_MS} ms`)), WAIT_MS);
      waiters.push({ event, resolve: () => (clearTimeout(timer), resolve()) });
    });
  return { log, events, next };
}

function reader(t: ExecutionContext, dataDir: string, options: Partial<WorkerReaderOptions> = {}): WorkerHistoryReader {
  // Threads start ts-node here (about a second each on a loaded machine): queries may wait that long.
  const r = new WorkerHistoryReader({ dataDir, log: silentLogger, maxWaitMs: WAIT_MS, ...options });
  t.teardown(() => r.close());
  return r;
}

async function refusal(t: ExecutionContext, promise: Promise<unknown>, code: 'QUERY_TIMEOUT' | 'HISTORY_BUSY'): Promise<void> {
  const error = await t.throwsAsync(promise, { instanceOf: HistoryQueryError });
  t.is(error?.code, code);
  t.true(error instanceof ChatError, 'the core can send it as an ERR line');
  t.true((error?.message.length ?? 0) > 10, 'it explains itself');
}

const texts = (page: { entries: Array<{ text: string }> }) => page.entries.map((e) => e.text);
const TEXTS = Array.from({ length: 30 }, (_, i) => `m${i}`);

for (const [kind, make] of [
  ['worker reader', (t: ExecutionContext, dataDir: string, store: SqliteHistoryStore): HistoryQueries => (void store, reader(t, dataDir))],
  ['inline queries', (_t: ExecutionContext, _dataDir: string, store: SqliteHistoryStore): HistoryQueries => inlineQueries(store)],
] as const) {
  (kind === 'worker reader' ? test.serial : test)(`${kind}: recent and before page a room oldest first, say whether older entries exist, and honour uptoId`, async (t) => {
    const { dataDir, store } = storeWith(t, TEXTS);
    const q = make(t, dataDir, store);
    const last = await q.recent('#a', 10);
    t.deepEqual(texts(last), TEXTS.slice(20));
    t.true(last.more);
    const all = await q.recent('#a', 30);
    const ids = all.entries.map((e) => e.id);
    t.deepEqual(texts(all), TEXTS);
    t.false(all.more, 'exactly all of them: nothing older');
    const upto = await q.recent('#a', 10, ids[14]);
    t.deepEqual(texts(upto), TEXTS.slice(5, 15), 'the newest 10 with id <= uptoId');
    t.true(upto.more);
    const older = await q.before('#a', ids[5]!, 10);
    t.deepEqual(texts(older), TEXTS.slice(0, 5));
    t.false(older.more);
    const middle = await q.before('#a', ids[20]!, 10);
    t.deepEqual(texts(middle), TEXTS.slice(10, 20));
    t.true(middle.more);
    t.deepEqual(await q.recent('#nowhere', 10), { entries: [], more: false });
    t.deepEqual(texts(await q.recent('#b', 10)), ['other 0', 'other 1', 'other 2'], 'rooms stay apart');
    t.deepEqual((await q.recent('#a', 1)).entries[0], { id: ids[29]!, roomKey: '#a', at: 1_029, nick: 'alice', kind: 'MSG', text: 'm29' });
    await t.throwsAsync(q.recent('#a', 5000), { instanceOf: RangeError }, 'a caller bug is not a query');
  });

  (kind === 'worker reader' ? test.serial : test)(`${kind}: search is newest first, needs every word, matches 1-2 letter words whole and longer words as prefixes`, async (t) => {
    const { dataDir, store } = storeWith(t, [
      'a cat sat here',
      'at the cathedral',
      'go to bed',
      'the bedroom is far',
      'Crème brûlée for x_y',
      'say "quoted" things',
    ]);
    const q = make(t, dataDir, store);
    const search = async (...words: string[]) => (await q.search('#a', words, 50)).map((e) => e.text);
    t.deepEqual(await search('a'), ['a cat sat here'], 'one letter: the word "a" only, not "at" or "cathedral"');
    t.deepEqual(await search('ca'), [], 'two letters: no word is exactly "ca"');
    t.deepEqual(await search('cat'), ['at the cathedral', 'a cat sat here'], 'three letters: a prefix, newest first');
    t.deepEqual(await search('be'), []);
    t.deepEqual(await search('bed', 'the'), ['the bedroom is far'], 'every word must match');
    t.deepEqual(await search('at', 'cat'), ['at the cathedral'], '"at" whole (not in "sat"), "cat" as a prefix');
    t.deepEqual(await search('creme', 'BRULEE'), ['Crème brûlée for x_y'], 'case and accents are ignored');
    t.deepEqual(await search('x_y'), ['Crème brûlée for x_y']);
    t.deepEqual(await search('"quoted'), ['say "quoted" things'], 'quotes cannot break the query');
    t.deepEqual(await search('_'), [], 'a word with no letters matches nothing');
    t.deepEqual((await q.search('#a', ['the'], 1)).map((e) => e.text), ['the bedroom is far'], 'the limit keeps the newest');
    t.deepEqual(await q.search('#b', ['cat'], 50), []);
    await t.throwsAsync(q.search('#a', Array.from({ length: 11 }, (_, i) => `w${i}`), 50), { instanceOf: RangeError });
  });
}

test('search word rule: a prefix only when the last index token has 3 or more code points, always quoted', (t) => {
  t.is(ftsTerm('abc'), '"abc"*');
  t.is(ftsTerm('ab'), '"ab"');
  t.is(ftsTerm('é'), '"é"');
  t.is(ftsTerm('ééé'), '"ééé"*');
  t.is(ftsTerm('abc_d'), '"abc_d"', 'the tokenizer splits at _: "d" alone would be a one-letter prefix');
  t.is(ftsTerm('a_bcd'), '"a_bcd"*');
  t.is(ftsTerm('x"y'), '"x""y"');
  t.is(ftsTerm('__'), undefined);
});

test.serial('a query over its time budget is refused with QUERY_TIMEOUT and the next one is answered by a fresh thread', async (t) => {
  const { dataDir } = storeWith(t, TEXTS);
  const { log, events } = recordingLogger();
  const r = reader(t, dataDir, { timeoutMs: 200, testHooks: true, log });
  await r.ready();
  await refusal(t, r.stallForTest(3000), 'QUERY_TIMEOUT');
  // Started at the timeout, not when the stuck thread finally exits: later queries do not queue behind it.
  t.like(r.stats(), { retiring: 1, threads: 1 }, 'the stuck thread was ended and a fresh one started at once');
  const spent: number[] = [];
  t.deepEqual(texts(await r.recent('#a', 3, undefined, (ms) => spent.push(ms))), ['m27', 'm28', 'm29']);
  t.is(spent.length, 1, "the query's time in its thread is reported, for the client's budget");
  t.true(spent[0]! >= 0 && spent[0]! < 200);
  t.true(events.some((e) => e.level === 'warn' && e.event === 'history-query-timeout'));
});

test.serial('beyond maxRetiring stuck threads queries get HISTORY_BUSY, and service resumes when one has finished', async (t) => {
  const { dataDir } = storeWith(t, TEXTS);
  const { log, next } = recordingLogger();
  // With no stuck thread allowed beside the pool, a timeout leaves no thread until the stuck one exits.
  const r = reader(t, dataDir, { poolSize: 1, maxRetiring: 0, timeoutMs: 200, testHooks: true, log });
  await r.ready();
  const retired = next('history-reader-retired');
  const stuck = r.stallForTest(3000);
  const waiting = r.recent('#a', 1);
  await refusal(t, stuck, 'QUERY_TIMEOUT');
  await refusal(t, waiting, 'HISTORY_BUSY');
  t.like(r.stats(), { threads: 0, retiring: 1, queued: 0 });
  await refusal(t, r.recent('#a', 1), 'HISTORY_BUSY');
  await retired;
  t.like(r.stats(), { threads: 1, retiring: 0 }, 'the finished thread made room for a fresh one');
  t.deepEqual(texts(await r.recent('#a', 1)), ['m29']);
});

test.serial('queries wait in one FIFO queue; a full queue and a too long wait are refused with HISTORY_BUSY', async (t) => {
  const { dataDir } = storeWith(t, TEXTS);
  const r = reader(t, dataDir, { poolSize: 1, maxQueue: 2, timeoutMs: 10_000, testHooks: true });
  await r.recent('#a', 1);
  const order: string[] = [];
  const stall = r.stallForTest(500).then(() => order.push('stall'));
  const first = r.recent('#a', 1).then((p) => order.push(`first ${texts(p).join()}`));
  const second = r.before('#a', Number.MAX_SAFE_INTEGER, 2).then((p) => order.push(`second ${texts(p).join()}`));
  t.is(r.stats().queued, 2);
  await refusal(t, r.search('#a', ['m1'], 5), 'HISTORY_BUSY');
  await Promise.all([stall, first, second]);
  t.deepEqual(order, ['stall', 'first m29', 'second m28,m29']);

  const impatient = reader(t, dataDir, { poolSize: 1, maxWaitMs: 200, timeoutMs: 10_000, testHooks: true });
  await impatient.ready();
  const slow = impatient.stallForTest(2000);
  await refusal(t, impatient.recent('#a', 1), 'HISTORY_BUSY');
  t.is(impatient.stats().queued, 0, 'the refused query left the queue');
  await slow;
});

test.serial('the event loop keeps turning while a slow query runs in a reader thread', async (t) => {
  const { dataDir } = storeWith(t, TEXTS);
  const r = reader(t, dataDir, { timeoutMs: 10_000, testHooks: true });
  await r.recent('#a', 1);
  let ticks = 0;
  const interval = setInterval(() => ticks++, 10);
  try {
    await r.stallForTest(2000);
  } finally {
    clearInterval(interval);
  }
  // Run on this thread, the stall would allow at most one tick; about 200 are expected.
  t.true(ticks >= 20, `${ticks} ticks`);
});

test.serial('close() does not wait long for a thread stuck in a native query', async (t) => {
  const { dataDir } = storeWith(t, TEXTS);
  const { log, events, next } = recordingLogger();
  const r = new WorkerHistoryReader({ dataDir, log, timeoutMs: 30_000, maxWaitMs: WAIT_MS, testHooks: true });
  await r.ready();
  let started!: () => void;
  const inside = new Promise<void>((resolve) => (started = resolve));
  const stuck = r.stallForTest(8000, started);
  await inside;
  await r.close();
  await refusal(t, stuck, 'HISTORY_BUSY');
  t.true(events.some((e) => e.event === 'history-reader-close-late'), 'close() gave up waiting and said so');
  t.is(r.stats().retiring, 1, 'the stuck thread is still finishing its query');
  await next('history-reader-retired');
  t.is(r.stats().retiring, 0);
});

test.serial('close() ends every thread and refuses running, waiting and later queries', async (t) => {
  const { dataDir } = storeWith(t, TEXTS);
  const r = new WorkerHistoryReader({ dataDir, log: silentLogger, poolSize: 2, maxWaitMs: WAIT_MS, timeoutMs: 10_000, testHooks: true });
  await Promise.all([r.recent('#a', 1), r.recent('#a', 1)]);
  t.is(r.stats().threads, 2);
  const running = r.stallForTest(300);
  const running2 = r.stallForTest(300);
  const waiting = r.recent('#a', 1);
  await r.close();
  t.deepEqual(r.stats(), { threads: 0, retiring: 0, queued: 0 });
  await refusal(t, running, 'HISTORY_BUSY');
  await refusal(t, running2, 'HISTORY_BUSY');
  await refusal(t, waiting, 'HISTORY_BUSY');
  await refusal(t, r.recent('#a', 1), 'HISTORY_BUSY');
});

test.serial('a reader thread that cannot open the database is logged, queries get HISTORY_BUSY, and it is retried later', async (t) => {
  const { log, next } = recordingLogger();
  const failed = next('history-reader-failed');
  const r = reader(t, tempDir(t), { log });
  await failed;
  const retried = next('history-reader-failed');
  await refusal(t, r.recent('#a', 1), 'HISTORY_BUSY');
  t.is(r.stats().threads, 0, 'not restarted at once');
  await retried;
});

test.serial('reader threads see what the store has committed since they started, and find it once it is indexed', async (t) => {
  const { dataDir, store } = storeWith(t, ['first']);
  const r = reader(t, dataDir);
  t.deepEqual(texts(await r.recent('#a', 5)), ['first']);
  store.append(entry('#a', 'second'));
  store.append(entry('#new', 'a new room'));
  store.commit();
  t.deepEqual(texts(await r.recent('#a', 5)), ['first', 'second']);
  store.catchUpSearch();
  t.deepEqual((await r.search('#new', ['new'], 5)).map((e) => e.text), ['a new room']);
});

test.serial('the worker reader and inlineQueries agree with each other and with a plain model of the word rules', async (t) => {
  const vocabulary = ['a', 'i', 'at', 'to', 'cat', 'cats', 'catalog', 'cathedral', 'dog', 'dogma', 'do', 'done', 'x', 'xy', 'xyz'];
  const random = fc.sample(fc.array(fc.constantFrom(...vocabulary), { minLength: 1, maxLength: 6 }), { numRuns: 300, seed: 8 });
  const corpus = random.map((words) => words.join(' '));
  const { dataDir, store } = storeWith(t, corpus);
  const worker = reader(t, dataDir);
  const inline = inlineQueries(store);
  const ids = (await worker.recent('#a', corpus.length)).entries.map((e) => e.id);
  /** What the rules say: 1-2 letter words match whole words, longer ones any word they begin. */
  const model = (words: string[], limit: number) =>
    corpus
      .filter((text) => words.every((w) => text.split(' ').some((token) => (w.length < 3 ? token === w : token.startsWith(w)))))
      .reverse()
      .slice(0, limit);
  const query = fc.oneof(
    fc.record({ op: fc.constant('recent' as const), limit: fc.integer({ min: 0, max: 40 }), upto: fc.option(fc.integer({ min: 0, max: corpus.length + 5 })) }),
    fc.record({ op: fc.constant('before' as const), limit: fc.integer({ min: 0, max: 40 }), at: fc.integer({ min: 0, max: corpus.length + 5 }) }),
    fc.record({
      op: fc.constant('search' as const),
      limit: fc.integer({ min: 1, max: 50 }),
      words: fc.array(fc.oneof(fc.constantFrom(...vocabulary), fc.constantFrom('c', 'ca', 'cat', 'cath', 'd', 'do', 'dog', 'x', 'xy')), { minLength: 1, maxLength: 3 }),
    }),
  );
  await fc.assert(
    fc.asyncProperty(query, async (q) => {
      // An id in or just past the stored range (ids of other rooms' rows are there too).
      const id = (n: number) => ids[n] ?? ids[ids.length - 1]! + n;
      if (q.op === 'search') {
        const [a, b] = await Promise.all([worker.search('#a', q.words, q.limit), inline.search('#a', q.words, q.limit)]);
        t.deepEqual(a, b);
        t.deepEqual(a.map((e) => e.text), model(q.words, q.limit), q.words.join(' '));
      } else {
        const run = (h: HistoryQueries) => (q.op === 'recent' ? h.recent('#a', q.limit, q.upto === null ? undefined : id(q.upto)) : h.before('#a', id(q.at), q.limit));
        const [a, b] = await Promise.all([run(worker), run(inline)]);
        t.deepEqual(a, b);
      }
    }),
    { numRuns: 150, seed: 8 },
  );
});
