import type { Room } from './room';
import type { ClientSink } from './sink';

/** Connection states: every command declares which of them may use it. */
export type SessionState = 'awaiting-nick' | 'registered' | 'closing';

/** One connected person, as the core sees them. */
export class Session {
  state: SessionState = 'awaiting-nick';
  nick = '';
  nickKey = '';
  /**
   * Rooms this session is in (the other half of the two-way index), in the order they were last made
   * current: the last one is the current room, so parting it falls back to the one used before.
   */
  readonly rooms: Room[] = [];
  lastActive: number;
  /** When the connection last delivered any line, /ping included: what the idle timeout looks at. */
  lastInput: number;
  registrationTimer: unknown;
  /** Whether joining a room replays its recent history to this connection (/replay off turns it off). */
  replay = true;
  /** The storage outage this session was last told about, so it is told once per outage. */
  outageNotified = 0;

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

  /** Queues a line for this person unless the connection is going away. */
  send(line: Buffer): void {
    if (this.state !== 'closing') this.sink.send(line);
  }

  /** Makes `room` current (moving it to the end of the order) or adds it. */
  makeCurrent(room: Room): void {
    const at = this.rooms.indexOf(room);
    if (at >= 0) this.rooms.splice(at, 1);
    this.rooms.push(room);
  }

  /** Removes `room` from this session's list. */
  forget(room: Room): void {
    const at = this.rooms.indexOf(room);
    if (at >= 0) this.rooms.splice(at, 1);
  }
}
