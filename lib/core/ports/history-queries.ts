import type { HistoryEntry } from './history-store';

/** A page of history, oldest first, and whether older entries exist before it. */
export interface HistoryPage {
  entries: HistoryEntry[];
  /** True when the room has entries older than the first one of `entries`. */
  more: boolean;
}

/**
 * Told how long one query ran (in milliseconds, waiting for a connection or thread left out), so that the
 * core can keep each client's budget of query time.
 */
export type QueryTimer = (ms: number) => void;

/**
 * History reads a client can ask for (/history, /search, replay on /join), answered asynchronously so
 * that no query, however costly, blocks chat. Every rejection is a ChatError (QUERY_TIMEOUT or HISTORY_BUSY).
 */
export interface HistoryQueries {
  /** The newest `limit` entries of a room with id <= `uptoId` (when given), oldest first, and whether older ones exist. */
  recent(roomKey: string, limit: number, uptoId?: number, spent?: QueryTimer): Promise<HistoryPage>;
  /** The `limit` entries of a room just before id `beforeId`, oldest first, and whether older ones exist. */
  before(roomKey: string, beforeId: number, limit: number, spent?: QueryTimer): Promise<HistoryPage>;
  /** Entries of a room containing every word (see lib/history/search-terms.ts for which words match as prefixes), newest first. */
  search(roomKey: string, words: string[], limit: number, spent?: QueryTimer): Promise<HistoryEntry[]>;
  /** Ends the reader: waiting and running queries are refused with HISTORY_BUSY, and so is every later one. */
  close(): Promise<void>;
}
