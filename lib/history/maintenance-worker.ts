/*
 * The body of the history maintenance thread (see SqliteHistoryStore's maintenanceThread option): its own
 * connection to the daemon's database, which adds committed messages to the search index behind the
 * commits and checkpoints the WAL into the database file (and so fsyncs it). Done on the main thread, both
 * took the event loop away from chat; WAL lets them run beside the commits. The thread's write
 * transactions are short (INDEX_CHUNK_ROWS rows), since a commit of the main thread waits for them.
 */
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import { openSearchIndexer, type IndexProgress } from './search-index';

/** What the store passes to the thread. */
export interface MaintenanceData {
  file: string;
  indexIntervalMs: number;
  checkpointIntervalMs: number;
}

/**
 * What the store tells the thread: to stop indexing during a storage outage (the backlog of messages has
 * the space first) and to go on after it, or to close.
 */
export type MaintenanceCommand = 'pause-index' | 'resume-index' | 'close';

/** What the thread reports: a failure of one of its jobs (once until it works again), a recovery, or that it closed. */
export type MaintenanceReport = { failed: 'index' | 'checkpoint'; error: string } | { recovered: 'index' | 'checkpoint' } | { closed: true };

/** Rows per indexing transaction: about 0.5 ms of holding the write lock. */
const INDEX_CHUNK_ROWS = 400;
/**
 * Pause between two indexing transactions of a round: the main thread, which may be waiting for the lock
 * (SQLite's busy handler retries after 1, 2, 5 ms...), gets it in between, and its commits come first.
 */
const INDEX_GAP_MS = 5;

const data = workerData as MaintenanceData;
const port = parentPort!;
const db = new Database(data.file, { fileMustExist: true });
// The thread waits for the main thread's commits, never the other way round for long.
db.pragma('busy_timeout = 5000');
db.pragma('wal_autocheckpoint = 0');
const indexer = openSearchIndexer(db);
const failing = { index: false, checkpoint: false };
let paused = false;

/** Runs `job`, reporting its first failure and its recovery; a lock held by the main thread only skips a turn. */
function attempt(name: 'index' | 'checkpoint', job: () => void): boolean {
  try {
    job();
  } catch (error) {
    if ((error as { code?: string }).code === 'SQLITE_BUSY') return false;
    if (!failing[name]) port.postMessage({ failed: name, error: (error as Error).message } satisfies MaintenanceReport);
    failing[name] = true;
    return false;
  }
  if (failing[name]) port.postMessage({ recovered: name } satisfies MaintenanceReport);
  failing[name] = false;
  return true;
}

let indexing = false;

/** One indexing transaction, then the next after INDEX_GAP_MS while rows are left; a round ends when none is. */
function indexStep(): void {
  let progress: IndexProgress | undefined;
  if (paused || !attempt('index', () => (progress = indexer.step(INDEX_CHUNK_ROWS)))) {
    indexing = false;
    return;
  }
  if (progress!.added > 0) attempt('index', () => indexer.merge());
  if (progress!.indexed >= progress!.newest) {
    indexing = false;
    return;
  }
  setTimeout(indexStep, INDEX_GAP_MS);
}

const indexTimer = setInterval(() => {
  if (indexing) return;
  indexing = true;
  indexStep();
}, data.indexIntervalMs);

const checkpointTimer = setInterval(() => attempt('checkpoint', () => db.pragma('wal_checkpoint(PASSIVE)')), data.checkpointIntervalMs);

port.on('message', (command: MaintenanceCommand) => {
  if (command !== 'close') {
    paused = command === 'pause-index';
    return;
  }
  clearInterval(indexTimer);
  clearInterval(checkpointTimer);
  paused = true;
  db.close();
  port.postMessage({ closed: true } satisfies MaintenanceReport);
  port.close();
});
