import test from 'ava';
import Database from 'better-sqlite3';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLogger } from '../../lib/log';
import type { NewHistoryEntry } from '../../lib/core/ports/history-store';
import { DATABASE_FILE, HistoryOpenError, INDEX_INTERVAL_MS, SqliteHistoryStore, type SyncMode } from '../../lib/history/sqlite-history-store';
import { openHistoryReads } from '../../lib/history/history-reads';

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mychat-store-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function open(dataDir: string, logLines: string[] = [], onOutage?: (e: readonly NewHistoryEntry[]) => void, sync: SyncMode = 'normal') {
  return new SqliteHistoryStore({ dataDir, sync, log: createLogger('debug', (line) => logLines.push(line), false), onOutage });
}

function entry(room: string, text: string, at = 1_000, nick = 'alice', kind: NewHistoryEntry['kind'] = 'MSG'): NewHistoryEntry {
  return { roomKey: room, roomName: room, at, nick, kind, text };
}

test('appended entries are readable at once, oldest first, and survive reopening', (t) => {
  const dir = tempDir(t);
  const store = open(dir);
  for (let i = 0; i < 5; i++) store.append(entry('#a', `m${i}`, 1000 + i));
  store.append(entry('#b', 'other room'));
  t.deepEqual(store.recent('#a', 3).map((e) => e.text), ['m2', 'm3', 'm4']);
  store.close();
  const again = open(dir);
  t.deepEqual(again.recent('#a', 10).map((e) => e.text), ['m0', 'm1', 'm2', 'm3', 'm4']);
  t.deepEqual(again.recent('#b', 10).map((e) => [e.nick, e.kind, e.text, e.at]), [['alice', 'MSG', 'other room', 1000]]);
  t.deepEqual(again.loadRooms().map((r) => r.key).sort(), ['#a', '#b']);
  again.close();
});

test('ids increase in append order and "before" pages back without gaps or overlap', (t) => {
  const store = open(tempDir(t));
  for (let i = 0; i < 50; i++) store.append(entry('#p', `m${i}`));
  const seen: string[] = [];
  let page = store.recent('#p', 20);
  while (page.length > 0) {
    seen.unshift(...page.map((e) => e.text));
    for (let i = 1; i < page.length; i++) t.true(page[i]!.id > page[i - 1]!.id);
    page = store.before('#p', page[0]!.id, 20);
  }
  t.deepEqual(seen, Array.from({ length: 50 }, (_, i) => `m${i}`));
  store.close();
});

test('search finds messages with every word (last one a prefix), ignores case and accents, stays in its room, newest first', (t) => {
  const store = open(tempDir(t));
  store.append(entry('#s', 'Deploy the Crème brûlée service'));
  store.append(entry('#s', 'lunch is served'));
  store.append(entry('#s', 'deployment finished for the creme service'));
  store.append(entry('#other', 'deploy creme elsewhere'));
  t.deepEqual(store.search('#s', ['deploy', 'creme'], 10).map((e) => e.text), [
    'deployment finished for the creme service',
    'Deploy the Crème brûlée service',
  ]);
  t.deepEqual(store.search('#s', ['serv'], 1).map((e) => e.text), ['deployment finished for the creme service'], 'limit and prefix');
  t.deepEqual(store.search('#s', ['"quoted'], 10), [], 'quotes cannot break the query');
  t.deepEqual(store.search('#nowhere', ['deploy'], 10), []);
  store.close();
});

/** Runs retention steps until a pass is done; returns every room reported unused on the way. */
function pruneAll(store: ReturnType<typeof open>, now: number, policy = { maxMessagesPerRoom: 10, maxAgeMs: 5_000 }): string[] {
  const unused: string[] = [];
  for (let step = 0; step < 10_000; step++) {
    const result = store.prune(now, policy);
    unused.push(...result.unusedRooms);
    if (result.done) return unused;
  }
  throw new Error('retention never finished');
}

