import { LIMITS, LOBBY } from '../protocol/limits';
import { silentLogger, type Logger } from '../log';
import type { NickRegistry } from './ports/nick-registry';
import type { ClusterPresence } from './ports/cluster-presence';
import type { RoomBus } from './ports/room-bus';
import type { HistoryStore } from './ports/history-store';
import type { HistoryQueries } from './ports/history-queries';
import { systemClock, type Clock } from './ports/clock';
import type { Session } from './session';

/** Settings of the chat core; the daemon fills them from its options. */
export interface ChatCoreOptions {
  serverName: string;
  version: string;
  /** Message of the day, shown after registration, one NOTICE per line. */
  motd: string;
  maxClients: number;
  /** Most simultaneous connections from one address (0: no limit), so one host cannot take every slot. */
  maxPerAddress: number;
  /** How long a connection may take to pick a nickname. */
  registrationTimeoutMs: number;
  clock: Clock;
  log: Logger;
  /** Where room events are published (default: delivery to the members in this process). */
  bus?: RoomBus;
  /** Who holds which nickname (default: this process's LocalNickRegistry). */
  nicks?: NickRegistry<Session>;
  /** Who is online on the other servers of a cluster (default: none, this server is alone). */
  presence?: ClusterPresence;
  /** Where room history is kept; without one, nothing is stored and /history answers NO_HISTORY. */
  history?: HistoryStore;
  /** Reads of that history (replay, /history, /search), answered off the event loop; required for reads. */
  historyQueries?: HistoryQueries;
  /** Entries replayed when joining a room (0: none). */
  historyReplay: number;
  /** Names of rooms whose history is not kept (matched by room key): nothing said there is stored, replayed, listed or searched. */
  historyOffRooms: readonly string[];
  /** Nicknames no one may take, nor anything that looks like them (compared by lookKeys). */
  reservedNicks: readonly string[];
  /**
   * How long the nickname of a registered user who went away without /quit stays held for them (0: not
   * at all); meanwhile only a connection from the same address (addressPrefix) can take it.
   */
  nickHoldMs: number;
  /** Most rooms on the server, #lobby included; at the cap a new room reuses the slot of an unused one. */
  maxRooms: number;
  /** How long a room without members and without a stored message is kept after it was last left. */
  roomUnusedMs: number;
  /** A registered user who sends no line for this long is disconnected (0: never). */
  idleTimeoutMs: number;
  /**
   * A room with more members than this is large (0: no room is): joins, parts, quits and nickname changes
   * of its members are not fanned out to it, and a joiner gets its member count instead of every name.
   */
  largeRoom: number;
  /** The room every user joins on registering ('' : none); it always exists, like #lobby. */
  autoJoin: string;
}

/**
 * Default of ChatCoreOptions.largeRoom and of --large-room: past a few hundred members a JOIN per member
 * per joiner is most of the server's work (registration is O(N²)) and too many lines for anyone to read.
 */
export const DEFAULT_LARGE_ROOM = 500;

/** Nicknames reserved when the daemon is not told otherwise (--reserved-nicks). */
export const DEFAULT_RESERVED_NICKS: readonly string[] = [
  'server',
  'admin',
  'administrator',
  'root',
  'mychat',
  'mychatd',
  'operator',
  'nickserv',
  'chanserv',
  'system',
  'sysop',
  'moderator',
];

/** Default of ChatCoreOptions.roomUnusedMs: rooms nobody spoke in are forgotten an hour after the last one left. */
export const DEFAULT_ROOM_UNUSED_MS = 3_600_000;

/**
 * Default of ChatCoreOptions.maxPerAddress and of the daemon's --max-per-address: enough for a household or
 * an office behind one NAT, too few for one host to take every slot.
 */
export const DEFAULT_MAX_PER_ADDRESS = 100;

/** The settings of a core made without any: a fresh object each time, since reconfigure changes it in place. */
export function defaultCoreOptions(): ChatCoreOptions {
  return {
    serverName: 'mychat',
    version: '0.0.0',
    motd: '',
    maxClients: 10_000,
    maxPerAddress: DEFAULT_MAX_PER_ADDRESS,
    registrationTimeoutMs: 60_000,
    clock: systemClock,
    log: silentLogger,
    historyReplay: 20,
    historyOffRooms: [],
    reservedNicks: DEFAULT_RESERVED_NICKS,
    nickHoldMs: 60_000,
    maxRooms: LIMITS.maxRooms,
    roomUnusedMs: DEFAULT_ROOM_UNUSED_MS,
    idleTimeoutMs: 0,
    largeRoom: DEFAULT_LARGE_ROOM,
    autoJoin: LOBBY,
  };
}
