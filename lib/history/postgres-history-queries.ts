import type pg from 'pg';
import type { Logger } from '../log';
import { LIMITS } from '../protocol/limits';
import type { HistoryPage, HistoryQueries, QueryTimer } from '../core/ports/history-queries';
import type { HistoryEntry, HistoryKind } from '../core/ports/history-store';
import { HistoryQueryError } from './history-reader';
import { makePool, type PostgresHistoryStore } from './postgres-history-store';
import { tsqueryLiteral } from './postgres-search';

/** Settings of the PostgreSQL reader; the defaults match the worker reader's (README "History"). */
export interface PostgresQueriesOptions {
  url: string;
  log: Logger;
  /** The store this node writes with: replay marks (negative uptoId) are resolved against its writes. */
  store: PostgresHistoryStore;
  /** Connections for reads (default 4): PostgreSQL runs them in its own processes, so several do not stall chat. */
  poolSize?: number;
  /** Time budget of one query, enforced by the server (statement_timeout): past it, QUERY_TIMEOUT. */
  timeoutMs?: number;
  /** Queries running or waiting for a connection; beyond it HISTORY_BUSY. */
  maxQueue?: number;
  /** Longest a query waits for a connection before HISTORY_BUSY. */
  maxWaitMs?: number;
  /**
   * Searches running at once (default 2, half the pool): a search can cost its whole time budget, so
   * this many busy ones still leave connections for replays and /history pages, which are cheap.
   */
  maxSearches?: number;
}

/** PostgreSQL's SQLSTATE for a statement cancelled by statement_timeout. */
const QUERY_CANCELED = '57014';

interface Row {
  id: number;
  at: number;
  nick: string;
  kind: HistoryKind;
  text: string;
}

/** Refuses limits and word counts that the callers (the commands) must never pass, as the worker reader does. */
function checkQuery(limit: number, words?: readonly string[]): void {
  if (!Number.isInteger(limit) || limit < 0 || limit > LIMITS.maxReplay) throw new RangeError(`history limit ${limit} is not 0 to ${LIMITS.maxReplay}`);
  if (words !== undefined && words.length > LIMITS.maxSearchWords) throw new RangeError(`at most ${LIMITS.maxSearchWords} search words, got ${words.length}`);
}

/**
 * History queries answered by PostgreSQL over a small bounded pool. Each query is one statement (one
 * snapshot) that looks the room up by key in a sub-select (so the planner walks the (room_id, id) index
 * newest first and stops at the limit, where a join would sort the whole room), so a room forgotten and re-created meanwhile never mixes in
 * another room's rows. The server enforces the time budget (statement_timeout) and cancels the query, so
 * unlike SQLite no thread has to be abandoned.
 */
export class PostgresHistoryQueries implements HistoryQueries {
  private readonly pool: pg.Pool;
  private readonly settings: Required<Omit<PostgresQueriesOptions, 'url' | 'log' | 'store'>>;
  /** Queries running or waiting for a connection. */
  private active = 0;
  /** Searches holding one of the maxSearches slots, and those waiting for one (oldest first). */
  private searching = 0;
  private readonly searchWaiters: Array<() => void> = [];
  private closed = false;

  constructor(private readonly options: PostgresQueriesOptions) {
    this.settings = {
      poolSize: options.poolSize ?? 4,
      timeoutMs: options.timeoutMs ?? 1000,
      maxQueue: options.maxQueue ?? 256,
      maxWaitMs: options.maxWaitMs ?? 5000,
      maxSearches: options.maxSearches ?? 2,
    };
    this.pool = makePool(options.url, options.log, {
      max: this.settings.poolSize,
      statementTimeoutMs: this.settings.timeoutMs,
      // The client-side bound covers a server that stopped answering; it must not fire before the server's.
      roundTripMs: this.settings.timeoutMs + this.settings.maxWaitMs,
      name: 'mychatd-reader',
    });
  }

  /**
   * The newest `limit` entries with id <= uptoId. A negative uptoId is the store's replay mark
   * (lastMessageId): this node's own messages are bounded by what it had queued at the mark, once written,
   * while other nodes' messages are all included (they reach a joiner only through the replay or the bus).
   */
  async recent(roomKey: string, limit: number, uptoId?: number, spent?: QueryTimer): Promise<HistoryPage> {
    let bound = uptoId ?? Number.MAX_SAFE_INTEGER;
    let own = Number.MAX_SAFE_INTEGER;
    if (bound < 0) {
      // Waits (without holding a connection) until what this node queued before the mark is written.
      own = await this.options.store.ownBound(-1 - bound);
      bound = Number.MAX_SAFE_INTEGER;
    }
    return this.run(async (client) => {
      if (limit === 0) return { entries: [], more: false };
      const rows = await client.query<Row>(
        `SELECT m.id, m.at, m.nick, m.kind, m.text FROM messages m
         WHERE m.room_id = (SELECT id FROM rooms WHERE key = $1) AND m.id <= $2 AND (m.node <> $3 OR m.id <= $4) ORDER BY m.id DESC LIMIT $5`,
        [roomKey, bound, this.options.store.node, own, limit + 1],
      );
      return this.page(rows.rows, roomKey, limit);
    }, { limit, spent });
  }

  before(roomKey: string, beforeId: number, limit: number, spent?: QueryTimer): Promise<HistoryPage> {
    return this.run(async (client) => {
      if (limit === 0) return { entries: [], more: false };
      const rows = await client.query<Row>(
        `SELECT m.id, m.at, m.nick, m.kind, m.text FROM messages m
         WHERE m.room_id = (SELECT id FROM rooms WHERE key = $1) AND m.id < $2 ORDER BY m.id DESC LIMIT $3`,
        [roomKey, beforeId, limit + 1],
      );
      return this.page(rows.rows, roomKey, limit);
    }, { limit, spent });
  }

