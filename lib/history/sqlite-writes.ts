import type Database from 'better-sqlite3';
import type { UnsavedWrite } from './unsaved-backlog';

/*
 * The body of a history write transaction, shared by the store's own connection (tests, the outage
 * retries, close) and the writer thread's (every commit of a running daemon), so both write the same rows
 * the same way.
 */

/**
 * What the SQLite store queues: an entry of the port plus, for a message, the id the store gave it when it
 * was appended (ids are handed out in order on the event loop, so a replay knows its bound before the
 * writer thread has written it).
 */
export type QueuedWrite = UnsavedWrite & { id?: number };

/**
 * Messages inserted by one statement: a commit of a turn's messages binds and steps one statement per
 * this many rather than one per message, which halves what a message costs to store.
 */
const INSERT_ROWS = 32;

/** Writes queued entries on one connection, inside a transaction its caller opens. */
export interface EntryWriter {
  /**
   * Writes flattened entries (flattenWrites) in order: messages INSERT_ROWS to a statement (with their
   * ids), rooms, forgotten rooms and topics where they come. `roomIds` caches room ids by key; give a fresh
   * map when another connection may have changed the rooms since it was filled.
   */
  write(flat: FlatWrites, roomIds: Map<string, number>): void;
  /** The row id of a room, inserting it when a name and creation time are given and it is new. */
  roomId(roomIds: Map<string, number>, key: string, name?: string, createdAt?: number): number | undefined;
}

/** Prepares the write statements on `db`. */
export function openEntryWriter(db: Database.Database): EntryWriter {
  const statements = {
    roomByKey: db.prepare('SELECT id FROM rooms WHERE key = ?').pluck(),
    insertRoom: db.prepare('INSERT INTO rooms (key, name, created_at) VALUES (?, ?, ?)'),
    setTopic: db.prepare('UPDATE rooms SET topic = ?, topic_by = ?, topic_at = ? WHERE id = ?'),
    forgetRoom: db.prepare(`UPDATE rooms SET key = '!' || id WHERE id = ?`),
    insertCreation: db.prepare('INSERT INTO room_creations (creator, at) VALUES (?, ?)'),
    insertMessage: db.prepare('INSERT INTO messages (id, room_id, at, nick, kind, text) VALUES (?, ?, ?, ?, ?, ?)'),
    insertMessages: db.prepare(`INSERT INTO messages (id, room_id, at, nick, kind, text) VALUES ${Array<string>(INSERT_ROWS).fill('(?, ?, ?, ?, ?, ?)').join(', ')}`),
  };
  const roomId = (roomIds: Map<string, number>, key: string, name?: string, createdAt?: number): number | undefined => {
    let id = roomIds.get(key);
    if (id !== undefined) return id;
    id = statements.roomByKey.get(key) as number | undefined;
    if (id === undefined && createdAt !== undefined) id = Number(statements.insertRoom.run(key, name ?? key, createdAt).lastInsertRowid);
    if (id !== undefined) roomIds.set(key, id);
    return id;
  };
  const write = (flat: FlatWrites, roomIds: Map<string, number>): void => {
    const rows: Array<number | string | null> = [];
    const insertRows = (): void => {
      if (rows.length === INSERT_ROWS * 6) statements.insertMessages.run(rows);
      else for (let i = 0; i < rows.length; i += 6) statements.insertMessage.run(rows.slice(i, i + 6));
      rows.length = 0;
    };
    // Walks the flattened entries (see flattenWrites) without making an object of each.
    for (let i = 0; i < flat.length; ) {
      const tag = flat[i];
      const roomKey = flat[i + 1] as string;
      if (tag === FORGET_TAG) {
        insertRows();
        const forgotten = roomId(roomIds, roomKey);
        if (forgotten !== undefined) statements.forgetRoom.run(forgotten);
        roomIds.delete(roomKey);
        i += 2;
      } else if (tag === ROOM_TAG) {
        const at = flat[i + 3] as number;
        roomId(roomIds, roomKey, flat[i + 2] as string, at);
        const creator = flat[i + 4] as string;
        if (creator !== '') statements.insertCreation.run(creator, at);
        i += 5;
      } else if (tag === MESSAGE_TAG) {
        const at = flat[i + 3] as number;
        const room = roomId(roomIds, roomKey, flat[i + 2] as string, at)!;
        const id = flat[i + 7] as number;
        const kind = flat[i + 5] as string;
        rows.push(id > 0 ? id : null, room, at, flat[i + 4] as string, kind, flat[i + 6] as string);
        if (rows.length === INSERT_ROWS * 6) insertRows();
        if (kind === 'TOPIC') {
          insertRows();
          statements.setTopic.run(flat[i + 6], flat[i + 4], at, room);
        }
        i += 8;
      } else throw new Error(`bad flattened history write at ${i}`);
    }
    insertRows();
  };
  return { write, roomId };
}

/** Queued writes flattened into one array of strings and numbers (see flattenWrites). */
export type FlatWrites = Array<string | number>;

const MESSAGE_TAG = 0;
const ROOM_TAG = 1;
const FORGET_TAG = 2;

/**
 * Flattens `entries` for the writer thread: a structured clone of plain values costs about half as much
 * as one of objects, and less than JSON text, and the writer walks it without making objects again. A
 * message is its tag and seven fields, a room its tag and four, a forgotten room its tag and its key.
 */
export function flattenWrites(entries: readonly QueuedWrite[]): FlatWrites {
  const flat: FlatWrites = [];
  for (const entry of entries) {
    if ('forget' in entry) flat.push(FORGET_TAG, entry.roomKey);
    else if ('kind' in entry) flat.push(MESSAGE_TAG, entry.roomKey, entry.roomName, entry.at, entry.nick, entry.kind, entry.text, entry.id ?? 0);
    else flat.push(ROOM_TAG, entry.roomKey, entry.roomName, entry.at, entry.creator ?? '');
  }
  return flat;
}