test('retention keeps the newest N per room, drops old messages, and reports rooms left with no message, topic or not', (t) => {
  const store = open(tempDir(t));
  for (let i = 0; i < 30; i++) store.append(entry('#big', `m${i}`, 10_000 + i));
  store.append(entry('#old', 'ancient', 10));
  store.append(entry('#topic', 'old message', 10));
  store.append(entry('#topic', 'Welcome', 11_000, 'alice', 'TOPIC'));
  const unused = pruneAll(store, 12_000);
  t.deepEqual(store.recent('#big', 100).map((e) => e.text), Array.from({ length: 10 }, (_, i) => `m${20 + i}`));
  t.deepEqual(store.recent('#old', 10), []);
  t.deepEqual(unused.sort(), ['#old', '#topic'], 'a topic change alone does not make a room used');
  const rooms = store.loadRooms();
  t.deepEqual(rooms.map((r) => [r.key, r.used]).sort(), [['#big', true], ['#old', false], ['#topic', false]], 'the core decides when to forget them');
  t.is(rooms.find((r) => r.key === '#topic')?.topic, 'Welcome');
  t.deepEqual(store.search('#big', ['m0'], 10), [], 'pruned messages leave the search index too');
  store.close();
});

test('a room is saved at creation, before anything is said, and kept until forgotten', (t) => {
  const dir = tempDir(t);
  const store = open(dir);
  store.saveRoom({ roomKey: '#new', roomName: '#New', at: 100_000 });
  store.saveRoom({ roomKey: '#new', roomName: '#New', at: 200_000 });
  store.close();
  const again = open(dir);
  t.deepEqual(again.loadRooms(), [{ key: '#new', name: '#New', topic: '', topicBy: '', topicAt: 0, used: false }]);
  t.deepEqual(pruneAll(again, 10_000_000_000), ['#new'], 'reported unused, not deleted: the store does not know who is in it');
  t.is(again.loadRooms().length, 1);
  again.forgetRoom('#new');
  again.commit();
  t.deepEqual(again.loadRooms(), []);
  again.close();
});

test('forgetting a room frees its name at once; retention deletes what it held in bounded steps', (t) => {
  const store = open(tempDir(t));
  for (let i = 0; i < 450; i++) store.append(entry('#squat', `topic ${i}`, 1_000 + i, 'mallory', 'TOPIC'));
  store.append(entry('#other', 'kept', 1_000));
  store.commit();
  store.forgetRoom('#squat');
  store.append(entry('#squat', 'a new room of the same name', 5_000));
  store.commit();
  t.deepEqual(store.recent('#squat', 1000).map((e) => e.text), ['a new room of the same name'], 'nothing of the forgotten room shows');
  t.deepEqual(store.loadRooms().map((r) => [r.key, r.topic]).sort(), [['#other', ''], ['#squat', '']]);
  const db = (store as unknown as { db: Database.Database }).db;
  const rows = (): number => db.prepare('SELECT count(*) FROM messages').pluck().get() as number;
  const policy = { maxMessagesPerRoom: 1000, maxAgeMs: 1e12 };
  const first = store.prune(6_000, policy);
  t.false(first.done);
  t.is(first.deletedMessages, 200, 'one step deletes a bounded number of rows');
  pruneAll(store, 6_000, policy);
  t.is(rows(), 2, 'every row of the forgotten room is gone');
  t.is(db.prepare('SELECT count(*) FROM rooms').pluck().get(), 2, 'and so is its room row');
  t.deepEqual(store.search('#squat', ['topic'], 10), []);
  store.close();
});

test('room creations are logged with their address block, counted per block, and survive reopening', (t) => {
  const dir = tempDir(t);
  const store = open(dir);
  store.saveRoom({ roomKey: '#a', roomName: '#a', at: 1_000, creator: '192.0.2.0/24' });
  store.saveRoom({ roomKey: '#b', roomName: '#b', at: 2_000, creator: '192.0.2.0/24' });
  store.saveRoom({ roomKey: '#c', roomName: '#c', at: 3_000, creator: '2001:db8:0:0:0:0:0:0/64' });
  store.forgetRoom('#a');
  store.close();
  const again = open(dir);
  const counts = (since: number) => again.loadRoomCreations(since).sort((x, y) => (x.creator < y.creator ? -1 : 1));
  t.deepEqual(counts(0), [
    { creator: '192.0.2.0/24', count: 2, first: 1_000 },
    { creator: '2001:db8:0:0:0:0:0:0/64', count: 1, first: 3_000 },
  ], 'a forgotten room still counts: forgetting one\'s own rooms does not give the allowance back');
  t.deepEqual(counts(1_500), [
    { creator: '192.0.2.0/24', count: 1, first: 2_000 },
    { creator: '2001:db8:0:0:0:0:0:0/64', count: 1, first: 3_000 },
  ]);
  pruneAll(again, 2_500 + 3_600_000);
  t.deepEqual(counts(0).map((c) => c.creator), ['2001:db8:0:0:0:0:0:0/64'], 'retention drops log rows older than an hour');
  again.close();
});

