import type { Session } from './session';

/** A chat room: its members (one half of the two-way room/member index) and its topic. */
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

  /** Writes one already-encoded line to every member except `except`. */
  broadcast(line: Buffer, except?: Session): void {
    for (const member of this.members) {
      if (member !== except) member.send(line);
    }
  }
}
