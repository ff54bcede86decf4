import { ChatError } from '../protocol/errors';
import { nameKey, neutralise } from '../protocol/text-hygiene';
import type { Logger } from '../log';
import type { ChatEvent } from './events';
import { historyEnd, historyEvent } from './history-lines';
import type { Clock } from './ports/clock';
import type { HistoryPage, HistoryQueries } from './ports/history-queries';
import type { HistoryEntry, HistoryKind, HistoryStore, NewHistoryEntry, PruneResult, RetentionPolicy } from './ports/history-store';
import { notice } from './replies';
import type { Room, Session } from './session';

/** How long joiners of one room share a replay page that was read for the same newest id. */
const REPLAY_SHARE_MS = 1000;

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
   * none of that room.
   */
  reader(room: Room, forSearch = false): HistoryQueries {
    const { history, historyQueries } = this.options;
    if (history === undefined || historyQueries === undefined) throw new ChatError('NO_HISTORY', 'This server keeps no history.');
    if (this.keepsNothing(room)) throw new ChatError('NO_HISTORY', `Nothing said in ${room.name} is stored on this server, so it has no history to show or search.`);
    if (forSearch && history.catchUpSearch !== undefined) history.catchUpSearch();
    else history.commit();
    return historyQueries;
  }

  /**
   * Replays `room`'s recent history to `session`, which just entered it, then `ok`: live events that arrive
   * while the store is read are held back and follow it. Returns undefined when there is nothing to replay
   * (the caller sends `ok` itself). `overflow` is called for a session that fell too far behind meanwhile.
   * `intro` goes first: the join's own lines, when the session was already held before the replay began.
   */
  replay(session: Session, room: Room, ok: ChatEvent, overflow: (session: Session) => void, intro: readonly ChatEvent[] = []): Promise<void> | undefined {
    const { history, historyQueries: queries } = this.options;
    // A room where nothing was ever said (a topic alone does not count) has nothing worth a query.
    if (!session.replay || this.options.historyReplay <= 0 || !history || !queries || !room.persistent || !room.used || this.keepsNothing(room)) return undefined;
    // Everything said before this join is committed and replayed; everything after it is live (held).
    history.commit();
    const uptoId = history.lastMessageId();
    session.hold();
    return this.replayPage(queries, room, uptoId).then(
      ({ entries }) => {
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

  /** Applies retention in one bounded step (undefined: no store); logs what it deleted. */
  prune(policy: RetentionPolicy): PruneResult | undefined {
    const store = this.options.history;
    if (store === undefined) return undefined;
    const result = store.prune(this.options.clock.now(), policy);
    if (result.deletedMessages > 0) this.options.log.log('info', 'history-pruned', { messages: result.deletedMessages, unusedRooms: result.unusedRooms.length });
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
   * joiner. The map holds only pages of the last second.
   */
  private replayPage(queries: HistoryQueries, room: Room, uptoId: number): Promise<HistoryPage> {
    const now = this.options.clock.now();
    const limit = this.options.historyReplay;
    const cached = this.replayPages.get(room);
    if (cached !== undefined && cached.uptoId === uptoId && cached.limit === limit && now - cached.at < REPLAY_SHARE_MS) return cached.page;
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