/** The schema as shipped before room creations were logged, to test the upgrade of existing databases. */
const SCHEMA_1 = `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE rooms (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, name TEXT NOT NULL, topic TEXT NOT NULL DEFAULT '',
  topic_by TEXT NOT NULL DEFAULT '', topic_at INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL DEFAULT 0);
CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, room_id INTEGER NOT NULL, at INTEGER NOT NULL, nick TEXT NOT NULL,
  kind TEXT NOT NULL, text TEXT NOT NULL);
CREATE INDEX messages_by_room ON messages (room_id, id);
CREATE INDEX messages_by_time ON messages (at);
CREATE VIRTUAL TABLE messages_fts USING fts5 (room, text, content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 2');
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
  INSERT INTO messages_fts (rowid, room, text) VALUES (new.id, 'r' || new.room_id, new.text);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
  DELETE FROM messages_fts WHERE rowid = old.id;
END;
INSERT INTO meta (key, value) VALUES ('schema', '1');
INSERT INTO rooms (key, name, topic, topic_by, topic_at, created_at) VALUES
  ('#talk', '#Talk', '', '', 0, 1000), ('#topiconly', '#TopicOnly', 'Squatted', 'mallory', 1500, 1000), ('#empty', '#empty', '', '', 0, 1000);
INSERT INTO messages (room_id, at, nick, kind, text) VALUES (1, 1100, 'alice', 'MSG', 'hello'), (2, 1500, 'mallory', 'TOPIC', 'Squatted');
`;

test('a database made by the first schema opens, keeps its rooms and history, and starts logging room creations', (t) => {
  const dir = tempDir(t);
  const old = new Database(path.join(dir, DATABASE_FILE));
  old.exec(SCHEMA_1);
  old.close();
  const store = open(dir);
  t.deepEqual(store.loadRooms().map((r) => [r.key, r.name, r.topic, r.used]), [
    ['#talk', '#Talk', '', true],
    ['#topiconly', '#TopicOnly', 'Squatted', false],
    ['#empty', '#empty', '', false],
  ]);
  t.deepEqual(store.recent('#talk', 10).map((e) => e.text), ['hello']);
  t.deepEqual(store.search('#talk', ['hello'], 10).map((e) => e.text), ['hello']);
  t.deepEqual(store.loadRoomCreations(0), []);
  store.saveRoom({ roomKey: '#fresh', roomName: '#fresh', at: 5_000, creator: '198.51.100.0/24' });
  store.close();
  const again = open(dir);
  t.deepEqual(again.loadRoomCreations(0), [{ creator: '198.51.100.0/24', count: 1, first: 5_000 }]);
  t.is(again.loadRooms().length, 4);
  // Upgraded to schema 2: the insert trigger is gone, so a new message is indexed once, by the store.
  again.append(entry('#talk', 'hello again'));
  t.deepEqual(again.search('#talk', ['hello'], 10).map((e) => e.text), ['hello again', 'hello']);
  again.close();
  const raw = new Database(path.join(dir, DATABASE_FILE), { readonly: true });
  t.is(raw.prepare(`SELECT value FROM meta WHERE key = 'schema'`).pluck().get(), '2');
  t.is(raw.prepare(`SELECT count(*) FROM sqlite_master WHERE name = 'messages_fts_insert'`).pluck().get(), 0);
  t.deepEqual(raw.prepare(`SELECT rowid FROM messages_fts WHERE messages_fts MATCH 'hello'`).pluck().all(), [1, 3], 'each message indexed once');
  raw.close();
});

test('search text is indexed behind the commits: a reader finds a committed message once the index has caught up, on its own', async (t) => {
  t.timeout(20_000);
  const dir = tempDir(t);
  const store = open(dir);
  t.teardown(() => store.close());
  store.append(entry('#idx', 'first words'));
  store.commit();
  const reads = new Database(path.join(dir, DATABASE_FILE), { readonly: true });
  t.teardown(() => reads.close());
  const search = openHistoryReads(reads).search;
  const newest = store.lastMessageId();
  t.true(store.indexedUpTo < newest, 'the commit wrote the message, not its index entry');
  t.deepEqual(search('#idx', ['first'], 10), [], 'not found by search yet');
  t.deepEqual(openHistoryReads(reads).recent('#idx', 10, undefined).entries.map((e) => e.text), ['first words'], 'but stored and readable');
  const started = Date.now();
  t.true(await until(() => store.indexedUpTo >= newest, 10_000), 'the index catches up without any search');
  t.log(`indexed after ${Date.now() - started} ms (rounds every ${INDEX_INTERVAL_MS} ms)`);
  t.deepEqual(search('#idx', ['first'], 10).map((e) => e.text), ['first words']);
});