  search(roomKey: string, words: string[], limit: number, spent?: QueryTimer): Promise<HistoryEntry[]> {
    return this.run(async (client) => {
      const query = tsqueryLiteral(words);
      if (query === undefined || limit === 0) return [];
      const rows = await client.query<Row>(
        `SELECT m.id, m.at, m.nick, m.kind, m.text FROM messages m
         WHERE m.room_id = (SELECT id FROM rooms WHERE key = $1) AND m.search @@ $2::tsquery ORDER BY m.id DESC LIMIT $3`,
        [roomKey, query, limit],
      );
      return rows.rows.map((row) => this.entry(row, roomKey));
    }, { limit, words, spent, search: true });
  }

  /** Ends the pool; later queries are refused with HISTORY_BUSY. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end().catch(() => undefined);
  }

  /**
   * Runs one query on a pooled connection within the queue bound (a search also within maxSearches), and
   * tells `spent` how long it ran on its connection. Argument errors (RangeError) reject as they are; a
   * statement cancelled for time is QUERY_TIMEOUT; anything else (the database down, no free connection
   * or search slot in time) is HISTORY_BUSY.
   */
  private async run<T>(
    query: (client: pg.PoolClient) => Promise<T>,
    { limit, words, spent, search = false }: { limit: number; words?: readonly string[]; spent?: QueryTimer; search?: boolean },
  ): Promise<T> {
    checkQuery(limit, words);
    if (this.closed) throw new HistoryQueryError('HISTORY_BUSY', 'The server is shutting down.');
    if (this.active >= this.settings.maxQueue) {
      this.options.log.log('debug', 'history-busy', { queued: this.active });
      throw new HistoryQueryError('HISTORY_BUSY', 'The server has too many history queries waiting; try again in a moment.');
    }
    this.active++;
    let client: pg.PoolClient | undefined;
    let slot = false;
    let started: number | undefined;
    try {
      const deadline = Date.now() + this.settings.maxWaitMs;
      if (search) slot = await this.searchSlot(deadline);
      // Read your own writes: what this node queued before the query (a /search right after a message) is written first.
      await this.options.store.caughtUp();
      client = await this.connect(deadline);
      started = performance.now();
      const result = await query(client);
      client.release();
      return result;
    } catch (error) {
      if (client !== undefined) client.release(error as Error);
      if (error instanceof HistoryQueryError || error instanceof RangeError) throw error;
      // Queries cut off by close() at shutdown are refused quietly.
      if (this.closed) throw new HistoryQueryError('HISTORY_BUSY', 'The server is shutting down.');
      if ((error as { code?: string }).code === QUERY_CANCELED) {
        this.options.log.log('warn', 'history-query-timeout', { budgetMs: this.settings.timeoutMs });
        throw new HistoryQueryError('QUERY_TIMEOUT', `The query took longer than ${this.settings.timeoutMs} ms; narrow it and try again.`);
      }
      this.options.log.log('error', 'history-query-failed', { error: (error as Error).message });
      throw new HistoryQueryError('HISTORY_BUSY', 'History cannot be read right now; try again later.');
    } finally {
      this.active--;
      if (started !== undefined) spent?.(performance.now() - started);
      // A finished search hands its slot to the oldest waiting one, if any (the count stays).
      if (slot) {
        const next = this.searchWaiters.shift();
        if (next !== undefined) next();
        else this.searching--;
      }
    }
  }

  /** Takes one of the maxSearches slots (true), waiting in order until `deadline`, then HISTORY_BUSY. */
  private async searchSlot(deadline: number): Promise<boolean> {
    if (this.searching < this.settings.maxSearches && this.searchWaiters.length === 0) {
      this.searching++;
      return true;
    }
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve, reject) => {
      const wake = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.searchWaiters.push(wake);
      timer = setTimeout(() => {
        // Out of the line before refusing, so no finishing search hands its slot to a refused one.
        this.searchWaiters.splice(this.searchWaiters.indexOf(wake), 1);
        reject(new HistoryQueryError('HISTORY_BUSY', 'The server has too many searches running; try again in a moment.'));
      }, Math.max(0, deadline - Date.now()));
    });
    return true;
  }

  /** A pooled connection, or HISTORY_BUSY at `deadline` (maxWaitMs after the query was asked for). */
  private async connect(deadline: number): Promise<pg.PoolClient> {
    let timer: NodeJS.Timeout | undefined;
    const connecting = this.pool.connect();
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new HistoryQueryError('HISTORY_BUSY', 'The server has too many history queries waiting; try again in a moment.')),
        Math.max(0, deadline - Date.now()),
      );
    });
    try {
      return await Promise.race([connecting, late]);
    } catch (error) {
      // A connection that arrives after the deadline goes back to the pool.
      connecting.then((client) => client.release(), () => undefined);
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  private entry(row: Row, roomKey: string): HistoryEntry {
    return { id: row.id, roomKey, at: row.at, nick: row.nick, kind: row.kind, text: row.text };
  }

  /** Newest-first rows, one more than wanted, as an oldest-first page. */
  private page(rows: Row[], roomKey: string, limit: number): HistoryPage {
    return { entries: rows.slice(0, limit).map((row) => this.entry(row, roomKey)).reverse(), more: rows.length > limit };
  }
}
