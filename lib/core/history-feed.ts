import { ChatError } from '../protocol/errors';
import { nameKey, neutralise } from '../protocol/text-hygiene';
import type { Logger } from '../log';
import type { ChatEvent } from './events';
import { historyEnd, historyEvent } from './history-lines';
import type { Clock } from './ports/clock';
import type { HistoryPage, HistoryQueries, QueryTimer } from './ports/history-queries';
import type { HistoryEntry, HistoryKind, HistoryStore, NewHistoryEntry, PruneResult, RetentionPolicy } from './ports/history-store';
import { notice } from './replies';
import type { Room, Session } from './session';

/** Longest a PONG waits for the store to have what came before its PING (see stored()). */
const STORED_WAIT_MS = 2000;
/** How long joiners of one room share a replay page that was read for the same newest id. */
const REPLAY_SHARE_MS = 1000;
/** How often a long retention pass logs how far it has got (history-pruning) before its final history-pruned line. */
export const PRUNE_PROGRESS_LOG_MS = 10_000;
/**
 * Each client's budget of history query time (/history and /search; replays are shared and not counted):
 * READ_BURST_MS at once, then READ_RATE ms per ms. A client that keeps asking for the costliest searches
 * gets HISTORY_BUSY instead of keeping a database connection or reader thread busy for everyone else;
 * ordinary use (queries of a few milliseconds) never comes near it.
 */
export const READ_BURST_MS = 5000;
/** See READ_BURST_MS: a quarter of one query slot, on average, per client. */
export const READ_RATE = 0.25;

/** The settings the feed reads when it needs them, so a config reload applies at once. */
export interface HistoryFeedOptions {
  readonly clock: Clock;
  readonly log: Logger;
  /** Where room history is kept; without one, nothing is stored and /history answers NO_HISTORY. */
  readonly history?: HistoryStore;
  /** Reads of that history, answered off the event loop; required for reads. */
  readonly historyQueries?: HistoryQueries;
  /** Entries replayed when joining a room (0: none). */
  readonly historyReplay: number;
  /** Names of rooms whose history is not kept (matched by room key): nothing said there is stored or replayed. */
  readonly historyOffRooms?: readonly string[];
}

/**
 * The core's side of room history: storing what is said, telling senders once per storage outage, the
 * reader for /history and /search, the join replay (live events held back until it is sent) and retention.
 */
export class HistoryFeed {
  /** Counts storage outages, so each session is told once per outage. */
  private outageSerial = 0;
  /** Replay pages read in the last REPLAY_SHARE_MS, shared by joiners of the same room (see replayPage). */
  private readonly replayPages = new Map<Room, { uptoId: number; limit: number; at: number; page: Promise<HistoryPage> }>();
  /** Query time each client has left (READ_BURST_MS at most) and when it was last counted; only clients that read have one. */
  private readonly readTime = new WeakMap<Session, { left: number; at: number }>();
  /** What the retention pass under way has deleted so far, and when it started and last logged (see prune). */
  private prunePass: { messages: number; unusedRooms: number; steps: number; started: number; logged: number } | undefined;
  /** Room keys of historyOffRooms, and the list they were computed from (a reload replaces the list). */
  private offKeys: { names: readonly string[]; keys: ReadonlySet<string> } | undefined;

  constructor(private readonly options: HistoryFeedOptions) {}

  /**
   * Queues a room event for the history store (committed at the end of this event-loop turn); returns its
   * time, which the live event carries too.
   */
  record(session: Session, room: Room, kind: HistoryKind, text: string): number {
    const at = this.options.clock.now();
    const history = this.options.history;
    if (history === undefined || this.keepsNothing(room)) return at;
    history.append({ roomKey: room.key, roomName: room.name, at, nick: session.nick, kind, text });
    room.persistent = true;
    // A topic alone does not make a room used: setting one must not let a squatter keep a room.
    if (kind !== 'TOPIC') room.used = true;
    if (!history.healthy) this.noticeOutage(session);
    return at;
  }

