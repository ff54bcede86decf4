import test from 'ava';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Worker } from 'node:worker_threads';
import { createLogger } from '../../lib/log';
import type { NewHistoryEntry } from '../../lib/core/ports/history-store';
import { WorkerHistoryReader } from '../../lib/history/history-reader';
import { DATABASE_FILE, PRUNE_STEP_ROWS } from '../../lib/history/sqlite-history-store';
import { ThreadedSqliteStore } from '../../lib/history/sqlite-threaded-store';
import { historyStoreContract, type OpenStore, type StoreHarness } from '../helpers/history-store-contract';

/*
 * The daemon's SQLite store, whose writes run on a writer thread: the HistoryStore contract (reads through
 * the daemon's worker reader, which waits for the writer), then what only this store does: ids given on
 * the event loop, a PONG-style wait for the writer, a writer that dies, a lock held by someone else.
 */

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mychat-threaded-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs `use` on a connection of its own to the test's database (outside the store). */
function withDb<T>(dataDir: string, use: (db: Database.Database) => T): T {
  const db = new Database(path.join(dataDir, DATABASE_FILE));
  db.pragma('busy_timeout = 5000');
  try {
    return use(db);
  } finally {
    db.close();
  }
}

function harness(dataDir: string, logLines: string[], onOutage: Parameters<OpenStore>[1]['onOutage'], teardown: (close: () => Promise<unknown>) => void): StoreHarness {
  const log = createLogger('debug', (line) => logLines.push(line), false);
  const store = new ThreadedSqliteStore({ dataDir, sync: 'normal', log, onOutage });
  // Queries are not timed here: under ts-node, with every test's threads compiling at once, a first query can take seconds.
  const queries = new WorkerHistoryReader({ dataDir, log, store, timeoutMs: 30_000 });
  const close = async (lastAttemptMs = 0): Promise<number> => {
    await queries.close();
    return store.close(lastAttemptMs);
  };
  teardown(close);
  const settle = (): Promise<void> => store.flushed();
  return {
    store,
    queries,
    settle,
    rooms: async () => {
      await settle();
      return store.loadRooms();
    },
    creations: async (since) => {
      await settle();
      return store.loadRoomCreations(since);
    },
    prune: (now, policy) => store.pruneStep(now, policy),
    rowCounts: () =>
      Promise.resolve(
        withDb(dataDir, (db) => ({
          messages: db.prepare('SELECT count(*) FROM messages').pluck().get() as number,
          rooms: db.prepare('SELECT count(*) FROM rooms').pluck().get() as number,
        })),
      ),
    // As a full disk does: inserts fail (SQLite reports "database or disk is full"), reads work.
    failWrites: () => {
      withDb(dataDir, (db) => db.exec(`CREATE TRIGGER fail_writes BEFORE INSERT ON messages BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;`));
      return Promise.resolve(() => Promise.resolve(withDb(dataDir, (db) => void db.exec('DROP TRIGGER IF EXISTS fail_writes'))));
    },
    close,
    reopen: async () => {
      await close();
      return harness(dataDir, logLines, onOutage, teardown);
    },
  };
}

const open: OpenStore = (t, { logLines = [], onOutage }) => Promise.resolve(harness(tempDir(t), logLines, onOutage, (close) => t.teardown(close)));

historyStoreContract('sqlite-threaded', open, { countableWrites: false, pruneStepRows: PRUNE_STEP_ROWS });

function entry(room: string, text: string, at = 1_000, nick = 'alice'): NewHistoryEntry {
  return { roomKey: room, roomName: room, at, nick, kind: 'MSG', text };
}

test('ids are given on the event loop, in order and after those of earlier runs, so a replay mark is exact before any commit', async (t) => {
  const dataDir = tempDir(t);
  const h = harness(dataDir, [], undefined, (close) => t.teardown(close));
  h.store.append(entry('#a', 'one'));
  h.store.append(entry('#a', 'two'));
  t.is(h.store.lastMessageId(), 2, 'known before the writer has committed anything');
  await h.settle();
  const again = await h.reopen();
  again.store.append(entry('#a', 'three'));
  t.is(again.store.lastMessageId(), 3);
  const page = await again.queries.recent('#a', 10, again.store.lastMessageId());
  t.deepEqual(
    page.entries.map((e) => [e.id, e.text]),
    [
      [1, 'one'],
      [2, 'two'],
      [3, 'three'],
    ],
  );
});

test('written() resolves only once the writer has committed what was queued before it', async (t) => {
  const dataDir = tempDir(t);
  const h = harness(dataDir, [], undefined, (close) => t.teardown(close));
  for (let i = 0; i < 5000; i++) h.store.append(entry('#w', `m${i}`));
  const written = (h.store as ThreadedSqliteStore).written();
  t.truthy(written, 'something is waiting');
  await written;
  t.is(h.store.healthy, true);
  t.is((await h.rowCounts()).messages, 5000, 'every message queued before written() is in the database when it resolves');
});

