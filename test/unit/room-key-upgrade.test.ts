import test from 'ava';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ChatCore } from '../../lib/core/chat-core';
import { createLogger } from '../../lib/log';
import { DATABASE_FILE, SqliteHistoryStore } from '../../lib/history/sqlite-history-store';
import { foldName, nameKey } from '../../lib/protocol/text-hygiene';

/*
 * Databases written before room keys became look-alike keys hold keys made by foldName (NFKC + case
 * folding). Opening one must keep every room, topic and message reachable under the new keys.
 */

/** Writes a database as the previous release did: room keys are foldName of the name. */
function writeOldDatabase(dir: string): void {
  const store = new SqliteHistoryStore({ dataDir: dir, sync: 'normal', log: createLogger('error', () => {}, false) });
  const message = (name: string, at: number, nick: string, text: string, kind: 'MSG' | 'TOPIC' = 'MSG') =>
    store.append({ roomKey: foldName(name), roomName: name, at, nick, kind, text });
  store.saveRoom({ roomKey: foldName('#Team'), roomName: '#Team', at: 1000 });
  message('#Team', 2000, 'alice', 'meeting at noon');
  message('#Team', 2500, 'alice', 'Standup', 'TOPIC');
  message('#pop', 3000, 'bob', 'latin room says hello');
  // A Cyrillic #рор: a different room then, a look-alike of #pop now.
  message('#\u0440\u043e\u0440', 4000, 'carol', 'cyrillic room says zdravstvuyte');
  message('#\u0440\u043e\u0440', 4500, 'carol', 'Music', 'TOPIC');
  message('#quiet', 5000, 'dave', 'unchanged key');
  store.close();
}

test('a database with keys made by the old key function keeps its rooms, topics and history; look-alike rooms are merged', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mychat-rekey-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeOldDatabase(dir);
  t.not(foldName('#Team'), nameKey('#Team'), 'the test needs a room whose key changes (m looks like rn)');

  const logs: string[] = [];
  const store = new SqliteHistoryStore({ dataDir: dir, sync: 'normal', log: createLogger('info', (line) => logs.push(line), false) });
  t.teardown(() => store.close());
  const core = new ChatCore({ history: store });
  const rooms = core.allRooms().map((room) => [room.name, room.topic]);
  t.deepEqual(rooms.sort(), [['#Team', 'Standup'], ['#lobby', ''], ['#pop', 'Music'], ['#quiet', '']], 'rooms and topics survived; the merged room kept the newest topic');
  t.is(core.findRoom('#team').name, '#Team', 'the renamed key is found from the name');
  t.is(core.findRoom('#\u0440\u043e\u0440').name, '#pop', 'the look-alike name reaches the merged room');

  const texts = (name: string) => store.recent(nameKey(name), 10).map((e) => `${e.nick} ${e.kind} ${e.text}`);
  t.deepEqual(texts('#Team'), ['alice MSG meeting at noon', 'alice TOPIC Standup']);
  t.deepEqual(texts('#pop'), ['bob MSG latin room says hello', 'carol MSG cyrillic room says zdravstvuyte', 'carol TOPIC Music'], 'both rooms\' messages, in order');
  t.deepEqual(texts('#quiet'), ['dave MSG unchanged key']);
  t.deepEqual(
    store.search(nameKey('#pop'), ['zdravstvuyte'], 10).map((e) => e.text),
    ['cyrillic room says zdravstvuyte'],
    'moved messages are still found by full-text search',
  );

  const db = new Database(path.join(dir, DATABASE_FILE), { readonly: true });
  const rows = db.prepare('SELECT key, name FROM rooms ORDER BY name').all() as Array<{ key: string; name: string }>;
  db.close();
  t.deepEqual(rows, [
    { key: nameKey('#Team'), name: '#Team' },
    { key: nameKey('#pop'), name: '#pop' },
    { key: nameKey('#quiet'), name: '#quiet' },
  ]);
  t.true(logs.some((l) => / warn rooms-merged room=#рор into=#pop /.test(l)), logs.join('\n'));
  t.true(logs.some((l) => / info rooms-rekeyed renamed=1 merged=1\s*$/.test(l)), logs.join('\n'));
});

test('opening an upgraded database again changes nothing', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mychat-rekey-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeOldDatabase(dir);
  const first = new SqliteHistoryStore({ dataDir: dir, sync: 'normal', log: createLogger('error', () => {}, false) });
  const before = first.loadRooms(nameKey);
  first.close();
  const logs: string[] = [];
  const second = new SqliteHistoryStore({ dataDir: dir, sync: 'normal', log: createLogger('info', (line) => logs.push(line), false) });
  t.deepEqual(second.loadRooms(nameKey), before);
  second.close();
  t.false(logs.some((l) => l.includes('rooms-')), 'no re-keying the second time');
});
