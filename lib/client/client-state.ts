import { LOBBY } from '../protocol/limits';
import type { ServerLine } from '../protocol/server-lines';
import { foldName } from '../protocol/text-hygiene';

/** Most nicknames (and, separately, room names) remembered for completion; the oldest are forgotten first. */
export const MAX_REMEMBERED = 5000;

/** What the client needs to restore its place after a reconnection. */
export interface SavedPlace {
  /** The nickname the server last confirmed ('' if the user never registered). */
  nick: string;
  /** The rooms the user was in, oldest-used first, so the last one is the current room. */
  rooms: string[];
}

/** A bounded set of names, case-insensitive like the server, most recently seen last. */
class NameSet {
  private readonly names = new Map<string, string>();

  add(name: string): void {
    if (name.length === 0) return;
    const key = foldName(name);
    this.names.delete(key);
    this.names.set(key, name);
    if (this.names.size > MAX_REMEMBERED) this.names.delete(this.names.keys().next().value!);
  }

  delete(name: string): void {
    this.names.delete(foldName(name));
  }

  values(): string[] {
    return [...this.names.values()];
  }
}

/** Parses a protocol UTC time to milliseconds, or NaN. */
function utcMillis(text: string): number {
  return /^\d{4}-\d\d-\d\dT/.test(text) ? Date.parse(text) : NaN;
}

/**
 * What the client knows about its session, learnt only from server lines: the confirmed nickname, the
 * rooms it is in (in the server's order: the last one joined or made current is current, and parting it
 * falls back to the one used before), and the nicknames and rooms it has seen, for completion. Pure.
 */
export class ClientState {
  /** The nickname the server confirmed with OK NICK; kept across a lost connection for re-registering. */
  nick = '';
  /** Whether the current connection has registered. */
  registered = false;
  /** Rooms the user is in, oldest-used first: the last one is the current room. */
  rooms: string[] = [];
  private readonly seenNicks = new NameSet();
  private readonly seenRooms = new NameSet();
  /** Per room (folded), the moment the connection was lost: a replay after re-joining hides what was seen live. */
  private readonly replayCutoff = new Map<string, { at: number; shown: number }>();

  /** The room plain lines go to, if any. */
  get currentRoom(): string | undefined {
    return this.rooms[this.rooms.length - 1];
  }

  /** Nicknames seen, most recent last, without the user's own. */
  nicknames(): string[] {
    const own = foldName(this.nick);
    return this.seenNicks.values().filter((n) => foldName(n) !== own);
  }

  /** Room names seen (including the user's own rooms), most recent last. */
  roomNames(): string[] {
    return this.seenRooms.values();
  }

  private indexOfRoom(room: string): number {
    const key = foldName(room);
    return this.rooms.findIndex((r) => foldName(r) === key);
  }

  private makeCurrent(room: string): void {
    const at = this.indexOfRoom(room);
    if (at >= 0) this.rooms.splice(at, 1);
    this.rooms.push(room);
  }

  private forget(room: string): void {
    const at = this.indexOfRoom(room);
    if (at >= 0) this.rooms.splice(at, 1);
  }

  /** Updates what the client knows from one server line. */
  apply(line: ServerLine): void {
    const [a = '', b = ''] = line.fields;
    switch (line.keyword) {
      case 'OK':
        if (a === 'NICK' && b.length > 0) {
          this.nick = b;
          this.registered = true;
        } else if (a === 'JOIN' && b.length > 0) {
          this.makeCurrent(b);
          this.seenRooms.add(b);
          this.replayCutoff.delete(foldName(b));
        } else if (a === 'PART' && b.length > 0) {
          this.forget(b);
          // The reply names the new current room; follow it in case our idea of the order drifted.
          const named = /now talking in (#\S+?)\.?$/.exec(line.text)?.[1];
          if (named !== undefined && this.indexOfRoom(named) >= 0) this.makeCurrent(named);
        }
        break;
      case 'JOIN':
      case 'PART':
      case 'MSG':
      case 'ACTION':
      case 'PASTE':
      case 'TOPIC':
        this.seenRooms.add(a);
        this.seenNicks.add(b);
        break;
      case 'PRIVMSG':
        this.seenNicks.add(a);
        break;
      case 'QUIT':
        this.seenNicks.delete(a);
        break;
      case 'NICK':
        this.seenNicks.delete(a);
        this.seenNicks.add(b);
        break;
      case 'NAMES':
        if (a !== '*') this.seenRooms.add(a);
        for (const nick of line.text.split(' ')) this.seenNicks.add(nick);
        break;
      case 'ROOM':
        this.seenRooms.add(a);
        break;
      case 'WHOIS':
        this.seenNicks.add(a);
        if (b === 'rooms') for (const room of line.text.split(' ')) this.seenRooms.add(room);
        break;
      case 'HISTORY':
        this.seenRooms.add(a);
        this.seenNicks.add(line.fields[3] ?? '');
        break;
      default:
        break;
    }
  }

  /**
   * Records that the connection was lost at `at` (ms since the epoch) and returns where the user was.
   * The rooms are forgotten until re-joined; the nickname is kept for re-registering.
   */
  connectionLost(at: number): SavedPlace {
    const saved = { nick: this.nick, rooms: [...this.rooms] };
    for (const room of this.rooms) this.replayCutoff.set(foldName(room), { at, shown: 0 });
    // The server puts everyone in #lobby on registering; a user who had left it is taken out again at
    // once, so its replay would be noise.
    if (this.indexOfRoom(LOBBY) < 0) this.replayCutoff.set(foldName(LOBBY), { at: Infinity, shown: 0 });
    this.rooms = [];
    this.registered = false;
    return saved;
  }

  /**
   * Whether a replayed line is history the user already saw live: after a reconnection, re-joining a
   * room replays its recent messages, and those from before the connection was lost were on screen
   * already (and #lobby's, if the user had left it, are of no interest). An end-of-replay line is
   * hidden too when every entry before it was.
   */
  isSeenReplay(line: ServerLine): boolean {
    const cutoff = this.replayCutoff.get(foldName(line.fields[0] ?? ''));
    if (cutoff === undefined) return false;
    if (line.keyword === 'HISTEND') {
      this.replayCutoff.delete(foldName(line.fields[0] ?? ''));
      return cutoff.shown === 0;
    }
    if (line.keyword !== 'HISTORY') return false;
    const at = utcMillis(line.fields[2] ?? '');
    if (!Number.isNaN(at) && at <= cutoff.at) return true;
    cutoff.shown++;
    return false;
  }
}
