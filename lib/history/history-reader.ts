import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { ChatError, type ErrorCode } from '../protocol/errors';
import type { Logger } from '../log';
import { LIMITS } from '../protocol/limits';
import type { ReaderData, ReaderReply, ReaderRequest } from './history-reader-protocol';
import type { HistoryPage, HistoryQueries, QueryTimer } from '../core/ports/history-queries';
import type { HistoryEntry, SyncHistoryStore } from '../core/ports/history-store';
import { DATABASE_FILE } from './sqlite-history-store';

export type { HistoryPage, HistoryQueries } from '../core/ports/history-queries';

/** The error codes a history query can be refused with. */
export type HistoryQueryErrorCode = Extract<ErrorCode, 'QUERY_TIMEOUT' | 'HISTORY_BUSY'>;

/** Why a history query got no answer; a ChatError, so the core can send it as one ERR line. */
export class HistoryQueryError extends ChatError {
  declare readonly code: HistoryQueryErrorCode;
  constructor(code: HistoryQueryErrorCode, message: string) {
    super(code, message);
    this.name = 'HistoryQueryError';
  }
}

/** Default settings of the worker reader, chosen for a 2-core machine (see README "History"). */
export const READER_DEFAULTS = {
  /** Reader threads: one keeps a core free for the event loop while a costly query runs. */
  poolSize: 1,
  /** Time budget of one query once a thread runs it. */
  timeoutMs: 1000,
  /** Queries waiting for a thread, across all connections; beyond it HISTORY_BUSY. */
  maxQueue: 256,
  /** Longest a query waits for a thread before it is refused with HISTORY_BUSY. */
  maxWaitMs: 5000,
  /**
   * Threads ended for exceeding the budget that may still be finishing their native query at once: with
   * one live thread, at most two threads ever compete with the event loop for the two cores.
   */
  maxRetiring: 1,
} as const;

/** Settings of WorkerHistoryReader; each omitted one takes its READER_DEFAULTS value. */
export interface WorkerReaderOptions {
  /** The data directory holding the database that SqliteHistoryStore writes (it must exist). */
  dataDir: string;
  log: Logger;
  poolSize?: number;
  timeoutMs?: number;
  maxQueue?: number;
  maxWaitMs?: number;
  maxRetiring?: number;
  /** Enables stallForTest(); only tests set it. */
  testHooks?: boolean;
  /**
   * The store that writes the database behind the event loop (ThreadedSqliteStore): a query waits until
   * what was queued before it is committed, and a search until it is indexed too, so a user finds what
   * was just said.
   */
  store?: { caughtUp(forSearch: boolean): Promise<void> | undefined };
}

/**
 * A reader thread that failed is restarted after a delay that doubles up to a minute, so a database that
 * cannot be opened makes neither a busy loop nor a flood of log lines.
 */
const RESTART_DELAY_MS = 1000;
const MAX_RESTART_DELAY_MS = 60_000;
/** close() waits at most this long for threads to exit: one stuck in a native query must not hold up a shutdown. */
const CLOSE_WAIT_MS = 2000;

/** Refuses limits and word counts that the callers (the commands) must never pass. */
function checkQuery(limit: number, words?: readonly string[]): void {
  if (!Number.isInteger(limit) || limit < 0 || limit > LIMITS.maxReplay) throw new RangeError(`history limit ${limit} is not 0 to ${LIMITS.maxReplay}`);
  if (words !== undefined && words.length > LIMITS.maxSearchWords) throw new RangeError(`at most ${LIMITS.maxSearchWords} search words, got ${words.length}`);
}

/** Runs `check` and the query as a promise, so a RangeError becomes a rejection like every other failure. */
function settle<T>(run: () => T): Promise<T> {
  try {
    return Promise.resolve(run());
  } catch (error) {
    return Promise.reject(error as Error);
  }
}

/** A request without its id, kept distributive so each op keeps its own fields. */
type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;
type Query = WithoutId<ReaderRequest>;

interface Job {
  query: Query;
  resolve(value: unknown): void;
  reject(error: Error): void;
  /** Refuses the job when it has waited maxWaitMs for a thread. */
  waitTimer?: NodeJS.Timeout;
  /** Test hook: called when a stall has started in its thread. */
  onStall?: () => void;
  /** Told how long the query ran in its thread (for the asking client's budget of query time). */
  spent?: QueryTimer;
}

