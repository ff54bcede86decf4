import { ChatError } from '../protocol/errors';
import { LIMITS, LOBBY } from '../protocol/limits';
import { lookKeys, nameKey, normaliseName, roomProblem, roomShapeProblem } from '../protocol/text-hygiene';
import type { Logger } from '../log';
import { addressPrefix } from './address-prefix';
import type { ChatEvent } from './events';
import type { Clock } from './ports/clock';
import { ROOM_CREATION_WINDOW_MS, type HistoryStore } from './ports/history-store';
import type { RoomBus } from './ports/room-bus';
import type { ClusterPresence } from './ports/cluster-presence';
import { Room, type Session } from './session';

/** Most rooms forgotten, or entries looked at, in one expiry step: each step stays short. */
const EXPIRE_END_STEP = 100;
const EXPIRE_SCAN_STEP = 1000;
/** Least time between two warnings about the room cap, so an attack cannot flood the log. */
const ROOM_WARNING_INTERVAL_MS = 10 * 60_000;
/** Share of --max-rooms at which the daemon warns that the cap is near. */
const ROOM_WARNING_SHARE = 0.9;

/** The settings the directory reads when it needs them, so a config reload applies at once. */
export interface RoomDirectoryOptions {
  readonly clock: Clock;
  readonly log: Logger;
  /** Where rooms persist (and the room-creation log); without one, a room lives while it has members. */
  readonly history?: HistoryStore;
  /** Most rooms on the server, #lobby included. */
  readonly maxRooms: number;
  /** How long a room without members and without a stored message is kept after it was last left. */
  readonly roomUnusedMs: number;
  /** Rooms with more members than this are large (0: none is): see RoomDirectory.isLarge. */
  readonly largeRoom: number;
  /** The room joined on registering ('' : none): it always exists, like #lobby. */
  readonly autoJoin: string;
  /** Members on other servers of a cluster: they count in a room's size, and hear of joins and parts. */
  readonly presence?: ClusterPresence;
}

/** A Map that counts its changes, so views derived from it know when to recompute. */
class VersionedMap<K, V> extends Map<K, V> {
  version = 0;

  override set(key: K, value: V): this {
    this.version++;
    return super.set(key, value);
  }

  override delete(key: K): boolean {
    this.version++;
    return super.delete(key);
  }
}

/** What entering a room did. */
export interface Entered {
  room: Room;
  /** False when the room was created by this join. */
  existed: boolean;
  /** True when the session was a member already (the join only made the room current). */
  already: boolean;
  /** Pending while this server is not yet linked to the room's lines on other servers (see ClusterPresence.joined). */
  linked?: Promise<void>;
}

/**
 * Everyone who shares at least one room with `session`, each once; rooms for which `skip` says true (the
 * large ones, for presence events) do not count, so the cost never grows with a large room's size.
 */
export function peersOf(session: Session, skip?: (room: Room) => boolean): Set<Session> {
  const peers = new Set<Session>();
  for (const room of session.rooms) {
    if (skip?.(room) === true) continue;
    for (const member of room.members) if (member !== session) peers.add(member);
  }
  return peers;
}

/**
 * The rooms of this server: names and look-alike keys, creation within the limits (--max-rooms, rooms per
 * network per hour), membership (enter/leave, told through the RoomBus), and forgetting rooms left unused.
 */
export class RoomDirectory {
  private readonly rooms = new VersionedMap<string, Room>();
  /** lookKeys of every room (entries of forgotten rooms are dropped lazily), so a new room cannot imitate one. */
  private readonly looks = new Map<string, Room>();
  /**
   * Rooms created per address block (IPv4 /24, IPv6 /64) in its current hour-long window (see
   * LIMITS.maxRoomsCreatedPerHour); rebuilt from the store's creation log at start.
   */
  private readonly creations = new Map<string, { windowStart: number; count: number }>();
  /**
   * Rooms with no members and no stored message, in the order they became so (oldest first): the ones to
   * forget when unused too long, or to reclaim at the room cap. Entries of rooms used again are dropped when met.
   */
  private readonly unused = new Map<string, Room>();
  /** all()'s sorted list and the rooms version it was made from. */
  private sorted: { version: number; rooms: readonly Room[] } | undefined;
  /** The busiest rooms for /rooms, and when they were picked. */
  private busiestPick: { at: number; limit: number; rooms: readonly Room[] } | undefined;
  /** State of the rate-limited room-cap warnings. */
  private readonly warnings = { high: false, nearAt: -Infinity, fullAt: -Infinity };