test('a search indexes what was committed since the last round first; close indexes the rest, and a reopened store carries on', (t) => {
  const dir = tempDir(t);
  const store = open(dir);
  for (let i = 0; i < 70; i++) store.append(entry('#many', `word${i} shared`, 1000 + i));
  t.is(store.search('#many', ['shared'], 100).length, 70);
  store.append(entry('#many', 'at close'));
  store.close();
  const reads = new Database(path.join(dir, DATABASE_FILE), { readonly: true });
  t.deepEqual(openHistoryReads(reads).search('#many', ['close'], 10).map((e) => e.text), ['at close'], 'indexed at close');
  reads.close();
  const again = open(dir);
  again.append(entry('#many', 'after reopening'));
  t.deepEqual(again.search('#many', ['reopening'], 10).map((e) => e.text), ['after reopening']);
  t.is(again.search('#many', ['shared'], 100).length, 70, 'nothing indexed twice');
  again.close();
});

test('many messages in one commit keep their order across rooms, with topics and new rooms in between', (t) => {
  const store = open(tempDir(t));
  const texts: Record<string, string[]> = { '#x': [], '#y': [] };
  for (let i = 0; i < 100; i++) {
    const room = i % 3 === 0 ? '#y' : '#x';
    const kind = i === 40 ? 'TOPIC' : 'MSG';
    store.append(entry(room, `n${i}`, 1000 + i, 'alice', kind));
    texts[room]!.push(`n${i}`);
    if (i === 50) store.saveRoom({ roomKey: '#z', roomName: '#z', at: 2000 });
  }
  store.commit();
  t.deepEqual(store.recent('#x', 100).map((e) => e.text), texts['#x']);
  t.deepEqual(store.recent('#y', 100).map((e) => e.text), texts['#y']);
  const ids = [...store.recent('#x', 100), ...store.recent('#y', 100)].sort((a, b) => a.id - b.id).map((e) => e.text);
  t.deepEqual(ids, Array.from({ length: 100 }, (_, i) => `n${i}`), 'ids follow the append order');
  t.deepEqual(store.loadRooms().map((r) => [r.key, r.topic]).sort(), [['#x', 'n40'], ['#y', ''], ['#z', '']]);
  store.close();
});

/** Waits, at most `timeoutMs`, until `condition()` holds (the store retries on its own timer). */
async function until(condition: () => boolean, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return true;
}

