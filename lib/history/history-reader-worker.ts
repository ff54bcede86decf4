/*
 * The body of one history reader thread (see history-reader.ts): a read-only SQLite connection on the
 * daemon's database answering one query at a time. Queries may take long (better-sqlite3 has no
 * interrupt); the main thread's time budget ends a stuck thread with terminate().
 */
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import { openHistoryReads } from './history-reads';
import type { ReaderData, ReaderReply, ReaderRequest } from './history-reader-protocol';

const data = workerData as ReaderData;
const port = parentPort!;

const db = new Database(data.file, { readonly: true, fileMustExist: true });
// A reader waits briefly if the writer is resetting the WAL; the main thread's budget bounds the rest.
db.pragma('busy_timeout = 500');
db.pragma('cache_size = -8000');
const reads = openHistoryReads(db);

/** Rows per millisecond of the test stall query, measured once on first use. */
let stallRowsPerMs: number | undefined;
const stallQuery = db.prepare('WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?) SELECT count(*) FROM c').pluck();

/**
 * Test hook: one native SQLite query that runs about `ms` milliseconds, as a costly search would. The
 * main thread is told just before it starts: from then on the thread cannot stop until it ends.
 */
function stall(ms: number, id: number): void {
  if (stallRowsPerMs === undefined) {
    stallQuery.get(20_000); // warm-up, so the measurement is not of a cold start
    const rows = 200_000;
    const started = process.hrtime.bigint();
    stallQuery.get(rows);
    stallRowsPerMs = rows / Math.max(0.01, Number(process.hrtime.bigint() - started) / 1e6);
  }
  const rows = Math.ceil(ms * stallRowsPerMs);
  port.postMessage({ stalling: id });
  stallQuery.get(rows);
}

function answer(request: ReaderRequest): unknown {
  switch (request.op) {
    case 'recent':
      return reads.recent(request.roomKey, request.limit, request.uptoId);
    case 'before':
      return reads.before(request.roomKey, request.beforeId, request.limit);
    case 'search':
      return reads.search(request.roomKey, request.words, request.limit);
    case 'stall':
      if (!data.testHooks) throw new Error('test hooks are off');
      stall(request.ms, request.id);
      return undefined;
  }
}

port.on('message', (request: ReaderRequest) => {
  let reply: ReaderReply;
  try {
    reply = { id: request.id, ok: true, value: answer(request) };
  } catch (error) {
    reply = { id: request.id, ok: false, error: (error as Error).message };
  }
  port.postMessage(reply);
});
port.postMessage({ ready: true });
