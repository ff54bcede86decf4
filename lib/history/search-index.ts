import type Database from 'better-sqlite3';

/**
 * Pages of full-text index merging done after each indexing transaction or prune step. FTS5's own
 * automatic merging is switched off because it runs in bursts of hundreds of milliseconds; small steady
 * merges keep the index compact with no pause longer than a few milliseconds.
 */
export const FTS_MERGE_PAGES = 16;

/** Where the search index and the messages end after an indexing step. */
export interface IndexProgress {
  /** Ids the step added to the index (0: it was up to date). */
  added: number;
  /** Id up to which messages are in the index. */
  indexed: number;
  /** Id of the newest stored message. */
  newest: number;
}

/** The writer of the search index on one connection (the store's). */
export interface SearchIndexer {
  /**
   * Adds up to `maxRows` ids of committed messages past the index's end to it, in one immediate
   * transaction that reads and moves the end (meta 'indexed'), so two connections never index a row twice.
   */
  step(maxRows: number): IndexProgress;
  /** A bounded slice of index merging (FTS_MERGE_PAGES). */
  merge(): void;
  /** Id up to which messages are in the index. */
  indexed(): number;
}

/**
 * Opens the search indexer on `db`. Messages are committed without their index entries (one turn's
 * commit then writes only the messages table); this fills messages_fts behind the commits.
 */
export function openSearchIndexer(db: Database.Database): SearchIndexer {
  const indexed = db.prepare(`SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'indexed'`).pluck();
  const newest = db.prepare('SELECT max(id) FROM messages').pluck();
  const indexRows = db.prepare(`INSERT INTO messages_fts (rowid, room, text) SELECT id, 'r' || room_id, text FROM messages WHERE id > ? AND id <= ? ORDER BY id`);
  const setIndexed = db.prepare(`INSERT OR REPLACE INTO meta (key, value) VALUES ('indexed', ?)`);
  const merge = db.prepare(`INSERT INTO messages_fts (messages_fts, rank) VALUES ('merge', ${FTS_MERGE_PAGES})`);
  const step = db.transaction((maxRows: number): IndexProgress => {
    const from = (indexed.get() as number | undefined) ?? 0;
    const last = (newest.get() as number | null) ?? 0;
    const upto = Math.min(last, from + maxRows);
    if (upto <= from) return { added: 0, indexed: from, newest: last };
    indexRows.run(from, upto);
    setIndexed.run(upto);
    return { added: upto - from, indexed: upto, newest: last };
  });
  return {
    step: (maxRows) => step.immediate(maxRows),
    merge: () => void merge.run(),
    indexed: () => (indexed.get() as number | undefined) ?? 0,
  };
}