interface Running {
  id: number;
  job: Job;
  /** The time budget: when it fires the thread is ended and replaced. */
  timer: NodeJS.Timeout;
  /** When the thread was handed the query (performance.now()). */
  started: number;
}

interface Thread {
  worker: Worker;
  ready: boolean;
  running: Running | undefined;
  /** Why the thread failed, when it did (logged once it has exited). */
  failure?: string;
}

/** Starts one reader thread; under ts-node (unit tests) the TypeScript worker file is loaded through ts-node. */
function startWorker(data: ReaderData): Worker {
  const file = path.join(__dirname, `history-reader-worker${path.extname(__filename)}`);
  if (__filename.endsWith('.ts')) {
    return new Worker(`require('ts-node/register'); require(${JSON.stringify(file)});`, { eval: true, workerData: data });
  }
  return new Worker(file, { workerData: data });
}

/**
 * History queries answered by a small pool of worker threads, each with its own read-only connection
 * to the database (WAL lets them read while the main thread writes; they see committed rows only).
 * Queries wait in one bounded FIFO queue. A query that exceeds its time budget is refused with
 * QUERY_TIMEOUT and its thread, which cannot be interrupted inside SQLite, is terminated and replaced at
 * once; at most maxRetiring such threads may still be finishing, beyond that new queries get HISTORY_BUSY.
 */
export class WorkerHistoryReader implements HistoryQueries {
  private readonly settings: Required<Omit<WorkerReaderOptions, 'log' | 'dataDir' | 'store'>>;
  private readonly data: ReaderData;
  private readonly threads = new Set<Thread>();
  /** Terminated threads still finishing their native query, with the promise of their exit. */
  private readonly retiring = new Map<Worker, Promise<unknown>>();
  private readonly queue: Job[] = [];
  private nextId = 1;
  private closed = false;
  private restartAt = 0;
  private restartDelay = RESTART_DELAY_MS;
  private restartTimer: NodeJS.Timeout | undefined;
  private readyWaiters: Array<() => void> = [];

  constructor(private readonly options: WorkerReaderOptions) {
    this.settings = {
      poolSize: options.poolSize ?? READER_DEFAULTS.poolSize,
      timeoutMs: options.timeoutMs ?? READER_DEFAULTS.timeoutMs,
      maxQueue: options.maxQueue ?? READER_DEFAULTS.maxQueue,
      maxWaitMs: options.maxWaitMs ?? READER_DEFAULTS.maxWaitMs,
      maxRetiring: options.maxRetiring ?? READER_DEFAULTS.maxRetiring,
      testHooks: options.testHooks ?? false,
    };
    if (this.settings.poolSize < 1) throw new RangeError('poolSize must be at least 1');
    this.data = { file: path.join(options.dataDir, DATABASE_FILE), testHooks: this.settings.testHooks };
    this.refill();
  }

  recent(roomKey: string, limit: number, uptoId?: number, spent?: QueryTimer): Promise<HistoryPage> {
    return this.submit({ op: 'recent', roomKey, limit, uptoId }, () => checkQuery(limit), undefined, spent) as Promise<HistoryPage>;
  }

  before(roomKey: string, beforeId: number, limit: number, spent?: QueryTimer): Promise<HistoryPage> {
    return this.submit({ op: 'before', roomKey, beforeId, limit }, () => checkQuery(limit), undefined, spent) as Promise<HistoryPage>;
  }

  search(roomKey: string, words: string[], limit: number, spent?: QueryTimer): Promise<HistoryEntry[]> {
    return this.submit({ op: 'search', roomKey, words, limit }, () => checkQuery(limit, words), undefined, spent) as Promise<HistoryEntry[]>;
  }


  /**
   * Test hook (needs testHooks): a native SQLite query that runs for about `ms` milliseconds in a reader
   * thread; `onStarted` is called once the thread is inside it.
   */
  stallForTest(ms: number, onStarted?: () => void): Promise<void> {
    return this.submit(
      { op: 'stall', ms },
      () => {
        if (!this.settings.testHooks) throw new Error('stallForTest needs the testHooks option');
      },
      onStarted,
    ) as Promise<void>;
  }