  /**
   * Loads the stored rooms and creation log. `due(at)` is called when a room may expire at time `at`: the
   * owner arms its housekeeping timer and calls expireUnused then.
   */
  constructor(
    private readonly options: RoomDirectoryOptions,
    private readonly bus: RoomBus,
    private readonly due: (at: number) => void,
  ) {
    const history = options.history;
    for (const stored of history?.loadRooms(nameKey) ?? []) {
      const room = this.ensure(stored.name);
      room.topic = stored.topic;
      room.topicBy = stored.topicBy;
      room.topicAt = stored.topicAt;
      room.persistent = true;
      room.used = stored.used;
      // A restart disconnected everyone, so an unused room counts as just left.
      if (!room.used && !this.isPermanent(room)) this.markUnused(room);
    }
    const now = options.clock.now();
    for (const { creator, count, first } of history?.loadRoomCreations(now - ROOM_CREATION_WINDOW_MS) ?? []) {
      this.creations.set(creator, { windowStart: first, count });
    }
    this.ensure(LOBBY);
    this.keepAutoJoin();
    this.checkCount(now);
  }

  /**
   * Makes sure the --auto-join room exists (at start and after a reload changed it): every registration
   * joins it, so it must not count against anyone's room creations nor expire.
   */
  keepAutoJoin(): void {
    if (this.options.autoJoin !== '') this.ensure(normaliseName(this.options.autoJoin));
  }

  /**
   * True when `room` counts as large (more than --large-room members) with `extra` more members than it
   * has now: join, part, quit and nickname-change events of its members are then not fanned out to it,
   * since at thousands of members they would be most of the server's work and of everyone's screen. A
   * join is judged with the joiner in, a departure before the leaver is out, so the JOIN and PART of one
   * member are both shown or both not.
   */
  isLarge(room: Room, extra = 0): boolean {
    const limit = this.options.largeRoom;
    return limit > 0 && this.memberCount(room) + extra > limit;
  }

  /** Members of `room` on every server of the cluster (on this one when alone). */
  memberCount(room: Room): number {
    return room.members.size + (this.options.presence?.remoteRoom(room.key)?.members.size ?? 0);
  }

  /** Everyone in `room`, this server's members first, then those on other servers of the cluster. */
  *everyone(room: Room): IterableIterator<{ readonly nick: string }> {
    yield* room.members;
    const remote = this.options.presence?.remoteRoom(room.key);
    if (remote !== undefined) yield* remote.members;
  }

  /** Number of rooms. */
  get size(): number {
    return this.rooms.size;
  }

  /** The room with key `key`, if it exists. */
  get(key: string): Room | undefined {
    return this.rooms.get(key);
  }

  /** Finds a room by name, ignoring case, or throws NO_SUCH_ROOM / ROOM_INVALID. */
  find(rawName: string): Room {
    const name = this.validName(rawName);
    const room = this.rooms.get(nameKey(name));
    if (room === undefined) throw new ChatError('NO_SUCH_ROOM', `There is no room ${name}.`);
    return room;
  }

