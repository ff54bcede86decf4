import test from 'ava';
import Database from 'better-sqlite3';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLogger } from '../../lib/log';
import type { NewHistoryEntry } from '../../lib/core/ports/history-store';
import { DATABASE_FILE, HistoryOpenError, SqliteHistoryStore, type SyncMode } from '../../lib/history/sqlite-history-store';

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mychat-store-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function open(dataDir: string, logLines: string[] = [], onOutage?: (e: readonly NewHistoryEntry[]) => void, sync: SyncMode = 'normal') {
  return new SqliteHistoryStore({ dataDir, sync, log: createLogger('debug', (line) => logLines.push(line), false), onOutage });
}

/*
 * What only the SQLite store does: its file, its schema upgrades, its sync modes. What every store does
 * (reads, search, retention, room log, outages) is the contract in test/helpers/history-store-contract.ts,
 * run against this store by history-store-sqlite.test.ts and against PostgreSQL by history-store-postgres.test.ts.
 */

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