  /** Resolves once the whole pool has opened the database, or the reader is closed (start-up and tests; queries need not wait). */
  ready(): Promise<void> {
    if (this.closed || this.allReady()) return Promise.resolve();
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  private allReady(): boolean {
    return this.threads.size === this.settings.poolSize && [...this.threads].every((thread) => thread.ready);
  }

  /** Current numbers of live threads, terminated threads still finishing, and waiting queries (for tests and logs). */
  stats(): { threads: number; retiring: number; queued: number } {
    return { threads: this.threads.size, retiring: this.retiring.size, queued: this.queue.length };
  }

  /**
   * Refuses every waiting and running query, ends every thread and resolves once all have exited, or
   * after CLOSE_WAIT_MS: a thread inside a native query exits only when that query ends, and process
   * exit does not wait for it.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    for (const resolve of this.readyWaiters.splice(0)) resolve();
    const refusal = new HistoryQueryError('HISTORY_BUSY', 'The server is shutting down.');
    for (const job of this.queue.splice(0)) {
      clearTimeout(job.waitTimer);
      job.reject(refusal);
    }
    const exits: Array<Promise<unknown>> = [...this.retiring.values()];
    for (const thread of [...this.threads]) {
      if (thread.running) {
        clearTimeout(thread.running.timer);
        thread.running.job.reject(refusal);
        thread.running = undefined;
      }
      exits.push(this.retire(thread));
    }
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), CLOSE_WAIT_MS)));
    const outcome = await Promise.race([Promise.all(exits), late]);
    clearTimeout(timer);
    if (outcome === 'late') this.options.log.log('warn', 'history-reader-close-late', { stillRunning: this.retiring.size });
  }

  private submit(query: Query, check: () => void, onStall?: () => void, spent?: QueryTimer): Promise<unknown> {
    try {
      check();
    } catch (error) {
      return Promise.reject(error as Error);
    }
    const caughtUp = query.op === 'stall' ? undefined : this.options.store?.caughtUp(query.op === 'search');
    if (caughtUp !== undefined) return caughtUp.then(() => this.enqueue(query, onStall, spent));
    return this.enqueue(query, onStall, spent);
  }

  /** Queues a checked query for the next idle thread. */
  private enqueue(query: Query, onStall?: () => void, spent?: QueryTimer): Promise<unknown> {
    // The executor runs now, so queries are queued in the order they were asked for.
    return new Promise((resolve, reject) => {
      if (this.closed) throw new HistoryQueryError('HISTORY_BUSY', 'The server is shutting down.');
      if (this.queue.length >= this.settings.maxQueue || this.threads.size === 0) {
        this.options.log.log('debug', 'history-busy', { queued: this.queue.length, threads: this.threads.size, retiring: this.retiring.size });
        throw new HistoryQueryError('HISTORY_BUSY', 'The server has too many history queries waiting; try again in a moment.');
      }
      const job: Job = { query, resolve, reject, onStall, spent };
      job.waitTimer = setTimeout(() => {
        const index = this.queue.indexOf(job);
        if (index < 0) return;
        this.queue.splice(index, 1);
        reject(new HistoryQueryError('HISTORY_BUSY', 'The server has too many history queries waiting; try again in a moment.'));
      }, this.settings.maxWaitMs);
      this.queue.push(job);
      this.dispatch();
    });
  }

  /** Hands waiting queries, oldest first, to idle ready threads. */
  private dispatch(): void {
    for (const thread of this.threads) {
      if (this.queue.length === 0) return;
      if (!thread.ready || thread.running) continue;
      const job = this.queue.shift()!;
      clearTimeout(job.waitTimer);
      const id = this.nextId++;
      const timer = setTimeout(() => this.timeOut(thread), this.settings.timeoutMs);
      thread.running = { id, job, timer, started: performance.now() };
      thread.worker.postMessage({ ...job.query, id } as ReaderRequest);
    }
  }

  private timeOut(thread: Thread): void {
    const running = thread.running;
    if (!running) return;
    thread.running = undefined;
    running.job.spent?.(performance.now() - running.started);
    this.options.log.log('warn', 'history-query-timeout', { op: running.job.query.op, budgetMs: this.settings.timeoutMs, retiring: this.retiring.size + 1 });
    running.job.reject(new HistoryQueryError('QUERY_TIMEOUT', `The query took longer than ${this.settings.timeoutMs} ms; narrow it and try again.`));
    void this.retire(thread);
    this.refill();
    this.refuseIfNoThreads();
    this.dispatch();
  }

  /** Terminates a thread; it counts as retiring until it has really exited. */
  private retire(thread: Thread): Promise<unknown> {
    this.threads.delete(thread);
    const exited = thread.worker.terminate().catch(() => undefined);
    this.retiring.set(thread.worker, exited);
    return exited;
  }

  /** Starts threads up to poolSize, while the threads alive (retiring ones included) stay within poolSize + maxRetiring. */
  private refill(): void {
    const { poolSize, maxRetiring } = this.settings;
    const now = Date.now();
    if (now < this.restartAt) {
      if (!this.restartTimer) {
        this.restartTimer = setTimeout(() => {
          this.restartTimer = undefined;
          this.refill();
        }, this.restartAt - now);
        this.restartTimer.unref();
      }
      return;
    }
    while (!this.closed && this.threads.size < poolSize && this.threads.size + this.retiring.size < poolSize + maxRetiring) this.spawn();
  }

  private spawn(): void {
    const thread: Thread = { worker: startWorker(this.data), ready: false, running: undefined };
    this.threads.add(thread);
    const { worker } = thread;
    worker.on('message', (message: ReaderReply | { ready: true } | { stalling: number }) => {
      if ('stalling' in message) {
        if (thread.running?.id === message.stalling) thread.running.job.onStall?.();
        return;
      }
      if ('ready' in message) {
        thread.ready = true;
        this.restartDelay = RESTART_DELAY_MS;
        if (this.allReady()) for (const resolve of this.readyWaiters.splice(0)) resolve();
        this.dispatch();
        return;
      }
      const running = thread.running;
      if (!running || running.id !== message.id) return;
      clearTimeout(running.timer);
      thread.running = undefined;
      running.job.spent?.(performance.now() - running.started);
      if (message.ok) running.job.resolve(message.value);
      else {
        this.options.log.log('error', 'history-query-failed', { op: running.job.query.op, error: message.error });
        running.job.reject(new HistoryQueryError('HISTORY_BUSY', 'History cannot be read right now; try again later.'));
      }
      this.dispatch();
    });
    worker.on('error', (error) => {
      thread.failure = error.message;
    });
    worker.on('exit', () => {
      if (this.retiring.delete(worker)) {
        this.options.log.log('debug', 'history-reader-retired', { retiring: this.retiring.size });
      } else if (this.threads.delete(thread)) {
        // Not asked to exit: it failed (the database could not be opened, or it crashed).
        this.options.log.log('error', 'history-reader-failed', { error: thread.failure ?? 'the thread exited', retryInMs: this.restartDelay });
        if (thread.running) {
          clearTimeout(thread.running.timer);
          thread.running.job.reject(new HistoryQueryError('HISTORY_BUSY', 'History cannot be read right now; try again later.'));
        }
        this.restartAt = Date.now() + this.restartDelay;
        this.restartDelay = Math.min(MAX_RESTART_DELAY_MS, this.restartDelay * 2);
      }
      this.refill();
      this.refuseIfNoThreads();
      this.dispatch();
    });
  }

  /** With no thread left to answer them (none can start now), waiting queries are refused at once, like new ones. */
  private refuseIfNoThreads(): void {
    if (this.threads.size > 0) return;
    for (const job of this.queue.splice(0)) {
      clearTimeout(job.waitTimer);
      job.reject(new HistoryQueryError('HISTORY_BUSY', 'History cannot be read right now; try again in a moment.'));
    }
  }
}

/**
 * HistoryQueries answered synchronously on the calling thread from a HistoryStore, for unit tests of the
 * core that need no worker. It applies the same word rules (the store uses search-terms.ts) and the same
 * checks; unlike the worker reader it also sees entries not yet committed. close() leaves the store open.
 */
export function inlineQueries(store: SyncHistoryStore): HistoryQueries {
  /** A page from up to limit + 1 oldest-first entries: the extra oldest one only says that more exist. */
  const page = (entries: HistoryEntry[], limit: number): HistoryPage =>
    entries.length > limit ? { entries: entries.slice(entries.length - limit), more: true } : { entries, more: false };
  return {
    recent: (roomKey, limit, uptoId) =>
      settle(() => {
        checkQuery(limit);
        if (limit === 0) return { entries: [], more: false };
        return page(uptoId === undefined ? store.recent(roomKey, limit + 1) : store.before(roomKey, uptoId + 1, limit + 1), limit);
      }),
    before: (roomKey, beforeId, limit) =>
      settle(() => {
        checkQuery(limit);
        if (limit === 0) return { entries: [], more: false };
        return page(store.before(roomKey, beforeId, limit + 1), limit);
      }),
    search: (roomKey, words, limit) =>
      settle(() => {
        checkQuery(limit, words);
        return store.search(roomKey, words, limit);
      }),
    close: () => Promise.resolve(),
  };
}
