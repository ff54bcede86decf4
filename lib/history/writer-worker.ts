/*
 * The body of the history writer thread (see SqliteHistoryStore's writerThread option). It owns the one
 * connection that writes while the daemon runs: it commits the batches the event loop hands it (one
 * transaction each, acknowledged back, while the output of those turns waits), adds committed messages to
 * the search index behind them, and checkpoints the WAL into the database file (and so fsyncs it).
 * One connection does all three because SQLite drops a connection's whole page cache whenever another
 * connection has written: with the commits on the event loop and the indexing on a second connection,
 * each side re-read its pages after every write of the other, which cost more CPU than the writing.
 */
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import { openSearchIndexer, type IndexProgress } from './search-index';
import { openEntryWriter, type FlatWrites } from './sqlite-writes';

/** What the store passes to the thread. */
export interface WriterData {
  file: string;
  /** `full`: every commit is flushed to the disk (synchronous = FULL); `normal`: at checkpoints. */
  sync: 'normal' | 'full';
  indexIntervalMs: number;
  checkpointIntervalMs: number;
  /**
   * Two Int32 slots the thread sets after each write, so that the event loop can wait for a write
   * synchronously (close, a backlog over its bounds): [0] the sequence number of the last write that
   * ended, [1] 1 if that write failed.
   */
  settled: SharedArrayBuffer;
}

/**
 * What the store tells the thread: write a batch (numbered, flattened by flattenWrites), index what is
 * committed (up to `rows` rows, for a search), stop or go on indexing during an outage, or close; tests
 * also cap the database's size (max_page_count) to make writes fail as on a full disk.
 */
export type WriterCommand =
  | { write: number; entries: FlatWrites }
  | { catchUp: number; rows: number }
  | { maxPageCount: number }
  | 'pause-index'
  | 'resume-index'
  | 'close';

/**
 * What the thread reports: that it has opened the database, a batch written or failed, an index catch-up done, a failure of a background
 * job (once until it works again) and its recovery, or that it closed.
 */
export type WriterReport =
  | { ready: true }
  | { written: number }
  | { writeFailed: number; error: string }
  | { caughtUp: number }
  | { failed: 'index' | 'checkpoint'; error: string }
  | { recovered: 'index' | 'checkpoint' }
  | { closed: true };

/** Rows per indexing transaction (one index segment each): about 1.5 ms, so a batch waiting behind it is not held long. */
const INDEX_CHUNK_ROWS = 1000;

const data = workerData as WriterData;
const port = parentPort!;
const settled = new Int32Array(data.settled);
const db = new Database(data.file, { fileMustExist: true });
db.pragma('journal_mode = WAL');
db.pragma(`synchronous = ${data.sync === 'full' ? 'FULL' : 'NORMAL'}`);
db.pragma('cache_size = -16000');
// The store's own connection writes only during outages, retention steps and close: short transactions.
db.pragma('busy_timeout = 5000');
db.pragma('wal_autocheckpoint = 0');
const indexer = openSearchIndexer(db);
const entryWriter = openEntryWriter(db);
// Room ids are looked up again in every batch: the store's connection may delete or forget rooms between
// two batches (retention), and a cached id would then point at a row that is gone.
const writeBatch = db.transaction((entries: FlatWrites) => entryWriter.write(entries, new Map()));
const failing = { index: false, checkpoint: false };
let paused = false;
let dirty = false;

/** Runs `job`, reporting its first failure and its recovery; a lock held by the store's connection only skips a turn. */
function attempt(name: 'index' | 'checkpoint', job: () => void): boolean {
  try {
    job();
  } catch (error) {
    if ((error as { code?: string }).code === 'SQLITE_BUSY') return false;
    if (!failing[name]) port.postMessage({ failed: name, error: (error as Error).message } satisfies WriterReport);
    failing[name] = true;
    return false;
  }
  if (failing[name]) port.postMessage({ recovered: name } satisfies WriterReport);
  failing[name] = false;
  return true;
}

/** Commits one batch and reports it; the slots are set first, so a synchronous waiter never misses it. */
function write(seq: number, entries: FlatWrites): void {
  let error: string | undefined;
  try {
    writeBatch.immediate(entries);
    dirty = true;
  } catch (caught) {
    error = (caught as Error).message;
  }
  Atomics.store(settled, 1, error === undefined ? 0 : 1);
  Atomics.store(settled, 0, seq);
  Atomics.notify(settled, 0);
  port.postMessage((error === undefined ? { written: seq } : { writeFailed: seq, error }) satisfies WriterReport);
}

/** Indexes up to `maxRows` committed rows in chunks, merging a slice after each; returns true when rows are left. */
function index(maxRows: number): boolean {
  let progress: IndexProgress | undefined;
  let budget = maxRows;
  while (budget > 0 && !paused) {
    if (!attempt('index', () => (progress = indexer.step(Math.min(budget, INDEX_CHUNK_ROWS))))) return true;
    if (progress!.added === 0) return false;
    budget -= progress!.added;
    dirty = true;
    if (progress!.indexed >= progress!.newest) return false;
  }
  return !paused;
}

let indexing = false;

/**
 * One indexing chunk, then the next in a later turn of this thread while rows are left, so that batches
 * to write are taken in between (they wait at most one chunk).
 */
function indexStep(): void {
  if (index(INDEX_CHUNK_ROWS)) {
    setImmediate(indexStep);
    return;
  }
  indexing = false;
  // One merge slice per round, not per chunk: merging after each chunk rewrote the newest segments again
  // and again and cost more than the indexing itself.
  attempt('index', () => indexer.merge());
}

const indexTimer = setInterval(() => {
  if (indexing || paused) return;
  indexing = true;
  indexStep();
}, data.indexIntervalMs);

const checkpointTimer = setInterval(() => {
  if (!dirty) return;
  dirty = false;
  attempt('checkpoint', () => db.pragma('wal_checkpoint(PASSIVE)'));
}, data.checkpointIntervalMs);

port.on('message', (command: WriterCommand) => {
  if (typeof command === 'object') {
    if ('write' in command) write(command.write, command.entries);
    else if ('maxPageCount' in command) db.pragma(`max_page_count = ${command.maxPageCount}`);
    else {
      if (!index(command.rows)) attempt('index', () => indexer.merge());
      port.postMessage({ caughtUp: command.catchUp } satisfies WriterReport);
    }
    return;
  }
  if (command !== 'close') {
    paused = command === 'pause-index';
    return;
  }
  clearInterval(indexTimer);
  clearInterval(checkpointTimer);
  paused = true;
  db.close();
  port.postMessage({ closed: true } satisfies WriterReport);
  port.close();
});

port.postMessage({ ready: true } satisfies WriterReport);
