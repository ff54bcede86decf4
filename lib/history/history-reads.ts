import type Database from 'better-sqlite3';
import type { HistoryPage } from '../core/ports/history-queries';
import type { HistoryEntry, HistoryKind } from '../core/ports/history-store';
import { ftsMatch } from './search-terms';

export type { HistoryPage } from '../core/ports/history-queries';

/** A message row as both the store and the reader threads select it. */
export interface Row {
  id: number;
  at: number;
  nick: string;
  kind: HistoryKind;
  text: string;
}

/**
 * The read queries of a history reader thread on its own (read-only) connection. Each query looks the
 * room up by key and reads its rows in one read transaction, so a room forgotten and re-created meanwhile
 * (room ids can be reused) can never mix in another room's rows.
 */
export function openHistoryReads(db: Database.Database) {
  const roomByKey = db.prepare('SELECT id FROM rooms WHERE key = ?').pluck();
  const upto = db.prepare('SELECT id, at, nick, kind, text FROM messages WHERE room_id = ? AND id <= ? ORDER BY id DESC LIMIT ?');
  const before = db.prepare('SELECT id, at, nick, kind, text FROM messages WHERE room_id = ? AND id < ? ORDER BY id DESC LIMIT ?');
  const search = db.prepare(
    `SELECT id, at, nick, kind, text FROM messages WHERE id IN
       (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ? ORDER BY rowid DESC LIMIT ?)
     ORDER BY id DESC`,
  );
  const toEntries = (rows: Row[], roomKey: string): HistoryEntry[] =>
    rows.map((row) => ({ id: row.id, roomKey, at: row.at, nick: row.nick, kind: row.kind, text: row.text }));
  /** Newest first rows, one more than wanted, turned into an oldest-first page. */
  const page = (rows: Row[], roomKey: string, limit: number): HistoryPage => {
    const more = rows.length > limit;
    return { entries: toEntries(rows.slice(0, limit), roomKey).reverse(), more };
  };
  return {
    recent: db.transaction((roomKey: string, limit: number, uptoId: number | undefined): HistoryPage => {
      const roomId = roomByKey.get(roomKey) as number | undefined;
      if (roomId === undefined || limit <= 0) return { entries: [], more: false };
      return page(upto.all(roomId, uptoId ?? Number.MAX_SAFE_INTEGER, limit + 1) as Row[], roomKey, limit);
    }),
    before: db.transaction((roomKey: string, beforeId: number, limit: number): HistoryPage => {
      const roomId = roomByKey.get(roomKey) as number | undefined;
      if (roomId === undefined || limit <= 0) return { entries: [], more: false };
      return page(before.all(roomId, beforeId, limit + 1) as Row[], roomKey, limit);
    }),
    search: db.transaction((roomKey: string, words: string[], limit: number): HistoryEntry[] => {
      const roomId = roomByKey.get(roomKey) as number | undefined;
      if (roomId === undefined || limit <= 0) return [];
      const match = ftsMatch(roomId, words);
      return match === undefined ? [] : toEntries(search.all(match, limit) as Row[], roomKey);
    }),
  };
}
