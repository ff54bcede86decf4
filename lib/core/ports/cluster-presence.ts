import type { ChatEvent, PrivateEvent, WhoisEvent } from '../events';
import type { Room, Session } from '../session';

/** A user connected to another server of the cluster, as this server knows them. */
export interface RemoteUser {
  readonly nick: string;
  /** When they connected, ms since the epoch. */
  readonly connectedAt: number;
  /** Display names of the rooms they are in. */
  readonly roomNames: () => string[];
}

/** A room that has members on other servers: its key, display name and how many members it has there. */
export interface RemoteRoom {
  readonly key: string;
  readonly name: string;
  readonly members: ReadonlySet<RemoteUser>;
}

/**
 * Who is online on the other servers of a cluster (lib/cluster implements it over Redis). The core tells
 * it what its own users do (so the other servers learn it) and asks it about everyone else, so that /who,
 * /whois, /rooms, /msg and the large-room rule see the whole cluster. Without one, the core is one server.
 */
export interface ClusterPresence {
  /** A session picked its first nickname. */
  registered(session: Session): void;
  /**
   * A session entered a room; `shown`: its members are told (the room is not large). Returns a Promise
   * while this server is not yet linked to the room (its first member here): it settles once every line
   * the other servers publish to the room from then on reaches this server, and the room's topic is the
   * cluster's. The joiner's live events are held meanwhile and its join is answered only then.
   */
  joined(session: Session, room: Room, shown: boolean): Promise<void> | undefined;
  /**
   * The room's topic as the cluster knows it, for a room this server has no member of (so it does not
   * follow its changes): the Promise settles once `room` holds it. Undefined when there is nothing to wait for.
   */
  refreshTopic(room: Room): Promise<void> | undefined;
  /** A session left a room; `event` is the part shown to the members (undefined: not shown). */
  left(session: Session, room: Room, event: ChatEvent | undefined): void;
  /** A registered session changed nickname from `from`; peers in `shownRooms` are told. */
  renamed(session: Session, from: string, shownRooms: readonly Room[]): void;
  /** A registered session is going away (called before it leaves its rooms); peers in `shownRooms` see QUIT. */
  departed(session: Session, reason: string, shownRooms: readonly Room[]): void;
  /** Number of registered users on other servers. */
  readonly remoteUserCount: number;
  /** Registered users on other servers. */
  remoteUsers(): IterableIterator<RemoteUser>;
  /** Members on other servers of the room with key `roomKey` (undefined: none). */
  remoteRoom(roomKey: string): RemoteRoom | undefined;
  /** Rooms with members on other servers. */
  remoteRooms(): IterableIterator<RemoteRoom>;
  /** The user called `nick` (case-insensitive) on another server, if any. */
  findRemote(nick: string): RemoteUser | undefined;
  /** Carries a private message to a user on another server (at most once). */
  sendPrivate(to: RemoteUser, event: PrivateEvent, sender: Session): void;
  /** What /whois shows about a user on another server, asked of their server. */
  whois(user: RemoteUser): Promise<WhoisEvent>;
}
