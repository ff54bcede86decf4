import Database from 'better-sqlite3';
import { mkdirSync, accessSync, constants as fsConstants, existsSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../log';
import {
  ROOM_CREATION_WINDOW_MS,
  type ForgottenRoom,
  type HistoryEntry,
  type HistoryKind,
  type HistoryStore,
  type NewHistoryEntry,
  type NewRoom,
  type PruneResult,
  type RetentionPolicy,
  type RoomCreations,
  type StoredRoom,
} from './history-store';

/** Durability: `normal` fsyncs at checkpoints (at most every second), `full` fsyncs every commit. */
export type SyncMode = 'normal' | 'full';

/** Settings of the SQLite store. */
export interface SqliteStoreOptions {
  dataDir: string;
  sync: SyncMode;
  log: Logger;
  /** Called once when a storage outage starts, with the entries that could not be written. */
  onOutage?: (unsaved: readonly NewHistoryEntry[]) => void;
}

/** A data directory or database that cannot be used; the daemon prints it and exits. */
export class HistoryOpenError extends Error {}

/** File name of the database inside the data directory. */
export const DATABASE_FILE = 'history.sqlite3';

/** Entries kept in memory while the disk fails; beyond this the oldest unsaved ones are dropped (and counted). */
const MAX_UNSAVED = 10_000;
/** How often a failed commit is retried. */
const RETRY_MS = 1000;
/** How often the WAL is checkpointed (and so fsynced) in `normal` mode: the power-loss durability bound. */
const CHECKPOINT_MS = 1000;
/** Rows deleted per prune step, so pruning never blocks the event loop for long (a few milliseconds a step). */
const PRUNE_STEP_ROWS = 200;
/**
 * Pages of full-text index merging done after each commit or prune step. FTS5's own automatic merging
 * is switched off because it runs in bursts of hundreds of milliseconds; small steady merges keep the
 * index compact with no pause longer than a few tens of milliseconds.
 */
const FTS_MERGE_PAGES = 32;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rooms (
  id INTEGER PRIMARY KEY,
  key TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  topic TEXT NOT NULL DEFAULT '',
  topic_by TEXT NOT NULL DEFAULT '',
  topic_at INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS messages (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  room_id INTEGER NOT NULL,
  at INTEGER NOT NULL,
  nick TEXT NOT NULL,
  kind TEXT NOT NULL,
  text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_room ON messages (room_id, id);
-- One row per room created, with the creator's address block; rows older than the creation window are
-- deleted by retention. Added after schema 1 shipped: CREATE IF NOT EXISTS upgrades older databases.
CREATE TABLE IF NOT EXISTS room_creations (creator TEXT NOT NULL, at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS room_creations_by_time ON room_creations (at);
CREATE INDEX IF NOT EXISTS messages_by_time ON messages (at);
CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts USING fts5 (
  room, text, content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS messages_fts_insert AFTER INSERT ON messages BEGIN
  INSERT INTO messages_fts (rowid, room, text) VALUES (new.id, 'r' || new.room_id, new.text);
END;
CREATE TRIGGER IF NOT EXISTS messages_fts_delete AFTER DELETE ON messages BEGIN
  DELETE FROM messages_fts WHERE rowid = old.id;
END;
INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', '1');
INSERT INTO messages_fts (messages_fts, rank) VALUES ('automerge', 0);
`;

/** What the store queues for its next commit. */
type QueuedWrite = NewHistoryEntry | NewRoom | ForgottenRoom;

interface Row {
  id: number;
  at: number;
  nick: string;
  kind: HistoryKind;
  text: string;
}

/**
 * A forgotten room's row is kept, under a key no room name can have ('!' and its id; room keys start with
 * '#'), until retention has deleted what it held in bounded steps: its name is free at once, and its id
 * is not reused while messages still point at it. This is the key range of such rows.
 */
const FORGOTTEN = `key >= '!' AND key < '"'`;

/** Quotes one search word for FTS5 as a prefix query term. */
function ftsTerm(word: string): string {
  return `"${word.replace(/"/g, '""')}"*`;
}

/** Prepares every statement the store uses; this fails if a table lacks a column we need. */
function prepareStatements(db: Database.Database) {
  return {
    roomByKey: db.prepare('SELECT id FROM rooms WHERE key = ?').pluck(),
    insertRoom: db.prepare('INSERT INTO rooms (key, name, created_at) VALUES (?, ?, ?)'),
    setTopic: db.prepare('UPDATE rooms SET topic = ?, topic_by = ?, topic_at = ? WHERE id = ?'),
    insertMessage: db.prepare('INSERT INTO messages (room_id, at, nick, kind, text) VALUES (?, ?, ?, ?, ?)'),
    recent: db.prepare('SELECT id, at, nick, kind, text FROM messages WHERE room_id = ? ORDER BY id DESC LIMIT ?'),
    before: db.prepare('SELECT id, at, nick, kind, text FROM messages WHERE room_id = ? AND id < ? ORDER BY id DESC LIMIT ?'),
    search: db.prepare(
      `SELECT id, at, nick, kind, text FROM messages WHERE id IN
         (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ? ORDER BY rowid DESC LIMIT ?)
       ORDER BY id DESC`,
    ),
    rooms: db.prepare(
      `SELECT id, key, name, topic, topic_by AS topicBy, topic_at AS topicAt,
         EXISTS (SELECT 1 FROM messages WHERE room_id = rooms.id AND kind <> 'TOPIC') AS used
       FROM rooms WHERE NOT (${FORGOTTEN})`,
    ),
    unusedRoomKey: db.prepare(
      `SELECT key FROM rooms WHERE id = ? AND NOT (${FORGOTTEN})
         AND NOT EXISTS (SELECT 1 FROM messages WHERE room_id = rooms.id AND kind <> 'TOPIC')`,
    ).pluck(),
    forgetRoom: db.prepare(`UPDATE rooms SET key = '!' || id WHERE id = ?`),
    forgottenRoom: db.prepare(`SELECT id FROM rooms WHERE ${FORGOTTEN} LIMIT 1`).pluck(),
    deleteRoomMessages: db.prepare('DELETE FROM messages WHERE id IN (SELECT id FROM messages WHERE room_id = ? ORDER BY id LIMIT ?)'),
    insertCreation: db.prepare('INSERT INTO room_creations (creator, at) VALUES (?, ?)'),
    creations: db.prepare('SELECT creator, count(*) AS count, min(at) AS first FROM room_creations WHERE at >= ? GROUP BY creator'),
    deleteOldCreations: db.prepare('DELETE FROM room_creations WHERE rowid IN (SELECT rowid FROM room_creations WHERE at < ? ORDER BY at LIMIT ?)'),
    roomIds: db.prepare('SELECT id FROM rooms').pluck(),
    nthNewest: db.prepare('SELECT id FROM messages WHERE room_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?').pluck(),
    deleteOldInRoom: db.prepare(
      'DELETE FROM messages WHERE id IN (SELECT id FROM messages WHERE room_id = ? AND id <= ? ORDER BY id LIMIT ?)',
    ),
    deleteOlderThan: db.prepare('DELETE FROM messages WHERE id IN (SELECT id FROM messages WHERE at < ? ORDER BY at LIMIT ?)'),
    deleteRoom: db.prepare('DELETE FROM rooms WHERE id = ?'),
    mergeIndex: db.prepare(`INSERT INTO messages_fts (messages_fts, rank) VALUES ('merge', ${FTS_MERGE_PAGES})`),
  };
}

/**
 * The embedded history store: SQLite in WAL mode through better-sqlite3. Appends are queued and
 * committed as one transaction per event-loop turn; reads use the (room, id) index and an FTS5 index,
 * so replay, paging and search cost O(log n) in the size of the history.
 */
export class SqliteHistoryStore implements HistoryStore {
  private readonly db: Database.Database;
  private readonly roomIds = new Map<string, number>();
  private queue: Array<QueuedWrite> = [];
  private commitScheduled = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly checkpointTimer: NodeJS.Timeout | undefined;
  private dirtySinceCheckpoint = false;
  private failing = false;
  private lost = 0;
  private closed = false;
  /** Progress of the current retention pass: which room it is at, and that room's cutoff id. */
  private prunePass: { rooms: number[]; index: number; cutoff: number | undefined } | undefined;
  private readonly statements: ReturnType<typeof prepareStatements>;
  private readonly writeBatch: (entries: Array<QueuedWrite>) => void;

  constructor(private readonly options: SqliteStoreOptions) {
    const file = path.join(options.dataDir, DATABASE_FILE);
    try {
      mkdirSync(options.dataDir, { recursive: true });
      accessSync(options.dataDir, fsConstants.W_OK);
      if (existsSync(file)) accessSync(file, fsConstants.R_OK | fsConstants.W_OK);
    } catch (error) {
      throw new HistoryOpenError(`data directory ${options.dataDir} is not writable: ${(error as Error).message}`);
    }
    try {
      this.db = new Database(file);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma(`synchronous = ${options.sync === 'full' ? 'FULL' : 'NORMAL'}`);
      this.db.pragma('cache_size = -16000');
      this.db.pragma('busy_timeout = 2000');
      this.db.exec(SCHEMA);
      const schema = this.db.prepare(`SELECT value FROM meta WHERE key = 'schema'`).pluck().get() as string | undefined;
      if (schema !== '1') throw new Error(`unknown schema version ${String(schema)}`);
      // Preparing every statement here checks the tables have the columns we need.
      this.statements = prepareStatements(this.db);
    } catch (error) {
      throw new HistoryOpenError(
        `cannot use the history database ${file}: ${(error as Error).message}. ` +
          `It is not a mychat database or it is damaged. mychatd will not overwrite it: ` +
          `restore it from a backup, or move it aside (mv ${file} ${file}.bad) to start with empty history.`,
      );
    }
    this.writeBatch = this.db.transaction((entries: Array<QueuedWrite>) => {
      for (const entry of entries) {
        if ('forget' in entry) {
          const forgotten = this.roomId(entry.roomKey);
          if (forgotten !== undefined) this.statements.forgetRoom.run(forgotten);
          this.roomIds.delete(entry.roomKey);
          continue;
        }
        const roomId = this.roomId(entry.roomKey, entry.roomName, entry.at)!;
        if (!('kind' in entry)) {
          if (entry.creator !== undefined) this.statements.insertCreation.run(entry.creator, entry.at);
          continue;
        }
        this.statements.insertMessage.run(roomId, entry.at, entry.nick, entry.kind, entry.text);
        if (entry.kind === 'TOPIC') this.statements.setTopic.run(entry.text, entry.nick, entry.at, roomId);
      }
    });
    if (options.sync === 'normal') {
      this.checkpointTimer = setInterval(() => this.checkpoint(), CHECKPOINT_MS);
      this.checkpointTimer.unref();
    }
  }

  get healthy(): boolean {
    return !this.failing;
  }

  loadRooms(): StoredRoom[] {
    const rows = this.statements.rooms.all() as Array<Omit<StoredRoom, 'used'> & { id: number; used: number }>;
    for (const row of rows) this.roomIds.set(row.key, row.id);
    return rows.map(({ key, name, topic, topicBy, topicAt, used }) => ({ key, name, topic, topicBy, topicAt, used: used === 1 }));
  }

  append(entry: NewHistoryEntry): void {
    this.enqueue(entry);
  }

  saveRoom(room: NewRoom): void {
    this.enqueue(room);
  }

  forgetRoom(roomKey: string): void {
    this.enqueue({ roomKey, forget: true });
  }

  loadRoomCreations(since: number): RoomCreations[] {
    return this.statements.creations.all(since) as RoomCreations[];
  }

  private enqueue(entry: QueuedWrite): void {
    if (this.closed) return;
    this.queue.push(entry);
    if (this.queue.length > MAX_UNSAVED) {
      // Only reachable during an outage: memory stays bounded and the loss is counted and logged.
      this.queue.shift();
      this.lost++;
    }
    if (!this.commitScheduled && !this.failing) {
      this.commitScheduled = true;
      setImmediate(() => this.commit());
    }
  }

  commit(): void {
    this.commitScheduled = false;
    if (this.queue.length === 0 || this.closed) return;
    const batch = this.queue;
    try {
      this.writeBatch(batch);
    } catch (error) {
      // The transaction rolled back: the batch stays queued (bounded) and is retried. Room ids cached
      // during the failed transaction may have been rolled back too, so forget them all.
      this.roomIds.clear();
      if (!this.failing) {
        this.failing = true;
        this.options.log.log('error', 'history-write-failed', { error: (error as Error).message, queued: batch.length });
        this.options.onOutage?.(batch.filter((item): item is NewHistoryEntry => 'kind' in item));
      }
      this.scheduleRetry();
      return;
    }
    this.queue = [];
    this.dirtySinceCheckpoint = true;
    this.mergeIndex();
    if (this.failing) {
      this.failing = false;
      this.options.log.log('warn', 'history-write-recovered', { written: batch.length, lost: this.lost });
      this.lost = 0;
    }
  }

  recent(roomKey: string, limit: number): HistoryEntry[] {
    this.commit();
    const roomId = this.roomId(roomKey);
    if (roomId === undefined || limit <= 0) return [];
    return this.rows(this.statements.recent.all(roomId, limit) as Row[], roomKey).reverse();
  }

  before(roomKey: string, beforeId: number, limit: number): HistoryEntry[] {
    this.commit();
    const roomId = this.roomId(roomKey);
    if (roomId === undefined || limit <= 0) return [];
    return this.rows(this.statements.before.all(roomId, beforeId, limit) as Row[], roomKey).reverse();
  }

  search(roomKey: string, words: string[], limit: number): HistoryEntry[] {
    this.commit();
    const roomId = this.roomId(roomKey);
    if (roomId === undefined || words.length === 0 || limit <= 0) return [];
    const query = `room : "r${roomId}" AND text : (${words.map(ftsTerm).join(' AND ')})`;
    return this.rows(this.statements.search.all(query, limit) as Row[], roomKey);
  }

  prune(now: number, policy: RetentionPolicy): PruneResult {
    this.commit();
    let budget = PRUNE_STEP_ROWS;
    let deleted = 0;
    const unusedRooms: string[] = [];
    try {
      // Forgotten rooms and old creation-log rows go first, from the same budget of rows per step.
      budget -= this.statements.deleteOldCreations.run(now - ROOM_CREATION_WINDOW_MS, budget).changes;
      while (budget > 0) {
        const forgotten = this.statements.forgottenRoom.get() as number | undefined;
        if (forgotten === undefined) break;
        const changes = this.statements.deleteRoomMessages.run(forgotten, budget).changes;
        deleted += changes;
        budget -= changes;
        if (budget > 0) {
          // Fewer rows than the budget were left, so none is left now: the row itself goes (one more unit).
          this.statements.deleteRoom.run(forgotten);
          budget--;
        }
      }
      const aged = budget > 0 ? this.statements.deleteOlderThan.run(now - policy.maxAgeMs, budget).changes : 0;
      deleted += aged;
      budget -= aged;
      let finished = false;
      if (budget > 0) {
        // One pass visits every room; a step walks the index for at most one room's cutoff, since that
        // walk (up to maxMessagesPerRoom entries) is the expensive part.
        const pass = (this.prunePass ??= { rooms: this.statements.roomIds.all() as number[], index: 0, cutoff: undefined });
        let walked = false;
        while (budget > 0 && pass.index < pass.rooms.length) {
          const roomId = pass.rooms[pass.index]!;
          if (pass.cutoff === undefined) {
            if (walked) break;
            walked = true;
            pass.cutoff = (this.statements.nthNewest.get(roomId, policy.maxMessagesPerRoom) as number | undefined) ?? 0;
          }
          const changes = pass.cutoff > 0 ? this.statements.deleteOldInRoom.run(roomId, pass.cutoff, budget).changes : 0;
          deleted += changes;
          budget -= changes;
          if (budget > 0) {
            // Done with this room: report it if it holds no message now (it may have aged out).
            const unused = this.statements.unusedRoomKey.get(roomId) as string | undefined;
            if (unused !== undefined && !this.queue.some((entry) => entry.roomKey === unused)) unusedRooms.push(unused);
            pass.index++;
            pass.cutoff = undefined;
          }
        }
        finished = pass.index >= pass.rooms.length;
      }
      if (finished) this.prunePass = undefined;
      if (deleted > 0) {
        this.dirtySinceCheckpoint = true;
        this.mergeIndex();
      }
      return { deletedMessages: deleted, unusedRooms, done: finished };
    } catch (error) {
      this.prunePass = undefined;
      this.options.log.log('error', 'history-prune-failed', { error: (error as Error).message });
      return { deletedMessages: deleted, unusedRooms, done: true };
    }
  }

  close(): void {
    if (this.closed) return;
    this.commit();
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.checkpointTimer) clearInterval(this.checkpointTimer);
    try {
      this.db.close();
    } catch (error) {
      this.options.log.log('error', 'history-close-failed', { error: (error as Error).message });
    }
  }

  /** The store's row id for a room; given a name and creation time, inserts the room when it is new. */
  private roomId(key: string, name?: string, createdAt?: number): number | undefined {
    let id = this.roomIds.get(key);
    if (id !== undefined) return id;
    id = this.statements.roomByKey.get(key) as number | undefined;
    if (id === undefined && createdAt !== undefined) id = Number(this.statements.insertRoom.run(key, name ?? key, createdAt).lastInsertRowid);
    if (id !== undefined) this.roomIds.set(key, id);
    return id;
  }

  private rows(rows: Row[], roomKey: string): HistoryEntry[] {
    return rows.map((row) => ({ id: row.id, roomKey, at: row.at, nick: row.nick, kind: row.kind, text: row.text }));
  }

  private scheduleRetry(): void {
    if (this.retryTimer || this.closed) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.commit();
    }, RETRY_MS);
    this.retryTimer.unref();
  }

  /** A bounded slice of full-text index merging (see FTS_MERGE_PAGES). */
  private mergeIndex(): void {
    try {
      this.statements.mergeIndex.run();
    } catch (error) {
      // Merging is an optimisation: the index stays correct without it.
      this.options.log.log('debug', 'history-index-merge-failed', { error: (error as Error).message });
    }
  }

  private checkpoint(): void {
    if (!this.dirtySinceCheckpoint || this.failing || this.closed) return;
    this.dirtySinceCheckpoint = false;
    try {
      this.db.pragma('wal_checkpoint(PASSIVE)');
    } catch (error) {
      this.options.log.log('warn', 'history-checkpoint-failed', { error: (error as Error).message });
    }
  }
}
