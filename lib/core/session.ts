import type { SessionState } from '../protocol/command-catalogue';
import { eventSize } from './event-size';
import type { ChatEvent } from './events';
import type { PasteBlock } from './paste-block';
import type { ClientSink } from './ports/client-sink';

/**
 * Most bytes held back for a session while it waits for its join replay (see Session.hold), counted by
 * eventSize: a room busy enough to pass this during one replay would drop a slow reader anyway.
 */
export const MAX_HELD_BYTES = 1024 * 1024;

/** The rooms of a session in none, shared by all of them. */
const NO_ROOMS: readonly Room[] = Object.freeze([]);

/**
 * `rooms` without `room`, as a new array of exact size: slice, concat and literals make those, while
 * filter, a spread or push reserve 17 slots.
 */
function without(rooms: readonly Room[], room: Room): readonly Room[] {
  const at = rooms.indexOf(room);
  if (at < 0) return rooms;
  return rooms.slice(0, at).concat(rooms.slice(at + 1));
}

/** One connected person, as the core sees them. */
export class Session {
  state: SessionState = 'awaiting-nick';
  nick = '';
  /**
   * Rooms this session is in (the other half of the two-way index), in the order they were last made
   * current: the last one is the current room, so parting it falls back to the one used before. Replaced,
   * never grown in place: an array grown by push keeps room for 17 entries (150 B), one of exact size for
   * the usual one or two rooms costs a third of that, and every idle connection pays it.
   */
  rooms: readonly Room[] = NO_ROOMS;
  lastActive: number;
  /** When the connection last delivered any line, /ping included: what the idle timeout looks at. */
  lastInput: number;
  registrationTimer: unknown;
  /** Whether joining a room replays its recent history to this connection (/replay off turns it off). */
  replay = true;
  /** The storage outage this session was last told about, so it is told once per outage. */
  outageNotified = 0;
  /** The /paste block being received, if any: until its end line, every input line belongs to it. */
  paste: PasteBlock<Room> | undefined = undefined;

  constructor(
    readonly id: number,
    readonly sink: ClientSink,
    readonly remoteAddress: string,
    readonly connectedAt: number,
  ) {
    this.lastActive = connectedAt;
    this.lastInput = connectedAt;
  }

  /** The room a plain line goes to, if any. */
  get currentRoom(): Room | undefined {
    return this.rooms[this.rooms.length - 1];
  }

  /**
   * Events held back while a history replay for this session is read, or while its join waits for the
   * cluster link of the room (undefined: not holding).
   */
  private held: ChatEvent[] | undefined;
  private heldBytes = 0;
  /** True when more than MAX_HELD_BYTES arrived while holding; the core then drops the connection. */
  heldOverflow = false;

  /** Hands an event to this person's connection unless it is going away. */
  deliver(event: ChatEvent): void {
    if (this.state === 'closing') return;
    if (this.held === undefined) {
      this.sink.deliver(event);
      return;
    }
    if (this.heldOverflow) return;
    const size = eventSize(event);
    if (this.heldBytes + size > MAX_HELD_BYTES) {
      this.heldOverflow = true;
      this.held = [];
      return;
    }
    this.held.push(event);
    this.heldBytes += size;
  }

  /**
   * Holds back what is delivered to this session (live room events) until release(): replayed history is
   * read off the event loop, and live events must not overtake it (nor the join reply, when the join waits
   * for the cluster link of the room).
   */
  hold(): void {
    this.held ??= [];
  }

  /**
   * Stops holding: delivers `first` (the replay, the join reply), then everything held, in order. Returns
   * false, delivering nothing, when more than MAX_HELD_BYTES arrived meanwhile: the caller drops the session.
   */
  release(first: readonly ChatEvent[]): boolean {
    const held = this.held ?? [];
    this.held = undefined;
    this.heldBytes = 0;
    if (this.heldOverflow) return false;
    for (const event of first) this.deliver(event);
    for (const event of held) this.deliver(event);
    return true;
  }

  /** Makes `room` current (moving it to the end of the order) or adds it. */
  makeCurrent(room: Room): void {
    if (this.currentRoom === room) return;
    const others = without(this.rooms, room);
    this.rooms = others.length === 0 ? [room] : others.concat(room);
  }

  /** Removes `room` from this session's list. */
  forget(room: Room): void {
    if (!this.rooms.includes(room)) return;
    const rooms = without(this.rooms, room);
    this.rooms = rooms.length === 0 ? NO_ROOMS : rooms;
  }
}

/**
 * A chat room: its members (one half of the two-way room/member index) and its topic. It lives in this
 * module with Session because each refers to the other, and two modules importing each other are a cycle.
 */
export class Room {
  readonly members = new Set<Session>();
  topic = '';
  topicBy = '';
  topicAt = 0;
  /** True when the history store keeps the room: it outlives its members (until it expires unused). */
  persistent = false;
  /** True when a message or action of the room is stored; a room that never had one expires soon after it empties. */
  used = false;
  /** When the room last became empty and unused, ms since the epoch (meaningful only while it is). */
  unusedSince = 0;

  constructor(
    readonly name: string,
    readonly key: string,
  ) {}

  /** Hands one event object to every member except `except` (each codec then encodes it once for all). */
  broadcast(event: ChatEvent, except?: Session): void {
    for (const member of this.members) {
      if (member !== except) member.deliver(event);
    }
  }
}
