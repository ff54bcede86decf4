/*
 * The body of the SQLite writer thread (see sqlite-threaded-store.ts): it owns the only connection that
 * writes the history database once the daemon runs. It takes what the event loop published in the write
 * ring, commits it in one transaction (group commit: whatever arrived while the last commit ran goes in
 * the next), and indexes search text and checkpoints the WAL between commits, on the same connection, so
 * nothing it does waits for a lock. Its store is the ordinary SqliteHistoryStore, with its outage backlog,
 * retries and retention; this file only moves entries and requests between it and the event loop.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { LOG_LEVELS, type LogFields, type Logger, type LogLevel } from '../log';
import type { NewHistoryEntry, PruneResult, RetentionPolicy } from '../core/ports/history-store';
import { SqliteHistoryStore, type SyncMode } from './sqlite-history-store';
import { CTL, reached, RingConsumer, waitAsync, type RingMemory } from './write-ring';

/** What the event loop passes to the thread. */
export interface WriterData {
  dataDir: string;
  sync: SyncMode;
  ring: RingMemory;
  /** The daemon's log level: only events at it or more severe are sent back. */
  logLevel: LogLevel;
  /** Where the thread says why it could not open the database (read while the event loop waits for it). */
  failures: MessagePort;
}

/** What the event loop asks of the thread besides commits. */
export type WriterRequest =
  | { op: 'search' }
  | { op: 'flush' }
  | { op: 'prune'; now: number; policy: RetentionPolicy }
  | { op: 'close'; lastAttemptMs: number };

/** What the thread reports. */
export type WriterReport =
  | { log: { level: LogLevel; event: string; fields?: LogFields } }
  | { outage: NewHistoryEntry[] }
  | { healthy: boolean }
  | { committed: number }
  | { searched: number }
  | { flushed: true }
  | { pruned: PruneResult }
  | { closed: number };

const data = workerData as WriterData;
const port = parentPort!;
const log: Logger = {
  level: data.logLevel,
  log(level, event, fields) {
    if (LOG_LEVELS.indexOf(level) <= LOG_LEVELS.indexOf(data.logLevel)) port.postMessage({ log: { level, event, fields: { ...fields, thread: 'writer' } } } satisfies WriterReport);
  },
};

/** How often the healthy flag is refreshed while no commits come (a retry may have ended an outage). */
const HEALTH_REFRESH_MS = 200;
/** Longest wait for new entries before the loop looks again (requests and timers run meanwhile anyway). */
const IDLE_WAIT_MS = 1000;
/**
 * How long after a commit the loop keeps looking for entries on its own, and how often. Under load it
 * thus commits every POLL_MS: a commit rewrites the last, partly filled page of the table and of each
 * index whatever it holds, so fewer, larger commits cost the thread less per message (about a sixth less
 * than every millisecond, measured with bench/history-threads.ts); what waits for a commit (a PONG, a
 * read) waits at most that much longer, and lines are shown at once anyway.
 */
const BUSY_MS = 50;
const POLL_MS = 10;

let store: SqliteHistoryStore;
try {
  store = new SqliteHistoryStore({
    dataDir: data.dataDir,
    sync: data.sync,
    log,
    onOutage: (unsaved) => port.postMessage({ outage: [...unsaved] } satisfies WriterReport),
    // Its indexing rounds and checkpoints run on this thread's event loop, between commits.
  });
} catch (error) {
  // The event loop may be blocked waiting for the ready word, so the reason goes on its own channel (the
  // error this thread ends with is logged too, once the event loop runs).
  data.failures.postMessage((error as Error).message);
  const control = new Int32Array(data.ring.control);
  Atomics.store(control, CTL.ready, 2);
  Atomics.notify(control, CTL.ready);
  port.close();
  throw error;
}
const ring = new RingConsumer(data.ring);
const control = ring.control;
Atomics.store(control, CTL.ready, 1);
Atomics.notify(control, CTL.ready);
let closing = false;

let reportedHealthy = true;
/** The last wanted count answered (see CTL.wanted). */
let lastAnswered = 0;

/**
 * Tells the event loop when the store's health changes. It goes by message, after the log lines that
 * explain it (history-write-failed, history-write-recovered), so nobody sees the change before the reason.
 */
function reportHealth(): void {
  if (store.healthy === reportedHealthy) return;
  reportedHealthy = store.healthy;
  port.postMessage({ healthy: reportedHealthy } satisfies WriterReport);
}

/** Takes everything published, commits it, and tells the event loop how far it is. */
function commitPublished(): void {
  ring.drain((entry) => {
    if ('kind' in entry) store.append(entry);
    else if ('forget' in entry) store.forgetRoom(entry.roomKey);
    else store.saveRoom(entry);
  });
  store.commit();
  reportHealth();
  const committed = Atomics.load(control, CTL.consumed);
  Atomics.store(control, CTL.committed, committed);
  Atomics.notify(control, CTL.committed);
  // Someone waits (a PONG, a read): tell them by message, after the log lines and health sent before.
  const wanted = Atomics.load(control, CTL.wanted);
  if (wanted !== lastAnswered && reached(committed, wanted)) {
    lastAnswered = wanted;
    port.postMessage({ committed } satisfies WriterReport);
  }
}

/**
 * The commit loop: waits (without blocking this thread's timers) for entries, then commits them. For
 * BUSY_MS after a commit it looks again every POLL_MS on its own, since under load the next batch comes
 * that soon; only then does it sleep until the event loop wakes it.
 */
async function run(): Promise<void> {
  let lastCommit = 0;
  while (!closing) {
    const published = Atomics.load(control, CTL.published);
    if (published === Atomics.load(control, CTL.consumed)) {
      if (Date.now() - lastCommit < BUSY_MS) {
        const polling = waitAsync(control, CTL.published, published, POLL_MS);
        if (polling.async) await polling.value;
        continue;
      }
      Atomics.store(control, CTL.sleeping, 1);
      // Published between the first look and `sleeping`: the event loop may not have woken us, so look again.
      if (Atomics.load(control, CTL.published) === published) {
        const waiting = waitAsync(control, CTL.published, published, IDLE_WAIT_MS);
        if (waiting.async) await waiting.value;
      }
      Atomics.store(control, CTL.sleeping, 0);
      continue;
    }
    commitPublished();
    lastCommit = Date.now();
    // Timers (indexing rounds, checkpoints, retries) and requests run between two commits.
    await new Promise((resolve) => setImmediate(resolve));
  }
}

const healthTimer = setInterval(reportHealth, HEALTH_REFRESH_MS);

port.on('message', (request: WriterRequest) => {
  if (closing) return;
  if (request.op === 'search') {
    // Everything published before the search is committed and indexed (up to the store's catch-up bound).
    commitPublished();
    store.catchUpSearch();
    const searched = Atomics.load(control, CTL.committed);
    Atomics.store(control, CTL.searched, searched);
    port.postMessage({ searched } satisfies WriterReport);
  } else if (request.op === 'flush') {
    commitPublished();
    port.postMessage({ flushed: true } satisfies WriterReport);
  } else if (request.op === 'prune') {
    commitPublished();
    port.postMessage({ pruned: store.prune(request.now, request.policy) } satisfies WriterReport);
  } else {
    closing = true;
    clearInterval(healthTimer);
    commitPublished();
    const notKept = store.close(request.lastAttemptMs);
    port.postMessage({ closed: notKept } satisfies WriterReport);
    port.close();
  }
});

void run();