  /**
   * All rooms, sorted by name. The sort is redone only after a room came or went, so /rooms from many
   * clients over thousands of rooms costs one sort, not one each.
   */
  all(): readonly Room[] {
    if (this.sorted?.version !== this.rooms.version) {
      const rooms = [...this.rooms.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      this.sorted = { version: this.rooms.version, rooms };
    }
    return this.sorted.rooms;
  }

  /** The `limit` rooms with the most members, in name order; picked again at most once a second. */
  busiest(limit: number): readonly Room[] {
    const now = this.options.clock.now();
    if (this.busiestPick === undefined || this.busiestPick.limit !== limit || now - this.busiestPick.at >= 1000) {
      const chosen = new Set([...this.all()].sort((a, b) => b.members.size - a.members.size).slice(0, limit));
      this.busiestPick = { at: now, limit, rooms: this.all().filter((room) => chosen.has(room)) };
    }
    return this.busiestPick.rooms;
  }

  /**
   * Puts `session` in the room `rawName` (creating it within the limits) and makes it current; the members
   * already there are told with a join event. Throws ROOM_INVALID, TOO_MANY_ROOMS.
   */
  enter(session: Session, rawName: string): Entered {
    const name = this.validName(rawName);
    const existing = this.rooms.get(nameKey(name));
    const already = existing?.members.has(session) === true;
    if (!already && session.rooms.length >= LIMITS.maxRoomsPerUser) {
      throw new ChatError('TOO_MANY_ROOMS', `You are in ${LIMITS.maxRoomsPerUser} rooms, the limit; /part one first.`);
    }
    const room = existing ?? this.create(session, name);
    let linked: Promise<void> | undefined;
    if (!already) {
      const shown = !this.isLarge(room, 1);
      if (shown) this.bus.publish(room, { type: 'join', room: room.name, nick: session.nick });
      room.members.add(session);
      linked = this.options.presence?.joined(session, room, shown);
    }
    session.makeCurrent(room);
    return { room, existed: existing !== undefined, already, linked };
  }

  /**
   * Removes a member from a room and tells the remaining members with `event`, unless the room is large
   * (see isLarge). A room left empty is forgotten at once without a history store, or later (see
   * roomUnusedMs) when nothing was said in it.
   */
  leave(session: Session, room: Room, event: ChatEvent | undefined): void {
    const large = this.isLarge(room);
    room.members.delete(session);
    session.forget(room);
    if (event && !large) this.bus.publish(room, event);
    this.options.presence?.left(session, room, large ? undefined : event);
    if (room.members.size > 0 || this.isPermanent(room)) return;
    if (!room.persistent) this.rooms.delete(room.key);
    else if (!room.used) this.markUnused(room);
  }

  /** After retention deleted the last message of the rooms with keys `keys`: they count as unused from now. */
  messagesGone(keys: readonly string[]): void {
    for (const key of keys) {
      const room = this.rooms.get(key);
      if (room === undefined || !room.used) continue;
      room.used = false;
      if (room.members.size === 0 && !this.isPermanent(room)) this.markUnused(room);
    }
  }

  /** One bounded step of room expiry; returns when the next room is due (now: more is due at once). */
  expireUnused(now: number): number {
    let visited = 0;
    let forgotten = 0;
    let next = Infinity;
    for (const [key, room] of this.unused) {
      if (visited++ === EXPIRE_SCAN_STEP || forgotten === EXPIRE_END_STEP) {
        next = now;
        break;
      }
      if (!this.isUnused(room)) {
        this.unused.delete(key);
        continue;
      }
      const due = room.unusedSince + this.options.roomUnusedMs;
      if (due > now) {
        next = due;
        break;
      }
      this.drop(room);
      forgotten++;
    }
    if (forgotten > 0) {
      this.options.log.log('debug', 'rooms-expired', { rooms: forgotten, left: this.rooms.size });
      this.checkCount(now);
    }
    return next;
  }

  /**
   * The NFC form of a proposed room name, or ROOM_INVALID. A name that reaches an existing room by its key
   * is fine; a new one must follow every naming rule and must not look like an existing room.
   */
  private validName(rawName: string): string {
    const name = normaliseName(rawName);
    const shape = roomShapeProblem(name);
    if (shape !== undefined) throw new ChatError('ROOM_INVALID', `Invalid room name: ${shape}.`);
    if (this.rooms.has(nameKey(name))) return name;
    const twin = this.lookAlike(name);
    if (twin !== undefined) {
      throw new ChatError('ROOM_INVALID', `Invalid room name: ${name} looks like ${twin.name}, which exists; join ${twin.name} or pick another name.`);
    }
    const problem = roomProblem(name);
    if (problem !== undefined) throw new ChatError('ROOM_INVALID', `Invalid room name: ${problem}.`);
    return name;
  }

  /** An existing room whose name looks like `name` (their lookKeys meet), if any. */
  private lookAlike(name: string): Room | undefined {
    for (const key of lookKeys(name)) {
      const room = this.looks.get(key);
      if (room === undefined) continue;
      if (this.rooms.get(room.key) === room) return room;
      this.looks.delete(key); // the room was forgotten since
    }
    return undefined;
  }

  /**
   * Creates a room within the server's limits; with a history store it persists from now on. At the room
   * cap it takes the place of the room unused the longest; only when every room is in use is it refused.
   */
  private create(session: Session, name: string): Room {
    const now = this.options.clock.now();
    const full = this.rooms.size >= this.options.maxRooms;
    const reclaimed = full ? this.oldestUnused() : undefined;
    if (full && reclaimed === undefined) {
      if (now - this.warnings.fullAt >= ROOM_WARNING_INTERVAL_MS) {
        this.warnings.fullAt = now;
        this.options.log.log('warn', 'rooms-full', { rooms: this.rooms.size, max: this.options.maxRooms, note: 'every room has members or messages; new rooms are refused' });
      }
      throw new ChatError('TOO_MANY_ROOMS', 'The server has as many rooms as it allows, all in use; join an existing one (/rooms).');
    }
    const creator = addressPrefix(session.remoteAddress, 24, 64);
    // A room that has members on another server of the cluster exists already: joining it creates nothing.
    const elsewhere = this.options.presence?.remoteRoom(nameKey(name)) !== undefined;
    const wait = elsewhere ? 0 : this.creationWait(creator, now);
    if (wait > 0) {
      const minutes = Math.ceil(wait / 60_000);
      throw new ChatError(
        'TOO_MANY_ROOMS',
        `Your network can create ${LIMITS.maxRoomsCreatedPerHour} rooms an hour; join an existing one (/rooms) or try again in ${minutes} minute${minutes === 1 ? '' : 's'}.`,
      );
    }
    if (!elsewhere) this.countCreation(creator, now);
    if (reclaimed !== undefined) {
      this.drop(reclaimed);
      this.options.log.log('debug', 'room-reclaimed', { room: reclaimed.name, for: name });
    }
    const room = this.ensure(name);
    if (this.options.history !== undefined) {
      this.options.history.saveRoom({ roomKey: room.key, roomName: room.name, at: now, ...(elsewhere ? {} : { creator }) });
      room.persistent = true;
    }
    this.checkCount(now);
    return room;
  }

  /**
   * Gives address block `creator` back a room creation: the shared store found that the room it "created"
   * had been made by another server (a room with no members anywhere, so presence could not tell).
   */
  refundCreation(creator: string): void {
    const entry = this.creations.get(creator);
    if (entry !== undefined && entry.count > 0) entry.count--;
  }

  /** Milliseconds until address block `creator` may create another room (0: now). */
  private creationWait(creator: string, now: number): number {
    const entry = this.creations.get(creator);
    if (entry === undefined || now - entry.windowStart >= ROOM_CREATION_WINDOW_MS || entry.count < LIMITS.maxRoomsCreatedPerHour) return 0;
    return entry.windowStart + ROOM_CREATION_WINDOW_MS - now;
  }

  /** Counts one room created by address block `creator`. */
  private countCreation(creator: string, now: number): void {
    let entry = this.creations.get(creator);
    if (entry === undefined || now - entry.windowStart >= ROOM_CREATION_WINDOW_MS) {
      // Drop expired windows as we go, so the map holds only blocks active in the last hour.
      if (this.creations.size > 1000) {
        for (const [key, value] of this.creations) if (now - value.windowStart >= ROOM_CREATION_WINDOW_MS) this.creations.delete(key);
      }
      entry = { windowStart: now, count: 0 };
      this.creations.set(creator, entry);
    }
    entry.count++;
  }

  /** Warns once when the room count reaches ROOM_WARNING_SHARE of the cap (again only after it fell below, and not often). */
  private checkCount(now: number): void {
    const high = this.rooms.size >= ROOM_WARNING_SHARE * this.options.maxRooms;
    if (high && !this.warnings.high && now - this.warnings.nearAt >= ROOM_WARNING_INTERVAL_MS) {
      this.warnings.nearAt = now;
      this.options.log.log('warn', 'rooms-near-cap', { rooms: this.rooms.size, max: this.options.maxRooms, note: 'at the cap, new rooms replace unused ones' });
    }
    this.warnings.high = high;
  }

  /** True for a room that may be forgotten: no members, no stored message, not #lobby nor the auto-join room, still current. */
  private isUnused(room: Room): boolean {
    return room.members.size === 0 && !room.used && !this.isPermanent(room) && this.rooms.get(room.key) === room;
  }

  /** True for #lobby and the --auto-join room, which exist whether or not anyone is in them. */
  private isPermanent(room: Room): boolean {
    return room.name === LOBBY || (this.options.autoJoin !== '' && room.key === nameKey(normaliseName(this.options.autoJoin)));
  }

  /** Notes that a room became unused now, so that it expires roomUnusedMs from now. */
  private markUnused(room: Room): void {
    room.unusedSince = this.options.clock.now();
    // Re-inserting keeps the map in unusedSince order.
    this.unused.delete(room.key);
    this.unused.set(room.key, room);
    this.due(room.unusedSince + this.options.roomUnusedMs);
  }

  /** The room unused the longest, if any. */
  private oldestUnused(): Room | undefined {
    for (const [key, room] of this.unused) {
      if (this.isUnused(room)) return room;
      this.unused.delete(key);
    }
    return undefined;
  }

  /** Forgets a room everywhere; its name is free again. */
  private drop(room: Room): void {
    this.rooms.delete(room.key);
    this.unused.delete(room.key);
    this.options.history?.forgetRoom(room.key);
  }

  /** The room called `name`, made if new (with its look-alike keys indexed). */
  private ensure(name: string): Room {
    const key = nameKey(name);
    let room = this.rooms.get(key);
    if (room === undefined) {
      room = new Room(name, key);
      this.rooms.set(key, room);
      // Forgotten rooms leave stale entries; rebuilding when they outnumber live ones keeps the index bounded.
      if (this.looks.size > 2 * this.rooms.size + 64) {
        this.looks.clear();
        for (const live of this.rooms.values()) for (const look of lookKeys(live.name)) this.looks.set(look, live);
      } else {
        for (const look of lookKeys(name)) this.looks.set(look, room);
      }
    }
    return room;
  }
}
