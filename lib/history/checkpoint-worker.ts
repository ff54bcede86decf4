/*
 * The body of the checkpoint thread (see SqliteHistoryStore's checkpointThread option): its own connection
 * to the daemon's database, copying the WAL into the database file (and so fsyncing it) every interval.
 * Done on the main thread, a checkpoint took the event loop for milliseconds at a time, inside whichever
 * commit crossed SQLite's automatic threshold; here it runs beside the commits, which WAL allows.
 */
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';

/** What the store passes to the thread. */
export interface CheckpointData {
  file: string;
  intervalMs: number;
}

/** What the thread reports: a failed checkpoint (logged once until one succeeds), or that it has closed. */
export type CheckpointReport = { failed: string } | { recovered: true } | { closed: true };

const data = workerData as CheckpointData;
const port = parentPort!;
const db = new Database(data.file, { fileMustExist: true });
// A checkpoint that meets a busy lock skips this round rather than wait: the next round comes soon.
db.pragma('busy_timeout = 0');
db.pragma('wal_autocheckpoint = 0');
let failing = false;

const timer = setInterval(() => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
    if (failing) port.postMessage({ recovered: true } satisfies CheckpointReport);
    failing = false;
  } catch (error) {
    if (!failing) port.postMessage({ failed: (error as Error).message } satisfies CheckpointReport);
    failing = true;
  }
}, data.intervalMs);

port.on('message', () => {
  clearInterval(timer);
  db.close();
  port.postMessage({ closed: true } satisfies CheckpointReport);
  port.close();
});
