import { foldName } from '../protocol/text-hygiene';
import type { RemoteRoom, RemoteUser } from '../core/ports/cluster-presence';

/** A user on another node, as the mirror keeps them. */
export class MirroredUser implements RemoteUser {
  /** Keys and display names of the rooms they are in. */
  readonly rooms = new Map<string, string>();

  constructor(
    readonly node: string,
    readonly sid: number,
    public nick: string,
    readonly connectedAt: number,
  ) {}

  readonly roomNames = (): string[] => [...this.rooms.values()];
}

/** One user of a node's full state (the answer to a sync request). */
export interface UserState {
  sid: number;
  nick: string;
  at: number;
  /** [key, display name] of each room. */
  rooms: Array<[string, string]>;
}

/** A room with members on other nodes. */
class MirroredRoom implements RemoteRoom {
  readonly members = new Set<MirroredUser>();
  /** Members per node, so a publisher finds the nodes to reach without walking a large room. */
  readonly nodes = new Map<string, number>();

  constructor(
    readonly key: string,
    public name: string,
  ) {}
}

/**
 * What this node knows of the users on the other nodes of the cluster, built from their presence messages
 * and full states. Pure bookkeeping: no I/O, so it is tested on its own. Every update is idempotent, so a
 * message seen twice or a state that overlaps messages changes nothing.
 */
export class PresenceMirror {
  private readonly nodes = new Map<string, Map<number, MirroredUser>>();
  private readonly byNick = new Map<string, MirroredUser>();
  private readonly rooms = new Map<string, MirroredRoom>();
  private count = 0;

  /** Number of users on other nodes. */
  get userCount(): number {
    return this.count;
  }

  /** The ids of the nodes that have users here. */
  nodeIds(): string[] {
    return [...this.nodes.keys()];
  }

  *users(): IterableIterator<MirroredUser> {
    for (const users of this.nodes.values()) yield* users.values();
  }

  room(key: string): RemoteRoom | undefined {
    return this.rooms.get(key);
  }

  /** The nodes that have members of room `key`. */
  roomNodes(key: string): IterableIterator<string> | undefined {
    return this.rooms.get(key)?.nodes.keys();
  }

  allRooms(): IterableIterator<RemoteRoom> {
    return this.rooms.values();
  }

  find(nick: string): MirroredUser | undefined {
    return this.byNick.get(foldName(nick));
  }

  user(node: string, sid: number): MirroredUser | undefined {
    return this.nodes.get(node)?.get(sid);
  }

  /** A user registered on `node` (or is known again); returns them. */
  up(node: string, sid: number, nick: string, at: number): MirroredUser {
    const existing = this.user(node, sid);
    if (existing !== undefined) {
      this.rename(existing, nick);
      return existing;
    }
    let users = this.nodes.get(node);
    if (users === undefined) this.nodes.set(node, (users = new Map()));
    const user = new MirroredUser(node, sid, nick, at);
    users.set(sid, user);
    this.byNick.set(foldName(nick), user);
    this.count++;
    return user;
  }

  /** `user` entered the room `key` (display name `name`). */
  join(user: MirroredUser, key: string, name: string): void {
    user.rooms.set(key, name);
    let room = this.rooms.get(key);
    if (room === undefined) this.rooms.set(key, (room = new MirroredRoom(key, name)));
    if (room.members.has(user)) return;
    room.members.add(user);
    room.nodes.set(user.node, (room.nodes.get(user.node) ?? 0) + 1);
  }

  /** `user` left the room `key`. */
  part(user: MirroredUser, key: string): void {
    user.rooms.delete(key);
    const room = this.rooms.get(key);
    if (room === undefined || !room.members.delete(user)) return;
    const left = (room.nodes.get(user.node) ?? 1) - 1;
    if (left > 0) room.nodes.set(user.node, left);
    else room.nodes.delete(user.node);
    if (room.members.size === 0) this.rooms.delete(key);
  }

  /** `user` is now called `nick`. */
  rename(user: MirroredUser, nick: string): void {
    if (this.byNick.get(foldName(user.nick)) === user) this.byNick.delete(foldName(user.nick));
    user.nick = nick;
    this.byNick.set(foldName(nick), user);
  }

  /** `user` went away: out of every room and the indexes. */
  down(user: MirroredUser): void {
    for (const key of [...user.rooms.keys()]) this.part(user, key);
    if (this.byNick.get(foldName(user.nick)) === user) this.byNick.delete(foldName(user.nick));
    const users = this.nodes.get(user.node);
    if (users?.delete(user.sid) === true) {
      this.count--;
      if (users.size === 0) this.nodes.delete(user.node);
    }
  }

  /** Forgets every user of `node` (it stopped or was lost); returns them. */
  dropNode(node: string): MirroredUser[] {
    const users = [...(this.nodes.get(node)?.values() ?? [])];
    for (const user of users) this.down(user);
    return users;
  }

  /** Replaces what is known of `node` by its full state (after a reconnect, when messages may have been lost). */
  replaceNode(node: string, state: readonly UserState[]): void {
    this.dropNode(node);
    for (const entry of state) {
      const user = this.up(node, entry.sid, entry.nick, entry.at);
      for (const [key, name] of entry.rooms) this.join(user, key, name);
    }
  }
}