/** Makes the store's database refuse to grow, as on a full disk; the returned function gives the space back. */
function fillDisk(store: SqliteHistoryStore): () => void {
  const db = (store as unknown as { db: Database.Database }).db;
  db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`);
  return () => db.pragma('max_page_count = 1073741823');
}

/** Counts the transactions the store attempts. */
function countWrites(store: SqliteHistoryStore): { attempts: number } {
  const spy = { attempts: 0 };
  const inner = store as unknown as { writeBatch: (batch: unknown[]) => void };
  const write = inner.writeBatch;
  inner.writeBatch = (batch) => {
    spy.attempts++;
    write(batch);
  };
  return spy;
}

test('a storage failure keeps chat going: logged once, reported once, no write attempt from commit() until the timer retries, nothing lost', async (t) => {
  const logs: string[] = [];
  const outages: number[] = [];
  const store = open(tempDir(t), logs, (unsaved) => outages.push(unsaved.length));
  store.append(entry('#d', 'before'));
  store.commit();
  const freeSpace = fillDisk(store);
  const writes = countWrites(store);
  const big = 'x'.repeat(3000);
  // The last pages of the file may still take a message or two.
  let sent = 0;
  while (store.healthy && sent < 100) {
    store.append(entry('#d', `${sent++} ${big}`));
    store.commit();
  }
  t.false(store.healthy);
  const attempts = writes.attempts;
  for (let i = 0; i < 40; i++) {
    store.append(entry('#d', `${sent++} ${big}`));
    store.commit();
  }
  t.is(writes.attempts, attempts, 'no commit() tried the disk during the outage: the output path pays nothing');
  t.is(logs.filter((l) => l.includes('history-write-failed')).length, 1, 'one log line per outage, not per message');
  t.is(outages.length, 1);
  freeSpace();
  t.true(await until(() => store.healthy), 'the retry timer wrote the backlog');
  t.regex(logs.find((l) => l.includes('history-write-recovered')) ?? '', /written=4\d lost=0/);
  t.deepEqual(
    store.recent('#d', 200).map((e) => e.text.split(' ')[0]),
    ['before', ...Array.from({ length: sent }, (_, i) => String(i))],
    'every queued message was written, in order',
  );
  store.close();
});

test('during an outage the backlog is bounded in entries and in bytes; the oldest are dropped, counted and logged', async (t) => {
  const logs: string[] = [];
  const store = open(tempDir(t), logs);
  store.append(entry('#b', 'before'));
  store.commit();
  const freeSpace = fillDisk(store);
  // Bytes: 4,000-byte texts pass the 8 MiB bound long before 10,000 entries.
  const text = 'y'.repeat(3990);
  const size = 2 + 2 + 'alice'.length + 4000 + 64;
  const kept = Math.floor((8 * 1024 * 1024) / size);
  for (let i = 0; i < kept + 30; i++) store.append(entry('#b', `${String(i).padStart(9, '0')} ${text}`));
  t.is(logs.filter((l) => l.includes('history-backlog-full')).length, 1, 'logged once when dropping starts');
  freeSpace();
  // 8 MiB in chunks of 64 KiB, each followed by a WAL truncation: 10 s was not always enough on a loaded machine.
  t.true(await until(() => store.healthy, 30_000));
  t.regex(logs.find((l) => l.includes('history-write-recovered')) ?? '', new RegExp(`written=${kept} lost=30`));
  const stored = store.recent('#b', kept + 100).map((e) => e.text.slice(0, 9));
  t.is(stored.length, kept + 1);
  t.is(stored[1], String(30).padStart(9, '0'), 'the oldest unsaved ones went first');
  t.is(stored.at(-1), String(kept + 29).padStart(9, '0'));

  // Entries: 10,000 at most.
  fillDisk(store);
  logs.length = 0;
  let outage = 0;
  while (store.healthy && outage < 100) {
    store.append(entry('#b', `${outage++} ${'x'.repeat(3000)}`));
    store.commit();
  }
  t.false(store.healthy);
  for (let i = 0; i < 10_010; i++) store.append(entry('#b', `n${i}`));
  // No time for a last attempt: everything still queued or dropped is counted.
  store.close(0);
  t.regex(logs.find((l) => l.includes('history-closed')) ?? '', new RegExp(`notKept=${10_010 + 1} unwritten=10000 dropped=${10_010 + 1 - 10_000} `));
});

test('closing during an outage makes a last attempt and logs exactly how many messages were not kept', (t) => {
  const logs: string[] = [];
  const dir = tempDir(t);
  const store = open(dir, logs);
  store.append(entry('#c', 'kept'));
  store.commit();
  fillDisk(store);
  let sent = 0;
  while (store.healthy && sent < 100) {
    store.append(entry('#c', `${sent++} ${'z'.repeat(3000)}`));
    store.commit();
  }
  t.false(store.healthy);
  for (let i = 0; i < 6; i++) store.append(entry('#c', `${sent++} ${'z'.repeat(3000)}`));
  const stored = store.recent('#c', 200).length;
  const notKept = sent + 1 - stored;
  t.true(notKept >= 7);
  t.is(store.close(100), notKept);
  t.regex(logs.find((l) => l.includes('history-closed')) ?? '', new RegExp(`error history-closed notKept=${notKept} unwritten=${notKept} dropped=0 written=0`));
  const again = open(dir, logs);
  t.is(again.recent('#c', 200).length, stored, 'what the log says was not kept is what is missing');
  logs.length = 0;
  again.append(entry('#c', 'fine'));
  t.is(again.close(100), 0);
  t.regex(logs.join(''), /info history-closed notKept=0/, 'a healthy close says so too');
});

test('a database from a newer mychatd is refused, saying so, and left untouched', (t) => {
  const dir = tempDir(t);
  open(dir).close();
  const raw = new Database(path.join(dir, DATABASE_FILE));
  raw.exec(`UPDATE meta SET value = '3' WHERE key = 'schema'`);
  raw.close();
  const error = t.throws(() => open(dir), { instanceOf: HistoryOpenError })!;
  t.regex(error.message, /was written by a newer mychatd \(schema 3; this one reads up to 2\)/);
  const again = new Database(path.join(dir, DATABASE_FILE), { readonly: true });
  t.is(again.prepare(`SELECT value FROM meta WHERE key = 'schema'`).pluck().get(), '3');
  again.close();
});

test('a file that is not a database is refused with a message naming it; it is left untouched', (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, DATABASE_FILE);
  writeFileSync(file, 'this is not sqlite '.repeat(400));
  const error = t.throws(() => open(dir), { instanceOf: HistoryOpenError });
  t.true(error!.message.includes(file));
  t.regex(error!.message, /move it aside|backup/);
  t.regex(readFileSync(file, 'utf8'), /^this is not sqlite/);
});

test('a data directory that cannot be created is a clear error', (t) => {
  const dir = tempDir(t);
  writeFileSync(path.join(dir, 'plain-file'), '');
  const error = t.throws(() => open(path.join(dir, 'plain-file', 'data')), { instanceOf: HistoryOpenError });
  t.regex(error!.message, /not writable/);
});

test('full sync mode stores the same way', (t) => {
  const dir = tempDir(t);
  const store = open(dir, [], undefined, 'full');
  store.append(entry('#f', 'durable'));
  store.close();
  const db = new Database(path.join(dir, DATABASE_FILE), { readonly: true });
  t.is(db.prepare('SELECT text FROM messages').pluck().get(), 'durable');
  db.close();
});

test('with a maintenance thread, search text is indexed and the WAL copied into the database file off the event loop; closing stops the thread', async (t) => {
  t.timeout(30_000);
  const dir = tempDir(t);
  const logs: string[] = [];
  const store = new SqliteHistoryStore({ dataDir: dir, sync: 'normal', log: createLogger('debug', (line) => logs.push(line), false), maintenanceThread: true });
  const file = path.join(dir, DATABASE_FILE);
  const before = statSync(file).size;
  for (let i = 0; i < 2000; i++) store.append(entry('#wal', `message ${i} ${'x'.repeat(100)}`));
  store.commit();
  const newest = store.lastMessageId();
  const db = (store as unknown as { db: Database.Database }).db;
  t.is(db.pragma('wal_autocheckpoint', { simple: true }), 0, 'no checkpoint inside a commit');
  t.is((store as unknown as { indexTimer: unknown }).indexTimer, undefined, 'no indexing rounds on the event loop');
  t.is(statSync(file).size, before, 'the commit went to the WAL only');
  t.true(await until(() => store.indexedUpTo >= newest, 20_000), 'the thread indexed every committed message');
  t.true(await until(() => statSync(file).size > before, 20_000), 'the thread checkpointed the WAL into the database');
  // A search on the event loop and the thread share the index's end: nothing is indexed twice.
  store.append(entry('#wal', 'message last'));
  t.is(store.search('#wal', ['message'], 5000).length, 2001);
  store.close();
  t.deepEqual(logs.filter((line) => /failed/.test(line)), []);
  const raw = new Database(file, { readonly: true });
  t.deepEqual(raw.prepare(`SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'message'`).pluck().get(), 2001, 'each message indexed once');
  raw.close();
});

test('commits and the maintenance thread share the write lock: commits that read before writing (new rooms) never fail while it indexes', async (t) => {
  t.timeout(60_000);
  const logs: string[] = [];
  const store = new SqliteHistoryStore({ dataDir: tempDir(t), sync: 'normal', log: createLogger('debug', (line) => logs.push(line), false), maintenanceThread: true });
  t.teardown(() => store.close());
  const roomIds = (store as unknown as { roomIds: Map<string, number> }).roomIds;
  // Commits go on until the thread has indexed in at least 10 separate steps meanwhile (bounded in time).
  const deadline = Date.now() + 30_000;
  let steps = 0;
  let seen = store.indexedUpTo;
  let n = 0;
  while (steps < 10 && Date.now() < deadline && store.healthy) {
    // A forgotten room id makes the commit look the room up (a read) before it inserts (a write).
    roomIds.clear();
    for (let k = 0; k < 200; k++) store.append(entry(`#r${n % 50}`, `hello ${n++}`));
    store.commit();
    const indexed = store.indexedUpTo;
    if (indexed > seen) steps++;
    seen = indexed;
    // A pause for what a turn does besides its commit (fan-out), as a daemon at full load leaves the lock free.
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  t.true(store.healthy);
  t.is(steps, 10, 'the thread indexed while the commits went on');
  t.deepEqual(logs.filter((line) => /failed/.test(line)), []);
});