  /**
   * Resolves once everything queued for the store so far is written (see HistoryStore.written); undefined
   * when nothing waits (no history, or a store that commits before output leaves).
   */
  stored(): Promise<void> | undefined {
    const written = this.options.history?.written?.();
    if (written === undefined) return undefined;
    // A store that stalls without failing must not hold a PONG (and the connection's next line) for long.
    const { clock } = this.options;
    return new Promise<void>((resolve) => {
      const timer = clock.setTimeout(resolve, STORED_WAIT_MS);
      void written.then(() => {
        clock.clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Tells the senders of unsaved entries (found by nickname with `sender`), once per outage, that history is not being saved. */
  outage(unsaved: readonly NewHistoryEntry[], sender: (nick: string) => Session | undefined): void {
    this.outageSerial++;
    const told = new Set<Session>();
    for (const entry of unsaved) {
      const session = sender(entry.nick);
      if (session !== undefined && !told.has(session)) {
        told.add(session);
        this.noticeOutage(session);
      }
    }
  }

  /**
   * True when nothing said in `room` is stored (its key is one of historyOffRooms): it is neither
   * replayed nor shown by /history or /search, even what was stored before it was listed.
   */
  keepsNothing(room: Room): boolean {
    const names = this.options.historyOffRooms;
    if (names === undefined || names.length === 0) return false;
    if (this.offKeys?.names !== names) this.offKeys = { names, keys: new Set(names.map(nameKey)) };
    return this.offKeys.keys.has(room.key);
  }

  /**
   * The reader for history queries about `room`, after committing what is queued (and, for a search,
   * indexing it) so a user finds what they have just said; NO_HISTORY when this server keeps none, or
   * none of that room. With `session`, the queries count against that client's query time
   * (READ_BURST_MS), and HISTORY_BUSY says when it has used it up.
   */
  reader(room: Room, forSearch = false, session?: Session): HistoryQueries {
    const { history, historyQueries } = this.options;
    if (history === undefined || historyQueries === undefined) throw new ChatError('NO_HISTORY', 'This server keeps no history.');
    if (this.keepsNothing(room)) throw new ChatError('NO_HISTORY', `Nothing said in ${room.name} is stored on this server, so it has no history to show or search.`);
    if (session === undefined) return this.caughtUp(history, historyQueries, forSearch);
    const budget = this.readBudget(session);
    if (budget.left <= 0) {
      const seconds = Math.ceil(-budget.left / READ_RATE / 1000) || 1;
      this.options.log.log('debug', 'history-read-budget', { id: session.id, waitS: seconds });
      throw new ChatError(
        'HISTORY_BUSY',
        `Your history queries used up your share of query time (${READ_BURST_MS / 1000} s at once, then ${READ_RATE * 1000} ms a second); try again in ${seconds} s, with fewer or longer words.`,
      );
    }
    const queries = this.caughtUp(history, historyQueries, forSearch);
    const spent: QueryTimer = (ms) => {
      this.readBudget(session).left -= ms;
    };
    return {
      recent: (roomKey, limit, uptoId) => queries.recent(roomKey, limit, uptoId, spent),
      before: (roomKey, beforeId, limit) => queries.before(roomKey, beforeId, limit, spent),
      search: (roomKey, words, limit) => queries.search(roomKey, words, limit, spent),
      close: () => queries.close(),
    };
  }

  /** Commits what is queued (for a search, also brings the index up to date) and returns the queries. */
  private caughtUp(history: HistoryStore, queries: HistoryQueries, forSearch: boolean): HistoryQueries {
    if (forSearch && history.catchUpSearch !== undefined) history.catchUpSearch();
    else history.commit();
    return queries;
  }

  /** `session`'s query time left, refilled up to now. */
  private readBudget(session: Session): { left: number; at: number } {
    const now = this.options.clock.now();
    let budget = this.readTime.get(session);
    if (budget === undefined) {
      budget = { left: READ_BURST_MS, at: now };
      this.readTime.set(session, budget);
    }
    budget.left = Math.min(READ_BURST_MS, budget.left + (now - budget.at) * READ_RATE);
    budget.at = now;
    return budget;
  }

  /**
   * Replays `room`'s recent history to `session`, which just entered it, then `ok`: live events that arrive
   * while the store is read are held back and follow it. Returns undefined when there is nothing to replay
   * (the caller sends `ok` itself). `overflow` is called for a session that fell too far behind meanwhile.
   * `intro` goes first: the join's own lines, when the session was already held before the replay began.
   */
  replay(session: Session, room: Room, ok: ChatEvent, overflow: (session: Session) => void, intro: readonly ChatEvent[] = []): Promise<void> | undefined {
    const { history, historyQueries: queries } = this.options;
    if (!session.replay || this.options.historyReplay <= 0 || !history || !queries || this.keepsNothing(room)) return undefined;
    // A room where nothing was ever said (a topic alone does not count) has nothing worth a query, unless
    // other servers write the same store: they may have said something there that this server never saw.
    // Such a look costs one bounded read, shared by every join of the room in the same second (replayPage).
    const known = room.persistent && room.used;
    if (!known && history.shared !== true) return undefined;
    // Everything said before this join is committed and replayed; everything after it is live (held).
    history.commit();
    const uptoId = history.lastMessageId();
    session.hold();
    return this.replayPage(queries, room, uptoId, !known).then(
      ({ entries }) => {
        if (!known) {
          // What other servers said there makes the room used here too: later joins replay it, and it does not expire.
          if (entries.some((entry) => entry.kind !== 'TOPIC')) room.used = true;
          room.persistent = true;
          // Nothing stored: the join looks as it does for a new room, with no history lines.
          if (entries.length === 0) {
            this.release(session, [ok], overflow);
            return;
          }
        }
        const end = entries.length > 0 ? `Replayed the last ${entries.length}; /history ${room.name} for more.` : 'No history yet.';
        this.release(session, [...intro, ...this.events(room, entries, end), ok], overflow);
      },
      (error: unknown) => {
        const why = error instanceof ChatError ? error.message : 'History could not be read.';
        this.options.log.log('warn', 'replay-failed', { id: session.id, room: room.name, error: error instanceof Error ? error.message : String(error) });
        this.release(session, [...intro, historyEnd(room, 0, `No replay: ${neutralise(why)}`), ok], overflow);
      },
    );
  }

  /** The history events for stored entries (oldest first) followed by one history-end event with `endText`. */
  events(room: Room, entries: readonly HistoryEntry[], endText: string): ChatEvent[] {
    const events: ChatEvent[] = entries.map((entry) => historyEvent(room, entry));
    events.push(historyEnd(room, entries.length, endText));
    return events;
  }

  /**
   * Applies retention in one bounded step (undefined: no store). What a pass deleted is logged once, when
   * its last step is done (a large backlog takes hundreds of steps, and a line per step would flood the
   * log), and meanwhile every PRUNE_PROGRESS_LOG_MS, so a pass cut short by a stop is not left untold.
   */
  prune(policy: RetentionPolicy): PruneResult | undefined {
    const store = this.options.history;
    if (store === undefined) return undefined;
    const now = this.options.clock.now();
    const result = store.prune(now, policy);
    const pass = (this.prunePass ??= { messages: 0, unusedRooms: 0, steps: 0, started: now, logged: now });
    pass.messages += result.deletedMessages;
    pass.unusedRooms += result.unusedRooms.length;
    if (result.pending !== true) pass.steps++;
    const fields = { messages: pass.messages, unusedRooms: pass.unusedRooms, steps: pass.steps, ms: now - pass.started };
    if (result.done) {
      this.prunePass = undefined;
      if (pass.messages > 0) this.options.log.log('info', 'history-pruned', fields);
    } else if (now - pass.logged >= PRUNE_PROGRESS_LOG_MS) {
      pass.logged = now;
      this.options.log.log('info', 'history-pruning', fields);
    }
    return result;
  }

  private noticeOutage(session: Session): void {
    if (session.outageNotified === this.outageSerial) return;
    session.outageNotified = this.outageSerial;
    session.deliver(notice('History cannot be saved right now (storage error): your messages are delivered live but may not be kept.'));
  }

  /**
   * The replay page of `room` up to `uptoId`. Joins that ask for the same page within a second share one
   * read, so a storm of joins (everyone reconnecting after a restart) costs one query per room, not one per
   * joiner. The map holds only pages of the last second. For a room this server has said nothing in
   * (`unused`, a look in a shared store), any page of the last second will do whatever its `uptoId`: this
   * server queued no message there meanwhile (it would be used), so a join storm or a join-and-part loop
   * costs at most one read per room a second, even when the look found nothing.
   */
  private replayPage(queries: HistoryQueries, room: Room, uptoId: number, unused: boolean): Promise<HistoryPage> {
    const now = this.options.clock.now();
    const limit = this.options.historyReplay;
    const cached = this.replayPages.get(room);
    if (cached !== undefined && (cached.uptoId === uptoId || unused) && cached.limit === limit && now - cached.at < REPLAY_SHARE_MS) return cached.page;
    for (const [other, entry] of this.replayPages) if (now - entry.at >= REPLAY_SHARE_MS) this.replayPages.delete(other);
    const page = queries.recent(room.key, limit, uptoId);
    this.replayPages.set(room, { uptoId, limit, at: now, page });
    // A failed read is not shared with later joiners: they try again.
    page.catch(() => {
      if (this.replayPages.get(room)?.page === page) this.replayPages.delete(room);
    });
    return page;
  }

  /** Sends a replay and what was held during it; a session that got too far behind meanwhile is handed to `overflow`. */
  private release(session: Session, replay: readonly ChatEvent[], overflow: (session: Session) => void): void {
    if (!session.release(replay)) overflow(session);
  }
}
