/** Kinds of stored events: room messages, /me actions, topic changes and /paste blocks (lines joined by "\n"). */
export type HistoryKind = 'MSG' | 'ACTION' | 'TOPIC' | 'PASTE';

/** An event to store; the store assigns its id when the batch that holds it commits. */
export interface NewHistoryEntry {
  /** Case-folded room key (the unique identity of a room). */
  roomKey: string;
  /** The room's display name, stored when the room is first seen. */
  roomName: string;
  /** Milliseconds since the epoch (UTC). */
  at: number;
  nick: string;
  kind: HistoryKind;
  /** Already neutralised text (for TOPIC: the new topic, empty when cleared). */
  text: string;
}

/** A room to persist as soon as it is created, before anything is said in it. */
export interface NewRoom {
  roomKey: string;
  roomName: string;
  /** Creation time, ms since the epoch. */
  at: number;
  /** The creator's address block (see addressPrefix): logged so the per-creator limit survives a restart. */
  creator?: string;
}

/** A room the core forgot (unused, expired or reclaimed): the store drops it and whatever it still holds. */
export interface ForgottenRoom {
  roomKey: string;
  forget: true;
}

/** How far back the store's log of room creations reaches: the window of LIMITS.maxRoomsCreatedPerHour. */
export const ROOM_CREATION_WINDOW_MS = 3_600_000;

/** Rooms one address block created since some time, as read back from the store's log at start. */
export interface RoomCreations {
  creator: string;
  count: number;
  /** Time of the earliest of those creations, ms since the epoch. */
  first: number;
}

/** A stored event as read back. */
export interface HistoryEntry {
  id: number;
  roomKey: string;
  at: number;
  nick: string;
  kind: HistoryKind;
  text: string;
}

/** A room as persisted: it is kept until the core forgets it. */
export interface StoredRoom {
  key: string;
  name: string;
  topic: string;
  topicBy: string;
  topicAt: number;
  /** True when a message or action of it is stored (topic changes alone do not count). */
  used: boolean;
}

/** What pruning removed. */
export interface PruneResult {
  deletedMessages: number;
  /**
   * Keys of rooms left with no stored message or action (topic changes aside), reported when a pass ends;
   * the core forgets them once they are also empty of members for long enough.
   */
  unusedRooms: string[];
  /** False when another call is needed to finish (pruning works in bounded steps). */
  done: boolean;
  /**
   * True when the call ran no step: a store whose steps finish later started one, or one is still running
   * (see lib/history/stepwise-prune.ts). It is not counted as a step.
   */
  pending?: boolean;
}

/** Retention limits applied by prune. */
export interface RetentionPolicy {
  maxMessagesPerRoom: number;
  maxAgeMs: number;
}

/**
 * Where room history lives: what the core calls. The embedded SQLite store implements it, and so does the
 * PostgreSQL store shared by several nodes. Clients' reads go through HistoryQueries (asynchronous); a
 * store whose writes complete asynchronously loads rooms and creations before the core starts, starts a
 * write in commit() and returns at once, and reports retention steps as they finish (see prune).
 */
export interface HistoryStore {
  /**
   * Rooms that persist across restarts. With `keyOf`, each room's key is first recomputed from its name
   * (databases made with an older key function are upgraded in place; rooms whose names now share a key
   * are merged into the oldest, keeping every message).
   */
  loadRooms(keyOf?: (name: string) => string): StoredRoom[];
  /** Queues an entry; it is committed with its batch at the end of the event-loop turn (or by commit()). */
  append(entry: NewHistoryEntry): void;
  /** Queues a new room, committed like an entry; saving a room that exists changes nothing. */
  saveRoom(room: NewRoom): void;
  /** Queues forgetting a room: its name is free at once, what it held is deleted in bounded steps by prune. */
  forgetRoom(roomKey: string): void;
  /** Rooms created per address block since `since` (ms since the epoch), from the store's creation log. */
  loadRoomCreations(since: number): RoomCreations[];
  /** Commits queued entries now; never throws (failures are logged and retried; during an outage it returns at once). */
  commit(): void;
  /**
   * For a store that adds committed entries to its search index behind the commits: commits, then brings
   * the index up to date (within a bound the store documents), so a search finds what was just said.
   * Called before each search instead of commit(); never throws.
   */
  catchUpSearch?(): void;
  /**
   * Id of the newest committed message (0 when there is none): a replay reads up to it, so live lines held
   * meanwhile are not shown twice. A store that commits asynchronously may return instead a mark that only
   * its own HistoryQueries understand (the PostgreSQL store: a negative number, "what this node queued so far").
   */
  lastMessageId(): number;
  /**
   * Applies retention in one bounded step; also deletes what forgotten rooms held and old creation-log rows.
   * A store that prunes asynchronously starts a step and answers `done: false` until a call finds it finished
   * (the caller keeps calling, as daemon/retention.ts does).
   */
  prune(now: number, policy: RetentionPolicy): PruneResult;
  /**
   * For a store that commits behind the output (a writer thread, a database over the network): resolves
   * once everything queued so far is written (or taken into the outage backlog), within a bound the store
   * documents; undefined when nothing is waiting. A PONG waits for it, so it proves the lines before it stored.
   */
  written?(): Promise<void> | undefined;
  /** True while writes succeed; false during a storage outage. */
  readonly healthy: boolean;
  /**
   * True when other servers write the same store (PostgreSQL shared by the nodes of a cluster): a room this
   * server never saw used may hold their messages, so joining it reads the store once to find out.
   */
  readonly shared?: boolean;
  /** Commits what is queued and closes the store. */
  close(): void;
}

/**
 * A store that can also read synchronously on the calling thread (the SQLite store): unit tests read it
 * directly or through inlineQueries. Reads see every appended entry, committed or not.
 */
export interface SyncHistoryStore extends HistoryStore {
  /** The newest `limit` entries of a room, oldest first. */
  recent(roomKey: string, limit: number): HistoryEntry[];
  /** The `limit` entries of a room just before id `beforeId`, oldest first. */
  before(roomKey: string, beforeId: number, limit: number): HistoryEntry[];
  /** Entries of a room containing every word of `words` (words of 3+ letters also as prefixes; see search-terms.ts), newest first. */
  search(roomKey: string, words: string[], limit: number): HistoryEntry[];
}
