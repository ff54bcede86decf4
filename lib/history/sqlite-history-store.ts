import Database from 'better-sqlite3';
import { mkdirSync, accessSync, constants as fsConstants, existsSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../log';
import {
  ROOM_CREATION_WINDOW_MS,
  type HistoryEntry,
  type HistoryStore,
  type NewHistoryEntry,
  type NewRoom,
  type PruneResult,
  type RetentionPolicy,
  type RoomCreations,
  type StoredRoom,
} from '../core/ports/history-store';
import type { Row } from './history-reads';
import { openSearchIndexer, type SearchIndexer } from './search-index';
import { ftsMatch } from './search-terms';
import { absorbRoom, interimKey, logRekey, planRekey, type RekeyRoomRow } from './room-rekey';
import { BACKLOG_FULL_LOG, entrySize, isMessage, nextChunk, nextRetryDelay, OutageTally, overBounds, RETRY_FIRST_MS, type UnsavedWrite } from './unsaved-backlog';

/** Durability: `normal` fsyncs at checkpoints (at most every second), `full` fsyncs every commit. */
export type SyncMode = 'normal' | 'full';

/** Settings of the SQLite store. */
export interface SqliteStoreOptions {
  dataDir: string;
  sync: SyncMode;
  log: Logger;
  /** Called once when a storage outage starts, with the entries that could not be written. */
  onOutage?: (unsaved: readonly NewHistoryEntry[]) => void;
  /**
   * False for a connection that only reads and re-keys at start-up beside a writer thread's store (see
   * sqlite-threaded-store.ts): no indexing rounds or checkpoints of its own.
   */
  background?: boolean;
}

/** A data directory or database that cannot be used; the daemon prints it and exits. */
export class HistoryOpenError extends Error {}

/** File name of the database inside the data directory. */
export const DATABASE_FILE = 'history.sqlite3';

/** Most time one retry spends writing chunks before it yields to chat and goes on in the next turn. */
const RETRY_SLICE_MS = 20;
/** How often the WAL is checkpointed (and so fsynced) in `normal` mode: the power-loss durability bound. */
const CHECKPOINT_MS = 1000;
/**
 * Rows deleted per prune step. In the daemon a step runs on the writer thread between two commits, where
 * 1 000 rows take about 6 ms: commits (and the PONGs and reads that wait for them) wait that long, chat
 * does not. Against steps of 200, retention of 900 000 messages took 19 s instead of 92 s and 6.2 instead
 * of 11.9 µs of CPU per message (bench/history-bench.ts): a busy server's retention keeps up with it.
 */
export const PRUNE_STEP_ROWS = 1000;
/**
 * How often committed messages are added to the full-text index. Commits (one per event-loop turn, before
 * any output of the turn leaves) write the messages table only: indexing each turn's few messages in its
 * own transaction made a new index segment per turn, and the trigger, the segment and the merges that
 * followed were most of what storing cost (see README "History"). Indexed in rounds, a round's rows make
 * one segment and cost about 1.5 µs each.
 */
export const INDEX_INTERVAL_MS = 250;
/**
 * Messages inserted by one statement: a commit of a turn's messages binds and steps one statement per
 * this many rather than one per message, which halves what a message costs to store.
 */
const INSERT_ROWS = 32;
/** Rows indexed per transaction of a round. */
const INDEX_CHUNK_ROWS = 2000;
/** Most time one indexing round spends before it yields to chat (it goes on in the next turn). */
const INDEX_SLICE_MS = 20;
/**
 * Most rows a search indexes first, so that it finds what was committed since the last round: a round's
 * worth at full load (about 15 ms); beyond it (an overloaded server) a search may miss the newest messages
 * until the rounds catch up.
 */
const SEARCH_CATCH_UP_ROWS = 10_000;

/**
 * Schema 2 indexes search text behind commits: meta 'indexed' is the id up to which messages are in
 * messages_fts (schema 1 indexed each message with an insert trigger). Schema 3 keeps no per-row sizes in
 * the index (columnsize = 0: nothing ranks by them), which made indexing a message about a third cheaper
 * on the writer thread; without them FTS5 deletes a row only when told its indexed values, which the
 * delete trigger does for rows the index holds. Older schemas are upgraded by rebuilding the index
 * (UPGRADE_SEARCH_INDEX), and the version change makes an older mychatd refuse the database instead of
 * writing an index it does not understand.
 */
const SCHEMA_VERSION = '3';

/** The full-text index of schema 3 and its delete trigger (see SCHEMA_VERSION). */
const SEARCH_SCHEMA = `
CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts USING fts5 (
  room, text, content = '', columnsize = 0, tokenize = 'unicode61 remove_diacritics 2'
);
-- A row the index holds is deleted from it with the values it was indexed under; a row past meta
-- 'indexed' (see INDEX_INTERVAL_MS) is not in the index, so there is nothing to delete.
CREATE TRIGGER IF NOT EXISTS messages_fts_delete AFTER DELETE ON messages
WHEN old.id <= (SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'indexed') BEGIN
  INSERT INTO messages_fts (messages_fts, rowid, room, text) VALUES ('delete', old.id, 'r' || old.room_id, old.text);
END;
INSERT INTO messages_fts (messages_fts, rank) VALUES ('automerge', 0);
`;

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
INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', '${SCHEMA_VERSION}');
`;

/**
 * Upgrades a schema 1 or 2 database: its index (with per-row sizes; schema 1's also kept up by an insert
 * trigger) is replaced by an empty one of schema 3, which start-up then fills (see START_CATCH_UP_ROWS).
 */
const UPGRADE_SEARCH_INDEX = `
DROP TRIGGER IF EXISTS messages_fts_insert;
DROP TRIGGER IF EXISTS messages_fts_delete;
DROP TABLE IF EXISTS messages_fts;
${SEARCH_SCHEMA}
INSERT OR REPLACE INTO meta (key, value) VALUES ('indexed', '0');
UPDATE meta SET value = '${SCHEMA_VERSION}' WHERE key = 'schema';
`;

/**
 * An index further behind than this at start-up (an upgraded database, or one whose last run was killed
 * while far behind) is caught up before the daemon listens, so that no search misses older messages.
 * It goes in transactions of START_CATCH_UP_CHUNK_ROWS, each recording how far it got, so a start-up
 * that is stopped (say by systemd's start timeout) resumes there next time instead of starting over.
 */
const START_CATCH_UP_ROWS = SEARCH_CATCH_UP_ROWS;
const START_CATCH_UP_CHUNK_ROWS = 50_000;
/** How often a long start-up catch-up logs its progress. */
const START_CATCH_UP_LOG_MS = 5000;

/** What the store queues for its next commit. */
type QueuedWrite = UnsavedWrite & { id?: number };

/** How long a write waits for a lock held by another connection. */
const BUSY_TIMEOUT_MS = 2000;



/**
 * Creates a directory and its missing parents one level at a time. Node 20's recursive mkdirSync never
 * returns for a path such as /proc/x (it retries the parent forever), so the chain is walked here.
 */
function makeDirectory(dir: string): void {
  const missing: string[] = [];
  let at = path.resolve(dir);
  while (!existsSync(at)) {
    missing.unshift(at);
    const parent = path.dirname(at);
    if (parent === at) break;
    at = parent;
  }
  for (const level of missing) mkdirSync(level);
}


/**
 * A forgotten room's row is kept, under a key no room name can have ('!' and its id; room keys start with
 * '#'), until retention has deleted what it held in bounded steps: its name is free at once, and its id
 * is not reused while messages still point at it. This is the key range of such rows.
 */
const FORGOTTEN = `key >= '!' AND key < '"'`;

/** Prepares every statement the store uses; this fails if a table lacks a column we need. */
function prepareStatements(db: Database.Database) {
  return {
    roomByKey: db.prepare('SELECT id FROM rooms WHERE key = ?').pluck(),
    lastMessageId: db.prepare('SELECT max(id) FROM messages').pluck(),
    insertRoom: db.prepare('INSERT INTO rooms (key, name, created_at) VALUES (?, ?, ?)'),
    setTopic: db.prepare('UPDATE rooms SET topic = ?, topic_by = ?, topic_at = ? WHERE id = ?'),
    // The id is given when the writer thread's producer numbered the message (NULL: the next one).
    insertMessage: db.prepare('INSERT INTO messages (id, room_id, at, nick, kind, text) VALUES (?, ?, ?, ?, ?, ?)'),
    insertMessages: db.prepare(`INSERT INTO messages (id, room_id, at, nick, kind, text) VALUES ${Array<string>(INSERT_ROWS).fill('(?, ?, ?, ?, ?, ?)').join(', ')}`),
    nextMessageId: db.prepare(`SELECT max(coalesce((SELECT max(id) FROM messages), 0), coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'messages'), 0)) + 1`).pluck(),
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
  };
}

/**
 * The embedded history store: SQLite in WAL mode through better-sqlite3. Appends are queued and
 * committed as one transaction per event-loop turn; reads use the (room, id) index and an FTS5 index,
 * so replay, paging and search cost O(log n) in the size of the history. The FTS5 index is filled behind
 * the commits, every INDEX_INTERVAL_MS and before each search (see catchUpSearch).
 */
export class SqliteHistoryStore implements HistoryStore {
  private readonly db: Database.Database;
  private readonly roomIds = new Map<string, number>();
  private queue: Array<QueuedWrite> = [];
  /** Size of `queue` as counted for MAX_UNSAVED_BYTES. */
  private queuedBytes = 0;
  private commitScheduled = false;
  private retryTimer: NodeJS.Timeout | undefined;
  /** Wait before the next retry during an outage (nextRetryDelay: doubles while retries fail). */
  private retryDelay = RETRY_FIRST_MS;
  private readonly checkpointTimer: NodeJS.Timeout | undefined;
  private dirtySinceCheckpoint = false;
  private failing = false;
  /** What the current outage wrote back and dropped (shared with the PostgreSQL store). */
  private readonly tally = new OutageTally();
  private closed = false;
  /** Progress of the current retention pass: which room it is at, and that room's cutoff id. */
  private prunePass: { rooms: number[]; index: number; cutoff: number | undefined } | undefined;
  private readonly statements: ReturnType<typeof prepareStatements>;
  private readonly writeBatch: (entries: Array<QueuedWrite>) => void;
  /** Fills the full-text index behind the commits (its end is kept in meta, so a restart resumes). */
  private readonly indexer: SearchIndexer;
  /** The indexing rounds (on the writer thread's event loop, where the daemon runs this store). */
  private indexTimer: NodeJS.Timeout | undefined;
  private indexRoundScheduled = false;
  /** Set while indexing fails (say the disk is full), so the failure is logged once, not every round. */
  private indexFailing = false;

  constructor(private readonly options: SqliteStoreOptions) {
    const file = path.join(options.dataDir, DATABASE_FILE);
    try {
      makeDirectory(options.dataDir);
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
      this.db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      // A database of a newer schema is refused before anything is written to it.
      const hasMeta = this.db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'`).get() !== undefined;
      const found = hasMeta ? (this.db.prepare(`SELECT value FROM meta WHERE key = 'schema'`).pluck().get() as string | undefined) : undefined;
      if (Number(found) > Number(SCHEMA_VERSION)) {
        throw new HistoryOpenError(`the history database ${file} was written by a newer mychatd (schema ${found}; this one reads up to ${SCHEMA_VERSION}): run that version, or restore a backup made before the upgrade.`);
      }
      this.db.exec(SCHEMA);
      const schema = this.db.prepare(`SELECT value FROM meta WHERE key = 'schema'`).pluck().get() as string | undefined;
      if (schema === '1' || schema === '2') this.upgradeSearchIndex(schema);
      else if (schema !== SCHEMA_VERSION) throw new Error(`unknown schema version ${String(schema)}`);
      else this.db.exec(SEARCH_SCHEMA);
      // Preparing every statement here checks the tables have the columns we need.
      this.statements = prepareStatements(this.db);
      this.indexer = openSearchIndexer(this.db);
      this.catchUpAtStart();
    } catch (error) {
      if (error instanceof HistoryOpenError) throw error;
      throw new HistoryOpenError(
        `cannot use the history database ${file}: ${(error as Error).message}. ` +
          `It is not a mychat database or it is damaged. mychatd will not overwrite it: ` +
          `restore it from a backup, or move it aside (mv ${file} ${file}.bad) to start with empty history.`,
      );
    }
    // BEGIN IMMEDIATE: another connection may write too (the start-up connection re-keys rooms), and a
    // transaction that read before it asked for the write lock would fail at once (SQLITE_BUSY, no
    // waiting) if that connection wrote meanwhile.
    const writeTransaction = this.db.transaction((entries: Array<QueuedWrite>) => this.writeEntries(entries));
    this.writeBatch = (entries) => writeTransaction.immediate(entries);
    if (options.background !== false) {
      if (options.sync === 'normal') {
        this.checkpointTimer = setInterval(() => this.checkpoint(), CHECKPOINT_MS);
        this.checkpointTimer.unref();
      }
      this.indexTimer = setInterval(() => this.indexRound(), INDEX_INTERVAL_MS);
      this.indexTimer.unref();
    }
  }

  /** Replaces the search index of a schema 1 or 2 database by an empty one of schema 3 (start-up fills it). */
  private upgradeSearchIndex(from: string): void {
    this.db.transaction(() => this.db.exec(UPGRADE_SEARCH_INDEX)).immediate();
    this.options.log.log('info', 'history-schema-upgraded', { from, to: SCHEMA_VERSION, searchIndex: 'rebuilt at start' });
  }

  /**
   * Fills the search index before the daemon listens when it is more than START_CATCH_UP_ROWS behind,
   * in resumable chunks (about 1.3 s per million messages on the development machine), logging progress.
   */
  private catchUpAtStart(): void {
    const from = this.indexer.indexed();
    const behind = (): number => this.lastMessageId() - this.indexer.indexed();
    if (behind() <= START_CATCH_UP_ROWS) return;
    const started = Date.now();
    // A slice per progress line; indexing that fails is logged by indexUpTo, and start-up goes on (search
    // then finds what the index holds, and the rounds carry on).
    for (let left = true; left && !this.indexFailing; ) {
      this.options.log.log('info', 'history-index-catching-up', { behind: behind() });
      const sliceEnd = Date.now() + START_CATCH_UP_LOG_MS;
      left = this.indexUpTo(() => Date.now() < sliceEnd, Infinity, START_CATCH_UP_CHUNK_ROWS);
    }
    this.options.log.log('info', 'history-index-caught-up', { ids: this.indexer.indexed() - from, ms: Date.now() - started });
  }

  /** Id up to which committed messages are in the full-text index (search finds them). */
  get indexedUpTo(): number {
    return this.indexer.indexed();
  }

  get healthy(): boolean {
    return !this.failing;
  }

  loadRooms(keyOf?: (name: string) => string): StoredRoom[] {
    if (keyOf !== undefined) this.rekeyRooms(keyOf);
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
    this.queuedBytes += entrySize(entry);
    if (overBounds(this.queue.length, this.queuedBytes)) {
      // While healthy a turn this large is simply committed now; during an outage the oldest entries go.
      if (!this.failing) this.commit();
      else this.dropOldest();
    }
    if (!this.commitScheduled && !this.failing && this.queue.length > 0) {
      this.commitScheduled = true;
      setImmediate(() => this.commit());
    }
  }

  /**
   * Commits the queue as one transaction. During an outage it returns at once: the output path must not
   * pay for a disk that is failing, and the retry timer writes the backlog (see retry()).
   */
  commit(): void {
    this.commitScheduled = false;
    if (this.queue.length === 0 || this.closed || this.failing) return;
    const batch = this.queue;
    try {
      this.writeBatch(batch);
    } catch (error) {
      // The transaction rolled back: the batch stays queued (bounded) and is written by the retries.
      // Room ids cached during the failed transaction may have been rolled back too, so forget them all.
      this.roomIds.clear();
      this.failing = true;
      this.retryDelay = RETRY_FIRST_MS;
      this.options.log.log('error', 'history-write-failed', { error: (error as Error).message, queued: batch.length });
      this.options.onOutage?.(batch.filter(isMessage));
      this.scheduleRetry(this.retryDelay);
      return;
    }
    this.queue = [];
    this.queuedBytes = 0;
    this.dirtySinceCheckpoint = true;
  }

  /**
   * Commits what is queued and adds what is committed to the full-text index (up to SEARCH_CATCH_UP_ROWS
   * rows), so that a search finds what was said just before it.
   */
  catchUpSearch(): void {
    this.commit();
    this.indexUpTo(() => true, SEARCH_CATCH_UP_ROWS);
  }

  /** The id the next message will get (ids are never reused, even those of deleted messages). */
  nextMessageId(): number {
    return this.statements.nextMessageId.get() as number;
  }

  lastMessageId(): number {
    try {
      return (this.statements.lastMessageId.get() as number | null) ?? 0;
    } catch (error) {
      this.options.log.log('warn', 'history-read-failed', { error: (error as Error).message });
      return 0;
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
    this.catchUpSearch();
    const roomId = this.roomId(roomKey);
    if (roomId === undefined || words.length === 0 || limit <= 0) return [];
    const query = ftsMatch(roomId, words);
    if (query === undefined) return [];
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

  /**
   * Commits what is queued and closes the store. During an outage it makes one last attempt, for at most
   * `lastAttemptMs`, to write the backlog. Logs and returns how many messages were not kept: those still
   * unwritten plus those dropped from the backlog during the outage (0 when everything was written).
   */
  close(lastAttemptMs = 0): number {
    if (this.closed) return 0;
    if (this.options.background === false) {
      // A start-up connection: it writes nothing after the re-keying, so it has nothing to report.
      this.closed = true;
      this.db.close();
      return 0;
    }
    this.commit();
    // What the rounds have not indexed yet is indexed now (an interrupted close resumes at the next start).
    const indexDeadline = Date.now() + Math.max(lastAttemptMs, INDEX_SLICE_MS);
    this.indexUpTo(() => Date.now() < indexDeadline, Infinity);
    if (this.failing) {
      this.reclaimWal();
      const deadline = Date.now() + lastAttemptMs;
      this.writeBacklog(() => Date.now() < deadline);
    }
    const { notKept, level, fields } = this.tally.closing(this.queue, this.failing);
    this.options.log.log(level, 'history-closed', fields);
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.checkpointTimer) clearInterval(this.checkpointTimer);
    clearInterval(this.indexTimer);
    try {
      this.db.close();
    } catch (error) {
      this.options.log.log('error', 'history-close-failed', { error: (error as Error).message });
    }
    return notKept;
  }

  /**
   * Gives every room the key `keyOf` computes from its name, in one transaction. Rooms whose names now
   * share a key (say #pop and a Cyrillic #рор) become one: the oldest keeps its row and name, the others'
   * messages (and their full-text entries) move into it, it takes the most recent topic, and their rows go.
   */
  private rekeyRooms(keyOf: (name: string) => string): void {
    const rows = this.db
      .prepare(`SELECT id, key, name, topic, topic_by AS topicBy, topic_at AS topicAt, created_at AS createdAt FROM rooms WHERE NOT (${FORGOTTEN}) ORDER BY id`)
      .all() as RekeyRoomRow[];
    const plan = planRekey(rows, keyOf);
    if (plan.renames.length === 0 && plan.merges.length === 0) return;
    // Only rows already indexed are re-indexed under the new room (deleted with the values they were
    // indexed under); the later ones are indexed by the rounds.
    const reindexOld = this.db.prepare(`INSERT INTO messages_fts (messages_fts, rowid, room, text) SELECT 'delete', id, 'r' || room_id, text FROM messages WHERE room_id = ? AND id <= ?`);
    const reindexNew = this.db.prepare(`INSERT INTO messages_fts (rowid, room, text) SELECT id, 'r' || ?, text FROM messages WHERE room_id = ? AND id <= ?`);
    const moveMessages = this.db.prepare('UPDATE messages SET room_id = ? WHERE room_id = ?');
    const setRoom = this.db.prepare('UPDATE rooms SET topic = ?, topic_by = ?, topic_at = ?, created_at = ? WHERE id = ?');
    const setKey = this.db.prepare('UPDATE rooms SET key = ? WHERE id = ?');
    this.db.transaction(() => {
      for (const { row, into } of plan.merges) {
        reindexOld.run(row.id, this.indexer.indexed());
        reindexNew.run(into.id, row.id, this.indexer.indexed());
        moveMessages.run(into.id, row.id);
        absorbRoom(into, row);
        setRoom.run(into.topic, into.topicBy, into.topicAt, into.createdAt, into.id);
        this.statements.deleteRoom.run(row.id);
      }
      for (const { row } of plan.renames) setKey.run(interimKey(row), row.id);
      for (const { row, key } of plan.renames) setKey.run(key, row.id);
    }).immediate();
    this.roomIds.clear();
    logRekey(this.options.log, plan);
  }

  /**
   * The body of one write transaction: messages are inserted INSERT_ROWS to a statement, in order (ids
   * follow the queue's order); rooms, forgotten rooms and topics are written where they come.
   */
  private writeEntries(entries: Array<QueuedWrite>): void {
    const rows: Array<number | string | null> = [];
    const insertRows = (): void => {
      if (rows.length === INSERT_ROWS * 6) this.statements.insertMessages.run(rows);
      else for (let i = 0; i < rows.length; i += 6) this.statements.insertMessage.run(rows.slice(i, i + 6));
      rows.length = 0;
    };
    for (const entry of entries) {
      if ('forget' in entry) {
        insertRows();
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
      rows.push(entry.id ?? null, roomId, entry.at, entry.nick, entry.kind, entry.text);
      if (rows.length === INSERT_ROWS * 6) insertRows();
      if (entry.kind === 'TOPIC') {
        insertRows();
        this.statements.setTopic.run(entry.text, entry.nick, entry.at, roomId);
      }
    }
    insertRows();
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

  private scheduleRetry(delayMs: number): void {
    if (this.retryTimer || this.closed) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.retry();
    }, delayMs);
    this.retryTimer.unref();
  }

  /**
   * One retry during an outage: frees what the WAL holds, then writes the backlog oldest first in chunks
   * for at most RETRY_SLICE_MS. It goes on in the next turn while chunks succeed, waits longer each time
   * nothing could be written, and ends the outage (logging what was written and lost) once the backlog is empty.
   */
  private retry(): void {
    if (this.closed || !this.failing) return;
    const before = this.tally.written;
    this.reclaimWal();
    const started = Date.now();
    const error = this.writeBacklog(() => Date.now() - started < RETRY_SLICE_MS);
    if (this.queue.length === 0) {
      this.failing = false;
      this.retryDelay = RETRY_FIRST_MS;
      this.options.log.log('warn', 'history-write-recovered', this.tally.recovered());
      this.mergeIndex();
      return;
    }
    if (error === undefined) {
      // Out of time, not out of space: carry on after other work of this turn.
      this.scheduleRetry(0);
      return;
    }
    this.retryDelay = nextRetryDelay(this.retryDelay, this.tally.written > before);
    this.options.log.log('debug', 'history-retry-failed', { error, queued: this.queue.length, retryMs: this.retryDelay });
    this.scheduleRetry(this.retryDelay);
  }

  /**
   * Writes the backlog oldest first, one transaction per chunk (nextChunk), while
   * `more()` allows, checkpointing after each chunk: a WAL left to grow would take the very space the
   * database needs to take its pages in, and neither could then be written. Returns the error message of
   * the chunk that failed, if one did.
   */
  private writeBacklog(more: () => boolean): string | undefined {
    while (this.queue.length > 0 && more()) {
      const { count, bytes } = nextChunk(this.queue);
      const chunk = this.queue.slice(0, count);
      try {
        this.writeBatch(chunk);
      } catch (error) {
        this.roomIds.clear();
        return (error as Error).message;
      }
      this.queue.splice(0, count);
      this.queuedBytes -= bytes;
      this.tally.written += chunk.filter(isMessage).length;
      this.reclaimWal();
    }
    return undefined;
  }

  /** Drops the oldest backlog entries until it is within its bounds; logs when an outage starts dropping. */
  private dropOldest(): void {
    const before = this.tally.dropped;
    while (this.queue.length > 1 && overBounds(this.queue.length, this.queuedBytes)) {
      const dropped = this.queue.shift()!;
      this.queuedBytes -= entrySize(dropped);
      this.tally.drop(dropped);
    }
    if (before === 0 && this.tally.dropped > 0) {
      this.options.log.log('error', 'history-backlog-full', BACKLOG_FULL_LOG);
    }
  }

  /**
   * Checkpoints the whole WAL into the database and truncates it, so the space it holds can be used by
   * the retry. It must not wait for readers (that would block chat), so the busy timeout is off meanwhile.
   */
  private reclaimWal(): void {
    try {
      this.db.pragma('busy_timeout = 0');
      this.db.pragma('wal_checkpoint(TRUNCATE)');
    } catch (error) {
      this.options.log.log('debug', 'history-checkpoint-failed', { error: (error as Error).message });
    } finally {
      this.db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    }
  }

  /**
   * One indexing round (every INDEX_INTERVAL_MS): indexes committed messages for at most INDEX_SLICE_MS,
   * then merges a little; when rows are left (a burst), it goes on in the next turn rather than the next round.
   */
  private indexRound(): void {
    this.indexRoundScheduled = false;
    const started = Date.now();
    const left = this.indexUpTo(() => Date.now() - started < INDEX_SLICE_MS, Infinity);
    if (left && !this.indexRoundScheduled && !this.indexFailing) {
      this.indexRoundScheduled = true;
      setImmediate(() => this.indexRound());
    }
  }

  /**
   * Indexes committed messages in chunks of `chunkRows` while `more()` allows and at most `maxRows`
   * ids past the index's end, then merges a slice if it indexed anything. Never during an outage (the
   * backlog has the space first). Returns true when committed rows are left unindexed.
   */
  private indexUpTo(more: () => boolean, maxRows: number, chunkRows = INDEX_CHUNK_ROWS): boolean {
    if (this.closed || this.failing) return false;
    let budget = maxRows;
    let progressed = false;
    let left = false;
    while (budget > 0 && more()) {
      let progress;
      try {
        progress = this.indexer.step(Math.min(budget, chunkRows));
      } catch (error) {
        // Messages are stored; only finding them by search waits until indexing works again.
        if (!this.indexFailing) this.options.log.log('warn', 'history-index-failed', { error: (error as Error).message });
        this.indexFailing = true;
        return true;
      }
      if (this.indexFailing) this.options.log.log('info', 'history-index-recovered', {});
      this.indexFailing = false;
      left = progress.indexed < progress.newest;
      if (progress.added === 0) break;
      budget -= progress.added;
      progressed = true;
      this.dirtySinceCheckpoint = true;
      if (!left) break;
    }
    if (progressed) this.mergeIndex();
    return left;
  }

  /** A bounded slice of full-text index merging (see FTS_MERGE_PAGES). */
  private mergeIndex(): void {
    try {
      this.indexer.merge();
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