test('a writer thread that dies is replaced: what was still in the ring is written by the next one, and it is logged', async (t) => {
  const logs: string[] = [];
  const dataDir = tempDir(t);
  const h = harness(dataDir, logs, undefined, (close) => t.teardown(close));
  h.store.append(entry('#x', 'before'));
  await h.settle();
  const inner = h.store as unknown as { worker: Worker };
  await inner.worker.terminate();
  h.store.append(entry('#x', 'after'));
  h.store.commit();
  t.false(h.store.healthy, 'no writer, not healthy');
  const deadline = Date.now() + 10_000;
  while (!h.store.healthy && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  t.true(h.store.healthy, 'a new writer took over');
  await h.settle();
  t.deepEqual((await h.queries.recent('#x', 10)).entries.map((e) => e.text), ['before', 'after']);
  t.true(logs.some((line) => line.includes('history-writer-lost')));
});

// Serial: a concurrent test's start-up could hold this process long enough for the writer to give up on the lock.
test.serial('a lock held by another connection delays the writer, not the event loop: appends and commits return at once and nothing is lost', async (t) => {
  const logs: string[] = [];
  const dataDir = tempDir(t);
  const h = harness(dataDir, logs, undefined, (close) => t.teardown(close));
  h.store.append(entry('#l', 'first'));
  await h.settle();
  const blocker = new Database(path.join(dataDir, DATABASE_FILE));
  t.teardown(() => blocker.open && blocker.close());
  blocker.exec('BEGIN IMMEDIATE');
  let waited = false;
  h.store.append(entry('#l', 'second'));
  h.store.commit();
  const written = (h.store as ThreadedSqliteStore).written();
  t.truthy(written, 'the writer cannot commit while the lock is held');
  void written!.then(() => (waited = true));
  // commit() returned with the lock held; the event loop goes on turning while the writer waits for it.
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
  t.false(waited, 'still waiting for the lock');
  blocker.exec('COMMIT');
  blocker.close();
  await written;
  t.deepEqual((await h.queries.recent('#l', 10)).entries.map((e) => e.text), ['first', 'second']);
  t.false(logs.some((line) => line.includes('history-write-failed')), 'a lock held briefly is not an outage');
});

test('the writer indexes search text and checkpoints the WAL into the database file on its own; each message is indexed once', async (t) => {
  const dataDir = tempDir(t);
  const h = harness(dataDir, [], undefined, (close) => t.teardown(close));
  const file = path.join(dataDir, DATABASE_FILE);
  const before = statSync(file).size;
  for (let i = 0; i < 2000; i++) h.store.append(entry('#wal', `message ${i} ${'x'.repeat(100)}`));
  await h.settle();
  const indexed = (): number => withDb(dataDir, (db) => Number(db.prepare(`SELECT value FROM meta WHERE key = 'indexed'`).pluck().get() ?? 0));
  // The writer's rounds come every 250 ms and its checkpoints every second; bounded waits, not sleeps.
  const deadline = Date.now() + 20_000;
  while ((indexed() < 2000 || statSync(file).size <= before) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  t.is(indexed(), 2000, 'every committed message is in the index without any search asking for it');
  t.true(statSync(file).size > before, 'the WAL was copied into the database file');
  h.store.append(entry('#wal', 'message last'));
  t.is((await h.queries.search('#wal', ['message'], 50)).length, 50);
  t.is(withDb(dataDir, (db) => db.prepare(`SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'message'`).pluck().get()), 2001, 'each message indexed once, the last by the search catch-up');
});

test('with --sync full, commit() returns only once the writer has committed: what a turn shows is already in the database', async (t) => {
  const dataDir = tempDir(t);
  const store = new ThreadedSqliteStore({ dataDir, sync: 'full', log: createLogger('debug', () => undefined, false) });
  t.teardown(() => store.close());
  for (let turn = 0; turn < 20; turn++) {
    for (let i = 0; i < 50; i++) store.append(entry('#full', `turn ${turn} line ${i}`));
    store.commit();
    // No await: the event loop has not turned since the appends, so only a commit that waited explains the rows.
    t.is(withDb(dataDir, (db) => db.prepare('SELECT count(*) FROM messages').pluck().get()), (turn + 1) * 50);
  }
  await store.close();
});

test('entries that find the ring full with no writer to take them are dropped, logged once, and counted in what close() reports as not kept', async (t) => {
  const logs: string[] = [];
  const dataDir = tempDir(t);
  const h = harness(dataDir, logs, undefined, (close) => t.teardown(close));
  const inner = h.store as unknown as { worker: Worker };
  await inner.worker.terminate();
  // 1 000 messages of 4 KB are twice the ring: the second half finds it full, and no writer until the restart.
  const text = 'z'.repeat(4000);
  for (let i = 0; i < 1000; i++) h.store.append(entry('#full', `${i} ${text}`));
  t.is(logs.filter((line) => line.includes('history-writer-stalled')).length, 1, 'logged once, not per entry');
  // Closing meanwhile starts a writer for what the ring holds: only the dropped ones are missing.
  const notKept = await h.close(0);
  const dropped = Number(/history-closed-stalled-drops dropped=(\d+)/.exec(logs.join(''))?.[1]);
  t.true(dropped > 400 && dropped < 1000, `${dropped} dropped`);
  t.is(notKept, dropped, 'close() counts them, and only them');
  t.is((await h.rowCounts()).messages, 1000 - dropped, 'what was in the ring was written at close');
});
