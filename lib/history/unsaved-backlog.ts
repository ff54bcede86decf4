import type { ForgottenRoom, NewHistoryEntry, NewRoom } from '../core/ports/history-store';

/*
 * The rules every history store applies to what it could not write yet (a full disk, a database that is
 * down): how much it keeps, how it retries, and in what chunks it writes the backlog back. The SQLite and
 * PostgreSQL stores share them, so an outage behaves the same whichever store a server runs.
 */

/**
 * Bounds of the backlog kept in memory while writes fail: at most this many entries and this many bytes
 * (the text's UTF-8 bytes, the nickname's and room's characters, plus ENTRY_OVERHEAD_BYTES each). 8 MiB
 * holds about 2,000 messages of the longest kind (4 KiB) or 10,000 ordinary ones; beyond either bound the
 * oldest unsaved entries are dropped, counted and logged.
 */
export const MAX_UNSAVED = 10_000;
/** See MAX_UNSAVED. */
export const MAX_UNSAVED_BYTES = 8 * 1024 * 1024;
/** What one queued entry costs besides its strings (the object, its fields, the array slot), for MAX_UNSAVED_BYTES. */
const ENTRY_OVERHEAD_BYTES = 64;
/** First retry after a failed write; each failed retry doubles the wait, up to RETRY_MAX_MS. */
export const RETRY_FIRST_MS = 1000;
/** Longest wait between retries during an outage: space (or a database) that comes back is used within this time. */
const RETRY_MAX_MS = 30_000;
/**
 * The backlog is written in chunks of at most this many entries and bytes, one transaction each, oldest
 * first: a chunk fits in a little free space even when the whole backlog would not.
 */
const CHUNK_ENTRIES = 100;
/** See CHUNK_ENTRIES. */
const CHUNK_BYTES = 64 * 1024;

/** What a store queues: a message, a room to save, or a room to forget. */
export type UnsavedWrite = NewHistoryEntry | NewRoom | ForgottenRoom;

/** True for a message (as opposed to a room being saved or forgotten). */
export function isMessage<T extends UnsavedWrite>(entry: T): entry is T & NewHistoryEntry {
  return 'kind' in entry;
}

/** What a queued entry counts for MAX_UNSAVED_BYTES. */
export function entrySize(entry: UnsavedWrite): number {
  const strings = entry.roomKey.length + ('roomName' in entry ? entry.roomName.length : 0) + (isMessage(entry) ? entry.nick.length + Buffer.byteLength(entry.text) : 0);
  return strings + ENTRY_OVERHEAD_BYTES;
}

/** True while a backlog of `entries` entries and `bytes` bytes is past its bounds. */
export function overBounds(entries: number, bytes: number): boolean {
  return entries > MAX_UNSAVED || bytes > MAX_UNSAVED_BYTES;
}

/** How many of the oldest queued entries the next backlog transaction takes (at least one when any wait), and their size. */
export function nextChunk(queue: readonly UnsavedWrite[]): { count: number; bytes: number } {
  let count = 0;
  let bytes = 0;
  while (count < queue.length && count < CHUNK_ENTRIES) {
    const size = entrySize(queue[count]!);
    if (count > 0 && bytes + size > CHUNK_BYTES) break;
    bytes += size;
    count++;
  }
  return { count, bytes };
}

/** The wait before the next retry: back to the first when the last one wrote something, else doubled up to the longest. */
export function nextRetryDelay(current: number, progressed: boolean): number {
  return progressed ? RETRY_FIRST_MS : Math.min(current * 2, RETRY_MAX_MS);
}

/** The log fields of the line that says an outage started dropping the oldest unsaved entries. */
export const BACKLOG_FULL_LOG = { maxEntries: MAX_UNSAVED, maxBytes: MAX_UNSAVED_BYTES, note: 'dropping the oldest unsaved messages' };

/** What `OutageTally.closing` tells a store to log (as `history-closed`) and return when it closes. */
export interface CloseReport {
  /** Messages not kept: dropped for the bounds, plus those still unwritten. */
  notKept: number;
  /** `error` after an outage or when something was not kept, else `info`. */
  level: 'error' | 'info';
  fields: Record<string, number | undefined>;
}

/**
 * The counts of one outage, kept the same way by every store: messages written back from the backlog, and
 * messages and rooms dropped for the bounds. They make the `history-write-recovered` line when the
 * backlog is empty again and the `history-closed` line (with the number of messages not kept) at close.
 */
export class OutageTally {
  /** Messages of the backlog written since the outage started. */
  written = 0;
  /** Messages dropped for the bounds (lost). */
  lost = 0;
  /** Rooms to save that were dropped for the bounds. */
  lostRooms = 0;

  /** Counts an entry dropped for the bounds: a message, or else a room to save or forget. */
  drop(entry: UnsavedWrite): void {
    if (isMessage(entry)) this.lost++;
    else this.lostRooms++;
  }

  /** Everything dropped so far (to log `history-backlog-full` when the first drop happens). */
  get dropped(): number {
    return this.lost + this.lostRooms;
  }

  /** The fields of `history-write-recovered`, and a fresh count for the next outage. */
  recovered(): Record<string, number | undefined> {
    const fields = { written: this.written, lost: this.lost, roomsLost: this.lostRooms || undefined };
    this.written = 0;
    this.lost = 0;
    this.lostRooms = 0;
    return fields;
  }

  /** What to log and return on close, with `queue` the entries still unwritten and `failing` whether an outage is on. */
  closing(queue: readonly UnsavedWrite[], failing: boolean): CloseReport {
    const unwritten = queue.filter(isMessage).length;
    const notKept = this.lost + unwritten;
    if (!failing && notKept === 0) return { notKept, level: 'info', fields: { notKept } };
    const roomsUnwritten = queue.filter((entry) => !isMessage(entry) && !('forget' in entry)).length;
    return {
      notKept,
      level: 'error',
      fields: { notKept, unwritten, dropped: this.lost, written: this.written, roomsNotKept: roomsUnwritten + this.lostRooms || undefined },
    };
  }
}
