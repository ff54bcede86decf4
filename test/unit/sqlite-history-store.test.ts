import test from 'ava';
import Database from 'better-sqlite3';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLogger } from '../../lib/log';
import type { NewHistoryEntry } from '../../lib/history/history-store';
import { DATABASE_FILE, HistoryOpenError, SqliteHistoryStore, type SyncMode } from '../../lib/history/sqlite-history-store';

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

test('retention keeps the newest N per room, drops old messages, and forgets rooms left with nothing', (t) => {
  const store = open(tempDir(t));
  for (let i = 0; i < 30; i++) store.append(entry('#big', `m${i}`, 10_000 + i));
  store.append(entry('#old', 'ancient', 10));
  store.append(entry('#topic', 'old message', 10));
  store.append(entry('#topic', 'Welcome', 10, 'alice', 'TOPIC'));
  let result;
  do result = store.prune(12_000, { maxMessagesPerRoom: 10, maxAgeMs: 5_000 });
  while (!result.done);
  t.deepEqual(store.recent('#big', 100).map((e) => e.text), Array.from({ length: 10 }, (_, i) => `m${20 + i}`));
  t.deepEqual(store.recent('#old', 10), []);
  const rooms = store.loadRooms();
  t.false(rooms.some((r) => r.key === '#old'), 'a room with no history and no topic is forgotten');
  t.is(rooms.find((r) => r.key === '#topic')?.topic, 'Welcome', 'a room with a topic is kept');
  t.deepEqual(store.search('#big', ['m0'], 10), [], 'pruned messages leave the search index too');
  store.close();
});

test('a room is saved at creation, before anything is said, and forgotten only once unused past the age limit', (t) => {
  const dir = tempDir(t);
  const store = open(dir);
  store.saveRoom({ roomKey: '#new', roomName: '#New', at: 100_000 });
  store.saveRoom({ roomKey: '#new', roomName: '#New', at: 200_000 });
  store.close();
  const again = open(dir);
  t.deepEqual(again.loadRooms(), [{ key: '#new', name: '#New', topic: '', topicBy: '', topicAt: 0 }]);
  const policy = { maxMessagesPerRoom: 10, maxAgeMs: 50_000 };
  let result = again.prune(120_000, policy);
  while (!result.done) result = again.prune(120_000, policy);
  t.deepEqual(result.forgottenRooms, [], 'still younger than the age limit');
  result = again.prune(200_000, policy);
  while (!result.done) result = again.prune(200_000, policy);
  t.deepEqual(result.forgottenRooms, ['#new']);
  t.deepEqual(again.loadRooms(), []);
  again.close();
});

test('a storage failure keeps chat going: logged once, reported once, retried, and nothing queued is lost', async (t) => {
  const logs: string[] = [];
  const outages: number[] = [];
  const store = open(tempDir(t), logs, (unsaved) => outages.push(unsaved.length));
  store.append(entry('#d', 'before'));
  store.commit();
  // Simulate a full disk: SQLite refuses to grow the database past its current size.
  const db = (store as unknown as { db: Database.Database }).db;
  const pages = db.pragma('page_count', { simple: true }) as number;
  db.pragma(`max_page_count = ${pages}`);
  const big = 'x'.repeat(3000);
  for (let i = 0; i < 40; i++) {
    store.append(entry('#d', `${i} ${big}`));
    store.commit();
  }
  t.false(store.healthy);
  t.is(logs.filter((l) => l.includes('history-write-failed')).length, 1, 'one log line per outage, not per message');
  t.is(outages.length, 1);
  db.pragma('max_page_count = 1073741823');
  store.commit();
  t.true(store.healthy);
  t.is(logs.filter((l) => l.includes('history-write-recovered')).length, 1);
  t.is(store.recent('#d', 100).length, 41, 'every queued message was written after recovery');
  store.close();
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
