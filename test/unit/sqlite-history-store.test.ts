import test from 'ava';
import Database from 'better-sqlite3';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

/*
 * What only the SQLite store does: its file, its schema upgrades, its sync modes. What every store does
 * (reads, search, retention, room log, outages) is the contract in test/helpers/history-store-contract.ts,
 * run against this store by history-store-sqlite.test.ts and against PostgreSQL by history-store-postgres.test.ts.
 */

/** The tables schemas 1 and 2 shipped with, unchanged since. */
const SHIPPED_TABLES = `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE rooms (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, name TEXT NOT NULL, topic TEXT NOT NULL DEFAULT '',
  topic_by TEXT NOT NULL DEFAULT '', topic_at INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL DEFAULT 0);
CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, room_id INTEGER NOT NULL, at INTEGER NOT NULL, nick TEXT NOT NULL,
  kind TEXT NOT NULL, text TEXT NOT NULL);
CREATE INDEX messages_by_room ON messages (room_id, id);
`;

/** The schema as shipped before room creations were logged, to test the upgrade of existing databases. */
const SCHEMA_1 = `${SHIPPED_TABLES}CREATE INDEX messages_by_time ON messages (at);
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
  // Upgraded to schema 3: the insert trigger is gone, so a new message is indexed once, by the store.
  again.append(entry('#talk', 'hello again'));
  t.deepEqual(again.search('#talk', ['hello'], 10).map((e) => e.text), ['hello again', 'hello']);
  again.close();
  const raw = new Database(path.join(dir, DATABASE_FILE), { readonly: true });
  t.is(raw.prepare(`SELECT value FROM meta WHERE key = 'schema'`).pluck().get(), '3');
  t.is(raw.prepare(`SELECT count(*) FROM sqlite_master WHERE name = 'messages_fts_insert'`).pluck().get(), 0);
  t.deepEqual(raw.prepare(`SELECT rowid FROM messages_fts WHERE messages_fts MATCH 'hello'`).pluck().all(), [1, 3], 'each message indexed once');
  raw.close();
});

/** Schema 2 as shipped: search text indexed behind the commits into an index that kept per-row sizes. */
const SCHEMA_2 = `${SHIPPED_TABLES}CREATE TABLE room_creations (creator TEXT NOT NULL, at INTEGER NOT NULL);
CREATE INDEX room_creations_by_time ON room_creations (at);
CREATE INDEX messages_by_time ON messages (at);
CREATE VIRTUAL TABLE messages_fts USING fts5 (room, text, content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 2');
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
  DELETE FROM messages_fts WHERE rowid = old.id;
END;
INSERT INTO meta (key, value) VALUES ('schema', '2');
INSERT INTO rooms (key, name, created_at) VALUES ('#two', '#two', 1000), ('#other', '#other', 1000);
`;

test('a schema 2 database is upgraded: its search index is rebuilt from every message (indexed or not), and deletes keep it exact', (t) => {
  const dir = tempDir(t);
  const old = new Database(path.join(dir, DATABASE_FILE));
  old.exec(SCHEMA_2);
  const insert = old.prepare(`INSERT INTO messages (room_id, at, nick, kind, text) VALUES (?, ?, 'alice', 'MSG', ?)`);
  for (let i = 1; i <= 300; i++) insert.run(i % 3 === 0 ? 2 : 1, 1000 + i, `item${i}end common café`);
  // Schema 2 had indexed the first 200 when it stopped; the last 100 waited for its next round.
  old.exec(`INSERT INTO messages_fts (rowid, room, text) SELECT id, 'r' || room_id, text FROM messages WHERE id <= 200;
    INSERT INTO meta (key, value) VALUES ('indexed', '200');`);
  old.close();
  const logs: string[] = [];
  const store = open(dir, logs);
  store.loadRooms();
  t.regex(logs.join('\n'), /history-schema-upgraded .*from=2 to=3/);
  t.deepEqual(store.search('#two', ['item250end'], 10).map((e) => e.text), ['item250end common café'], 'a message schema 2 had not indexed yet');
  t.deepEqual(store.search('#two', ['item7end'], 10).map((e) => e.text), ['item7end common café']);
  t.is(store.search('#two', ['cafe'], 500).length, 200, 'every message of the room, found without its accent');
  t.is(store.search('#other', ['common'], 500).length, 100, 'and none of another room');
  // Retention deletes from the rebuilt index (a row it holds is deleted with the values it was indexed under).
  // A forgotten room's messages go too, here before the index has them (no round or search ran since).
  for (let i = 0; i < 20; i++) store.append(entry('#gone', `unindexed${i} common`));
  store.commit();
  t.true(store.indexedUpTo < store.lastMessageId());
  store.forgetRoom('#gone');
  store.commit();
  const policy = { maxMessagesPerRoom: 50, maxAgeMs: 1e12 };
  for (let step = 0; step < 100 && !store.prune(10_000, policy).done; step++);
  t.is(store.search('#two', ['common'], 500).length, 50);
  t.deepEqual(store.search('#two', ['item7end'], 10), [], 'a deleted message is gone from search');
  store.append(entry('#two', 'item7end again'));
  store.commit();
  t.deepEqual(store.search('#two', ['item7end'], 10).map((e) => e.text), ['item7end again']);
  t.deepEqual(store.search('#two', ['unindexed3'], 10), []);
  store.close();
  const raw = new Database(path.join(dir, DATABASE_FILE));
  t.is(raw.prepare(`SELECT value FROM meta WHERE key = 'schema'`).pluck().get(), '3');
  t.notThrows(() => raw.exec(`INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 0)`), 'the index is consistent');
  raw.close();
});

test('an index far behind at start-up (an upgrade, a killed run) is caught up before the store is used, from where it stopped', (t) => {
  const dir = tempDir(t);
  open(dir).close();
  const raw = new Database(path.join(dir, DATABASE_FILE));
  raw.exec(`INSERT INTO rooms (key, name) VALUES ('#far', '#far')`);
  const insert = raw.prepare(`INSERT INTO messages (room_id, at, nick, kind, text) VALUES (1, 1000, 'alice', 'MSG', ?)`);
  raw.transaction(() => {
    for (let i = 1; i <= 30_000; i++) insert.run(`far${i}x common`);
  })();
  // A start-up that was stopped after indexing the first 5 000 left this behind.
  raw.exec(`INSERT INTO messages_fts (rowid, room, text) SELECT id, 'r' || room_id, text FROM messages WHERE id <= 5000;
    INSERT OR REPLACE INTO meta (key, value) VALUES ('indexed', '5000');`);
  raw.close();
  const logs: string[] = [];
  const store = open(dir, logs);
  t.teardown(() => store.close());
  t.regex(logs.join('\n'), /history-index-catching-up .*behind=25000/);
  t.regex(logs.join('\n'), /history-index-caught-up .*ids=25000/, 'it resumed at 5 000, not at 0');
  t.is(store.indexedUpTo, 30_000, 'caught up when the constructor returns');
  t.deepEqual(store.search('#far', ['far29999x'], 10).map((e) => e.text), ['far29999x common']);
  t.deepEqual(store.search('#far', ['far10x'], 10).map((e) => e.text), ['far10x common'], 'found once');
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

test('a database from a newer mychatd is refused, saying so, and left untouched', (t) => {
  const dir = tempDir(t);
  open(dir).close();
  const raw = new Database(path.join(dir, DATABASE_FILE));
  raw.exec(`UPDATE meta SET value = '4' WHERE key = 'schema'`);
  raw.close();
  const error = t.throws(() => open(dir), { instanceOf: HistoryOpenError })!;
  t.regex(error.message, /was written by a newer mychatd \(schema 4; this one reads up to 3\)/);
  const again = new Database(path.join(dir, DATABASE_FILE), { readonly: true });
  t.is(again.prepare(`SELECT value FROM meta WHERE key = 'schema'`).pluck().get(), '4');
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
  store.append({ roomKey: '#f', roomName: '#f', at: 1_000, nick: 'alice', kind: 'MSG', text: 'durable' });
  store.close();
  const db = new Database(path.join(dir, DATABASE_FILE), { readonly: true });
  t.is(db.prepare('SELECT text FROM messages').pluck().get(), 'durable');
  db.close();
});

