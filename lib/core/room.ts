import type { Session } from './session';

/** A chat room: its members (one half of the two-way room/member index) and its topic. */
export class Room {
  readonly members = new Set<Session>();
  topic = '';
  topicBy = '';
  topicAt = 0;
  /** True once the room has stored history or a topic: such a room is kept when it empties. */
  persistent = false;

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
