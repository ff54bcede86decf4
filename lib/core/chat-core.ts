import { LIMITS, LOBBY } from '../protocol/limits';
import type { InputLine } from '../protocol/line-decoder';
import { parseInput } from '../protocol/parse-input';
import { encodeLine } from '../protocol/server-lines';
import {
  codePoints,
  foldName,
  lookKeys,
  nameKey,
  neutralise,
  nickProblem,
  nickShapeProblem,
  normaliseName,
  roomProblem,
  roomShapeProblem,
} from '../protocol/text-hygiene';
import { addressPrefix } from './address-prefix';
import type { Logger } from '../log';
import { silentLogger } from '../log';
import { CommandTable, parseArgs, type CommandCore } from './command-table';
import { ChatError, type ErrorCode } from '../protocol/errors';
import { PASTE_END } from './paste-block';
import { Room, Session } from './session';
import { ROOM_CREATION_WINDOW_MS, type HistoryEntry, type HistoryKind, type HistoryStore, type NewHistoryEntry, type RetentionPolicy } from './ports/history-store';
import type { HistoryPage, HistoryQueries } from './ports/history-queries';
import { historyLines } from './history-lines';
import { systemClock, type ClientSink, type Clock } from './sink';
import { defaultCommands } from './commands';

/** How long joiners of one room share a replay page that was read for the same newest id. */
const REPLAY_SHARE_MS = 1000;

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
  /** Where room history is kept; without one, nothing is stored and /history answers NO_HISTORY. */
  history?: HistoryStore;
  /** Reads of that history (replay, /history, /search), answered off the event loop; required for reads. */
  historyQueries?: HistoryQueries;
  /** Entries replayed when joining a room (0: none). */
  historyReplay: number;
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
}

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

/** A nickname in use (by `session`) or held after an abrupt disconnect (for `address` until `until`). */
interface NickClaim {
  nick: string;
  keys: string[];
  session?: Session;
  address?: string;
  until: number;
}

/** Default of ChatCoreOptions.roomUnusedMs: rooms nobody spoke in are forgotten an hour after the last one left. */
export const DEFAULT_ROOM_UNUSED_MS = 3_600_000;

/** Most rooms forgotten, or idle users disconnected, in one housekeeping step: each step stays short. */
const SWEEP_END_STEP = 100;
/** Most entries (rooms or sessions) one housekeeping step looks at. */
const SWEEP_SCAN_STEP = 1000;
/** Pause between housekeeping steps while more is due, leaving the event loop to chat. */
const SWEEP_PAUSE_MS = 10;
/** Least time between two warnings about the room cap, so an attack cannot flood the log. */
const ROOM_WARNING_INTERVAL_MS = 10 * 60_000;
/** Share of --max-rooms at which the daemon warns that the cap is near. */
const ROOM_WARNING_SHARE = 0.9;

/** Most nicknames on one NAMES line, so that a large room never makes an unbounded line. */
const NAMES_PER_LINE = 40;

/** Why a session ended, as shown to others in QUIT lines. */
export const QUIT_REASONS = {
  closed: 'Connection closed',
  lost: 'Connection lost',
  timedOut: 'Timed out',
  idle: 'Idle timeout',
  sendQueue: 'Send queue exceeded',
  shutdown: 'Server shutting down',
  internal: 'Internal error',
} as const;

/**
 * The chat core: sessions, nicknames and rooms, and every rule about who is told what. It never sees a
 * socket: each session talks to a ClientSink, and the network adapter calls connect, handleInput and
 * disconnect.
 */
export class ChatCore implements CommandCore {
  readonly options: ChatCoreOptions;
  readonly table: CommandTable;
  private readonly sessions = new Set<Session>();
  private readonly nicks = new Map<string, Session>();
  private readonly rooms = new VersionedMap<string, Room>();
  /** Replay pages read in the last REPLAY_SHARE_MS, shared by joiners of the same room (see replayPage). */
  private readonly replayPages = new Map<Room, { uptoId: number; limit: number; at: number; page: Promise<HistoryPage> }>();
  /** allRooms()'s sorted list and the rooms version it was made from. */
  private sortedRooms: { version: number; rooms: readonly Room[] } | undefined;
  /** The busiest rooms for /rooms, and when they were picked. */
  private busiest: { at: number; limit: number; rooms: readonly Room[] } | undefined;
  /** Open connections per remote address (entries vanish at zero, so the map is bounded by connections). */
  private readonly perAddress = new Map<string, number>();
  private nextId = 1;
  /** Id of the next /paste block, shared by its PASTE lines; counts per server process. */
  private nextPasteId = 1;

  constructor(options: Partial<ChatCoreOptions> = {}, table: CommandTable = new CommandTable(defaultCommands)) {
    this.options = {
      serverName: 'mychat',
      version: '0.0.0',
      motd: '',
      maxClients: 10_000,
      maxPerAddress: 0,
      registrationTimeoutMs: 60_000,
      clock: systemClock,
      log: silentLogger,
      historyReplay: 20,
      reservedNicks: DEFAULT_RESERVED_NICKS,
      nickHoldMs: 60_000,
      maxRooms: LIMITS.maxRooms,
      roomUnusedMs: DEFAULT_ROOM_UNUSED_MS,
      idleTimeoutMs: 0,
      ...options,
    };
    this.table = table;
    const history = this.options.history;
    for (const stored of history?.loadRooms(nameKey) ?? []) {
      const room = this.ensureRoom(stored.name);
      room.topic = stored.topic;
      room.topicBy = stored.topicBy;
      room.topicAt = stored.topicAt;
      room.persistent = true;
      room.used = stored.used;
      // A restart disconnected everyone, so an unused room counts as just left.
      if (!room.used && room.name !== LOBBY) this.markUnused(room);
    }
    const now = this.options.clock.now();
    for (const { creator, count, first } of history?.loadRoomCreations(now - ROOM_CREATION_WINDOW_MS) ?? []) {
      this.roomCreations.set(creator, { windowStart: first, count });
    }
    this.ensureRoom(LOBBY);
    this.checkRoomCount(now);
  }

  /**
   * Changes settings on a running core (config reload). Connection limits, names and the MOTD apply from
   * the next connection or login; room limits from the next room created; the idle timeout and room
   * expiry at once.
   */
  reconfigure(
    changes: Partial<
      Pick<ChatCoreOptions, 'motd' | 'maxClients' | 'maxPerAddress' | 'registrationTimeoutMs' | 'reservedNicks' | 'nickHoldMs' | 'maxRooms' | 'roomUnusedMs' | 'idleTimeoutMs'>
    >,
  ): void {
    Object.assign(this.options, changes);
    // New limits may make rooms or users due now: look again from the start.
    this.idleScan = undefined;
    this.scheduleSweep(this.options.clock.now());
  }

  /** Number of open sessions, registered or not. */
  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Accepts a new connection: greets it and starts the registration timer, or refuses it when full. */
  connect(sink: ClientSink, remoteAddress: string): Session | undefined {
    if (this.sessions.size >= this.options.maxClients) {
      const text = `The server is full (${this.options.maxClients} connections); try again in a minute: a place frees up whenever someone leaves.`;
      sink.send(encodeLine('ERR', ['SERVER_FULL'], text));
      sink.send(encodeLine('BYE', [], 'Server full'));
      sink.close('server full');
      this.options.log.log('warn', 'refused', { addr: remoteAddress, reason: 'server full' });
      return undefined;
    }
    const addressKey = addressPrefix(remoteAddress);
    const fromAddress = this.perAddress.get(addressKey) ?? 0;
    if (this.options.maxPerAddress > 0 && fromAddress >= this.options.maxPerAddress) {
      const text = `Your address already has ${fromAddress} connections, the most this server allows; close one of them, or try again in a minute.`;
      sink.send(encodeLine('ERR', ['TOO_MANY_CONNECTIONS'], text));
      sink.send(encodeLine('BYE', [], 'Too many connections'));
      sink.close('too many connections');
      this.options.log.log('warn', 'refused', { addr: remoteAddress, reason: 'too many connections from address' });
      return undefined;
    }
    this.perAddress.set(addressKey, fromAddress + 1);
    const session = new Session(this.nextId++, sink, remoteAddress, this.options.clock.now());
    this.sessions.add(session);
    session.send(
      encodeLine(
        'HELLO',
        [`mychatd/${this.options.version}`],
        `Welcome to ${this.options.serverName}! Type a nickname and press Enter (letters, digits, _ and -; /help for help).`,
      ),
    );
    session.registrationTimer = this.options.clock.setTimeout(() => {
      if (session.state === 'awaiting-nick') this.end(session, QUIT_REASONS.timedOut, 'No nickname chosen in time');
    }, this.options.registrationTimeoutMs);
    this.options.log.log('info', 'connect', { id: session.id, addr: remoteAddress });
    return session;
  }

  /**
   * Handles one framed input line. A ChatError becomes one ERR line to the sender; any other exception
   * escapes to the adapter, which drops only this connection. A command that has to wait (a history
   * query) returns a Promise: the adapter hands this connection nothing more until it settles, so one
   * connection's commands are answered in the order they were sent.
   */
  handleInput(session: Session, input: InputLine): Promise<void> | undefined {
    if (session.state === 'closing') return undefined;
    // Any line, even /ping, an empty or an invalid one, shows the client is there (see idleTimeoutMs).
    session.lastInput = this.options.clock.now();
    try {
      // Inside a /paste block every line is text for the block, commands included, until the end line.
      if (session.paste !== undefined) {
        if (input.ok && input.text === PASTE_END) this.endPaste(session);
        else session.paste.take(input);
        return undefined;
      }
      if (!input.ok) {
        if (input.code === 'DROPPED') return undefined;
        throw input.code === 'LINE_TOO_LONG'
          ? new ChatError('LINE_TOO_LONG', `Line too long: the limit is ${LIMITS.maxLineBytes} bytes. It was not sent.`)
          : new ChatError('BAD_UTF8', 'Line is not valid UTF-8. It was not sent.');
      }
      const parsed = parseInput(input.text);
      if (parsed === undefined) return undefined;
      // Idle time (shown by /whois) restarts on anything the user says or does, but not on /ping.
      if (parsed.kind === 'text' || parsed.name !== 'ping') session.lastActive = this.options.clock.now();
      if (parsed.kind === 'text') {
        if (session.state === 'awaiting-nick') return this.setNick(session, parsed.text);
        this.sayToRoom(session, parsed.text, 'MSG');
        return undefined;
      }
      const spec = this.table.lookup(parsed.name);
      if (spec === undefined) {
        throw new ChatError('UNKNOWN_COMMAND', `Unknown command /${neutralise(parsed.name)}. Type /help for the list.`);
      }
      if (!spec.states.includes(session.state)) {
        throw new ChatError('NICK_REQUIRED', `Pick a nickname before using /${spec.name}: type it and press Enter.`);
      }
      const args = parseArgs(spec, parsed.args);
      const result = spec.run({ core: this, session, table: this.table }, args);
      if (!(result instanceof Promise)) return undefined;
      return result.catch((error: unknown) => {
        if (!(error instanceof ChatError)) throw error;
        this.refuse(session, error.code, error.message);
      });
    } catch (error) {
      if (!(error instanceof ChatError)) throw error;
      this.refuse(session, error.code, error.message);
      return undefined;
    }
  }

  /**
   * What one input line costs in the flood budget, asked before handleInput: inside a /paste block
   * nothing for its lines and, for the end line, one per 20 lines of the block (see PasteBlock.cost);
   * otherwise 1 for a plain line or a cheap command and the command's declared cost for an expensive
   * one (a /history page is not one line's worth of work).
   */
  inputCost(session: Session, text: string): number {
    const pasteCost = session.paste?.cost(text);
    if (pasteCost !== undefined) return pasteCost;
    if (session.state !== 'registered') return 1;
    const parsed = parseInput(text);
    if (parsed === undefined || parsed.kind === 'text') return 1;
    return this.table.lookup(parsed.name)?.cost ?? 1;
  }

  /** True when `text` is a /quit (or an alias) that the session would run as a command (not inside a paste). */
  isQuit(session: Session, text: string): boolean {
    if (session.state === 'closing' || session.paste !== undefined) return false;
    const parsed = parseInput(text);
    return parsed !== undefined && parsed.kind === 'command' && this.table.lookup(parsed.name)?.name === 'quit';
  }

  /** Sends one NOTICE line to a session (used by adapters, e.g. for flood control). */
  notice(session: Session, text: string): void {
    session.send(encodeLine('NOTICE', [], neutralise(text)));
  }

  /** The one place a refusal becomes an ERR line. */
  refuse(session: Session, code: ErrorCode, text: string): void {
    session.send(encodeLine('ERR', [code], text));
  }

  /**
   * Removes a session after its connection ended for any reason (EOF, reset, error, send-queue overflow);
   * tells everyone who shares a room with it. Safe to call more than once.
   */
  disconnect(session: Session, reason: string): void {
    if (!this.sessions.has(session)) return;
    this.detach(session, reason);
  }

  /** Ends a session from the server side: says BYE with `byeText`, tells others, closes the connection. */
  end(session: Session, reason: string, byeText: string = reason): void {
    if (!this.sessions.has(session)) return;
    session.send(encodeLine('BYE', [], neutralise(byeText)));
    this.detach(session, reason);
    session.sink.close(reason);
  }

  /** Tells every client the server is going away and closes every connection. */
  shutdown(reason: string = QUIT_REASONS.shutdown): void {
    this.sweepStopped = true;
    if (this.sweepTimer !== undefined) this.options.clock.clearTimeout(this.sweepTimer);
    const notice = encodeLine('BYE', [], reason);
    for (const session of [...this.sessions]) {
      session.send(notice);
      // Everyone is leaving at once: no QUIT fan-out, just release the names and close.
      this.release(session);
      session.sink.close(reason);
    }
  }

  // ---- operations used by the command handlers ----

  /** Picks (when registering: the Promise is the automatic join's replay) or changes a nickname. */
  setNick(session: Session, raw: string): Promise<void> | undefined {
    const nick = normaliseName(raw.trim());
    const shape = nickShapeProblem(nick);
    if (shape !== undefined) throw new ChatError('NICK_INVALID', `Invalid nickname: ${shape}.`);
    // Clashes first, so a look-alike (often mixed-script or invisible too) is told which name it imitates.
    const keys = lookKeys(nick);
    this.checkNickFree(session, nick, keys);
    const problem = nickProblem(nick);
    if (problem !== undefined) throw new ChatError('NICK_INVALID', `Invalid nickname: ${problem}.`);
    const key = foldName(nick);
    if (session.state === 'awaiting-nick') return this.register(session, nick, key);
    const old = session.nick;
    if (old === nick) {
      session.send(encodeLine('OK', ['NICK', nick], `You are already ${nick}.`));
      return undefined;
    }
    this.nicks.delete(session.nickKey);
    this.dropClaim(session, old);
    this.nicks.set(key, session);
    session.nick = nick;
    session.nickKey = key;
    this.claim(session);
    const event = encodeLine('NICK', [old, nick]);
    for (const peer of this.peersOf(session)) peer.send(event);
    session.send(encodeLine('OK', ['NICK', nick], `You are now known as ${nick}.`));
    this.options.log.log('info', 'nick', { id: session.id, from: old, to: nick });
    return undefined;
  }

  /**
   * Joins a room, creating it if new, and makes it the current room. Replaying the room's history reads
   * the store off the event loop: the Promise settles once the replay and OK JOIN were sent, and live
   * lines that arrive meanwhile are held back so they come after the replay, never before.
   */
  join(session: Session, rawName: string): Promise<void> | undefined {
    const name = this.validRoomName(rawName);
    const existing = this.rooms.get(nameKey(name));
    const already = existing?.members.has(session) === true;
    if (!already && session.rooms.length >= LIMITS.maxRoomsPerUser) {
      throw new ChatError('TOO_MANY_ROOMS', `You are in ${LIMITS.maxRoomsPerUser} rooms, the limit; /part one first.`);
    }
    const room = existing ?? this.createRoom(session, name);
    if (!already) {
      room.broadcast(encodeLine('JOIN', [room.name, session.nick]));
      room.members.add(session);
    }
    session.makeCurrent(room);
    this.sendRoomInfo(session, room);
    this.sendNames(session, room.name, room.members);
    const ok = encodeLine('OK', ['JOIN', room.name], `Now talking in ${room.name}.`);
    // Replay only on really entering a room that existed: a new room has nothing to replay.
    const history = this.options.history;
    const queries = this.options.historyQueries;
    // A room where nothing was ever said (a topic alone does not count) has nothing worth a query.
    if (existing === undefined || already || !session.replay || this.options.historyReplay <= 0 || !history || !queries || !room.persistent || !room.used) {
      session.send(ok);
      return undefined;
    }
    // Everything said before this join is committed and replayed; everything after it is live (held).
    history.commit();
    const uptoId = history.lastMessageId();
    session.hold();
    return this.replayPage(queries, room, uptoId).then(
      ({ entries }) => {
        const end = entries.length > 0 ? `Replayed the last ${entries.length}; /history ${room.name} for more.` : 'No history yet.';
        this.releaseAfterReplay(session, [...this.historyLines(room, entries, end), ok]);
      },
      (error: unknown) => {
        const why = error instanceof ChatError ? error.message : 'History could not be read.';
        this.options.log.log('warn', 'replay-failed', { id: session.id, room: room.name, error: error instanceof Error ? error.message : String(error) });
        this.releaseAfterReplay(session, [encodeLine('HISTEND', [room.name, '0'], `No replay: ${neutralise(why)}`), ok]);
      },
    );
  }

  /**
   * The replay page of `room` up to `uptoId`. Joins that ask for the same page within a second share one
   * read, so a storm of joins (everyone reconnecting after a restart) costs one query per room, not one
   * per joiner. The map holds only pages of the last second.
   */
  private replayPage(queries: HistoryQueries, room: Room, uptoId: number): Promise<HistoryPage> {
    const now = this.options.clock.now();
    const cached = this.replayPages.get(room);
    if (cached !== undefined && cached.uptoId === uptoId && cached.limit === this.options.historyReplay && now - cached.at < REPLAY_SHARE_MS) return cached.page;
    for (const [other, entry] of this.replayPages) if (now - entry.at >= REPLAY_SHARE_MS) this.replayPages.delete(other);
    const page = queries.recent(room.key, this.options.historyReplay, uptoId);
    this.replayPages.set(room, { uptoId, limit: this.options.historyReplay, at: now, page });
    // A failed read is not shared with later joiners: they try again.
    page.catch(() => {
      if (this.replayPages.get(room)?.page === page) this.replayPages.delete(room);
    });
    return page;
  }

  /** Sends a replay and what was held during it; a session that got too far behind meanwhile is dropped. */
  private releaseAfterReplay(session: Session, replay: readonly Buffer[]): void {
    const overflow = session.heldOverflow;
    session.release(overflow ? [] : replay);
    if (overflow) this.end(session, QUIT_REASONS.sendQueue, 'Send queue exceeded');
  }

  /** Leaves a room (the current one by default), telling its members. */
  part(session: Session, rawName: string | undefined, rawReason: string | undefined): void {
    const room = rawName === undefined ? session.currentRoom : this.findRoom(rawName);
    if (room === undefined) throw new ChatError('NO_CURRENT_ROOM', 'You are not in any room.');
    if (!room.members.has(session)) throw new ChatError('NOT_IN_ROOM', `You are not in ${room.name}.`);
    const reason = this.reason(rawReason);
    this.leaveRoom(session, room, encodeLine('PART', [room.name, session.nick], reason));
    const current = session.currentRoom;
    session.send(
      encodeLine(
        'OK',
        ['PART', room.name],
        current ? `Left ${room.name}; now talking in ${current.name}.` : `Left ${room.name}; you are in no room now (/join #ROOM).`,
      ),
    );
  }

  /** Sends a message or /me action to the current room. */
  sayToRoom(session: Session, rawText: string, keyword: 'MSG' | 'ACTION'): void {
    const room = session.currentRoom;
    if (room === undefined) throw new ChatError('NO_CURRENT_ROOM', 'You are not in any room, so the line was not sent: /join #ROOM first.');
    const text = neutralise(rawText);
    this.store(session, room, keyword, text);
    room.broadcast(encodeLine(keyword, [room.name, session.nick], text), session);
  }

  /**
   * Ends the session's /paste block: its lines go to the room's other members as consecutive PASTE
   * lines (all queued in this one call, so nothing comes between them) and into history as one entry.
   */
  private endPaste(session: Session): void {
    const block = session.paste;
    if (block === undefined) return;
    session.paste = undefined;
    session.lastActive = this.options.clock.now();
    const room = block.room;
    if (block.failed) {
      session.send(encodeLine('OK', ['PASTE', room.name], 'Paste ended; it was discarded and nothing of it was sent.'));
      return;
    }
    const lines = block.lines;
    if (lines.length === 0) {
      session.send(encodeLine('OK', ['PASTE', room.name], 'Empty paste; nothing was sent.'));
      return;
    }
    if (!room.members.has(session)) throw new ChatError('NOT_IN_ROOM', `You are no longer in ${room.name}, so the paste was not sent.`);
    this.store(session, room, 'PASTE', lines.join('\n'));
    const id = String(this.nextPasteId++);
    const encoded = lines.map((text, i) => encodeLine('PASTE', [room.name, session.nick, id, `${i + 1}/${lines.length}`], text));
    for (const member of room.members) {
      if (member !== session) for (const line of encoded) member.send(line);
    }
    session.send(encodeLine('OK', ['PASTE', room.name], lines.length === 1 ? 'Sent 1 line.' : `Sent ${lines.length} lines.`));
  }

  /** Sends a private message. */
  privateMessage(session: Session, rawNick: string, rawText: string): void {
    const target = this.findNick(rawNick);
    target.send(encodeLine('PRIVMSG', [session.nick], neutralise(rawText)));
    session.send(encodeLine('OK', ['MSG', target.nick], `Message sent to ${target.nick}.`));
  }

  /** Shows a room's topic, or sets it (members only); "-" clears it. */
  topic(session: Session, rawName: string, rawText: string | undefined): void {
    const room = this.findRoom(rawName);
    if (rawText === undefined) {
      this.sendRoomInfo(session, room);
      const by = room.topic ? `Topic set by ${room.topicBy} at ${new Date(room.topicAt).toISOString()}.` : 'No topic is set.';
      session.send(encodeLine('OK', ['TOPIC', room.name], by));
      return;
    }
    if (!room.members.has(session)) throw new ChatError('NOT_IN_ROOM', `Join ${room.name} to change its topic.`);
    const text = rawText === '-' ? '' : neutralise(rawText);
    if (codePoints(text) > LIMITS.maxTopicLength) {
      throw new ChatError('TEXT_TOO_LONG', `A topic has at most ${LIMITS.maxTopicLength} characters.`);
    }
    room.topic = text;
    room.topicBy = session.nick;
    room.topicAt = this.options.clock.now();
    this.store(session, room, 'TOPIC', text);
    room.broadcast(encodeLine('TOPIC', [room.name, session.nick], text), session);
    session.send(encodeLine('OK', ['TOPIC', room.name], text ? `Topic of ${room.name} changed.` : `Topic of ${room.name} cleared.`));
  }

  /** Ends the session at the user's request. */
  quit(session: Session, rawReason: string | undefined): void {
    const reason = this.reason(rawReason);
    // Leaving on purpose gives the nickname up at once: only abrupt ends hold it (see release).
    this.quitting.add(session);
    this.end(session, reason ? `Quit: ${reason}` : 'Quit', 'Goodbye!');
  }

  // ---- history ----

  /**
   * The reader for history queries, after committing what is queued (so a user finds what they have
   * just said), or NO_HISTORY when this server keeps none.
   */
  historyReader(): HistoryQueries {
    const { history, historyQueries } = this.options;
    if (history === undefined || historyQueries === undefined) throw new ChatError('NO_HISTORY', 'This server keeps no history.');
    history.commit();
    return historyQueries;
  }

  /** The HISTORY lines for stored entries (oldest first) followed by one HISTEND line with `endText`. */
  historyLines(room: Room, entries: readonly HistoryEntry[], endText: string): Buffer[] {
    const lines = entries.flatMap((entry) => historyLines(room, entry));
    lines.push(encodeLine('HISTEND', [room.name, String(entries.length)], endText));
    return lines;
  }

  /** Tells the senders of unsaved entries, once per outage, that history is not being saved. */
  historyOutage(unsaved: readonly NewHistoryEntry[]): void {
    this.outageSerial++;
    const told = new Set<Session>();
    for (const entry of unsaved) {
      const sender = this.nicks.get(foldName(entry.nick));
      if (sender !== undefined && !told.has(sender)) {
        told.add(sender);
        this.noticeOutage(sender);
      }
    }
  }

  /**
   * Applies retention in one bounded step. A room whose last message was deleted counts as unused from
   * then on, topic or not, and is forgotten like any unused room. Returns false while more steps are needed.
   */
  pruneHistory(policy: RetentionPolicy): boolean {
    const store = this.options.history;
    if (store === undefined) return true;
    const result = store.prune(this.options.clock.now(), policy);
    for (const key of result.unusedRooms) {
      const room = this.rooms.get(key);
      if (room === undefined || !room.used) continue;
      room.used = false;
      if (room.members.size === 0 && room.name !== LOBBY) this.markUnused(room);
    }
    if (result.deletedMessages > 0) this.options.log.log('info', 'history-pruned', { messages: result.deletedMessages, unusedRooms: result.unusedRooms.length });
    return result.done;
  }

  // ---- read-only views used by informational commands ----

  /** Finds a room by name, ignoring case, or throws NO_SUCH_ROOM / ROOM_INVALID. */
  findRoom(rawName: string): Room {
    const name = this.validRoomName(rawName);
    const room = this.rooms.get(nameKey(name));
    if (room === undefined) throw new ChatError('NO_SUCH_ROOM', `There is no room ${name}.`);
    return room;
  }

  /** Finds an online, registered user by nickname, ignoring case, or throws NO_SUCH_NICK. */
  findNick(rawNick: string): Session {
    const target = this.nicks.get(foldName(rawNick));
    if (target === undefined) throw new ChatError('NO_SUCH_NICK', `No one called ${neutralise(rawNick)} is online.`);
    return target;
  }

  /**
   * All rooms, sorted by name. The sort is redone only after a room came or went, so /rooms from many
   * clients over thousands of rooms costs one sort, not one each.
   */
  allRooms(): readonly Room[] {
    if (this.sortedRooms?.version !== this.rooms.version) {
      const rooms = [...this.rooms.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      this.sortedRooms = { version: this.rooms.version, rooms };
    }
    return this.sortedRooms.rooms;
  }

  /** The `limit` rooms with the most members, in name order; picked again at most once a second. */
  busiestRooms(limit: number): readonly Room[] {
    const now = this.options.clock.now();
    if (this.busiest === undefined || this.busiest.limit !== limit || now - this.busiest.at >= 1000) {
      const chosen = new Set([...this.allRooms()].sort((a, b) => b.members.size - a.members.size).slice(0, limit));
      this.busiest = { at: now, limit, rooms: this.allRooms().filter((room) => chosen.has(room)) };
    }
    return this.busiest.rooms;
  }

  /** All registered sessions. */
  registered(): IterableIterator<Session> {
    return this.nicks.values();
  }

  /** Number of registered users. */
  get userCount(): number {
    return this.nicks.size;
  }

  /** Sends `ROOM name members topic`. */
  sendRoomInfo(session: Session, room: Room): void {
    session.send(encodeLine('ROOM', [room.name, String(room.members.size)], room.topic));
  }

  /** Sends NAMES lines listing `members`, a bounded number per line. */
  sendNames(session: Session, label: string, members: Iterable<Session>): void {
    let batch: string[] = [];
    for (const member of members) {
      batch.push(member.nick);
      if (batch.length === NAMES_PER_LINE) {
        session.send(encodeLine('NAMES', [label], batch.join(' ')));
        batch = [];
      }
    }
    if (batch.length > 0) session.send(encodeLine('NAMES', [label], batch.join(' ')));
  }

  // ---- internals ----

  private outageSerial = 0;
  /** lookKeys of every online or held nickname: a new nickname may share none of them. */
  private readonly nickClaims = new Map<string, NickClaim>();
  /** Held nicknames by nameKey, in the order they were held, so expired ones are purged from the front. */
  private readonly holds = new Map<string, NickClaim>();
  /** lookKeys of the reserved nicknames, rebuilt when the list changes (see reservedIndex). */
  private reserved: { list: readonly string[]; index: Map<string, string> } | undefined;
  /** Sessions ending by /quit, which gives the nickname up at once instead of holding it. */
  private readonly quitting = new WeakSet<Session>();
  /** lookKeys of every room (entries of forgotten rooms are dropped lazily), so a new room cannot imitate one. */
  private readonly roomLooks = new Map<string, Room>();

  /**
   * Throws NICK_IN_USE or NICK_RESERVED when `nick` (with its lookKeys `keys`) clashes with another
   * session's nickname, a nickname held for someone else, or a reserved name; the reply names that name.
   */
  private checkNickFree(session: Session, nick: string, keys: readonly string[]): void {
    const now = this.options.clock.now();
    this.purgeHolds(now);
    for (const key of keys) {
      const claim = this.nickClaims.get(key);
      if (claim === undefined || claim.session === session) continue;
      if (claim.session === undefined) {
        if (claim.until <= now) {
          this.dropHold(claim);
          continue;
        }
        if (claim.address === addressPrefix(session.remoteAddress)) continue;
        const seconds = Math.ceil((claim.until - now) / 1000);
        throw new ChatError(
          'NICK_RESERVED',
          `The nickname ${claim.nick} is held for someone who just disconnected, for ${seconds} more second${seconds === 1 ? '' : 's'}; pick another.`,
        );
      }
      if (foldName(claim.nick) === foldName(nick)) throw new ChatError('NICK_IN_USE', `The nickname ${nick} is taken; pick another.`);
      throw new ChatError('NICK_IN_USE', `The nickname ${nick} looks like ${claim.nick}, who is online; pick another.`);
    }
    const reserved = this.reservedIndex();
    for (const key of keys) {
      const name = reserved.get(key);
      if (name === undefined) continue;
      if (foldName(name) === foldName(nick)) throw new ChatError('NICK_RESERVED', `The nickname ${name} is reserved; pick another.`);
      throw new ChatError('NICK_RESERVED', `The nickname ${nick} looks like the reserved name ${name}; pick another.`);
    }
  }

  /** The reserved names by lookKeys, rebuilt only when reconfigure gave a new list. */
  private reservedIndex(): Map<string, string> {
    const list = this.options.reservedNicks;
    if (this.reserved?.list !== list) {
      const index = new Map<string, string>();
      for (const raw of list) {
        const name = normaliseName(raw.trim());
        if (name !== '') for (const key of lookKeys(name)) index.set(key, name);
      }
      this.reserved = { list, index };
    }
    return this.reserved.index;
  }

  /** Records the registered session's nickname in nickClaims, replacing a hold it reclaims. */
  private claim(session: Session): void {
    const keys = lookKeys(session.nick);
    for (const key of keys) {
      const old = this.nickClaims.get(key);
      if (old !== undefined && old.session === undefined) this.dropHold(old);
    }
    const claim: NickClaim = { nick: session.nick, keys, session, until: 0 };
    for (const key of keys) this.nickClaims.set(key, claim);
  }

  /** Removes the claims `session` holds on `nick`. */
  private dropClaim(session: Session, nick: string): void {
    for (const key of lookKeys(nick)) if (this.nickClaims.get(key)?.session === session) this.nickClaims.delete(key);
  }

  /** Holds the nickname of a registered session that ended abruptly, for nickHoldMs, for its address only. */
  private hold(session: Session): void {
    if (this.options.nickHoldMs <= 0) return;
    const now = this.options.clock.now();
    this.purgeHolds(now);
    const key = nameKey(session.nick);
    const old = this.holds.get(key);
    if (old !== undefined) this.dropHold(old);
    // Holds come only from disconnects of registered users, which the connection limits bound; the cap
    // keeps memory bounded even under a storm of reconnects.
    while (this.holds.size >= Math.max(1, this.options.maxClients)) this.dropHold(this.holds.values().next().value!);
    const claim: NickClaim = {
      nick: session.nick,
      keys: lookKeys(session.nick),
      address: addressPrefix(session.remoteAddress),
      until: now + this.options.nickHoldMs,
    };
    this.holds.set(key, claim);
    for (const look of claim.keys) if (!this.nickClaims.has(look)) this.nickClaims.set(look, claim);
  }

  /** Forgets holds that have expired, oldest first (a hold made under a shorter --nick-hold may wait behind an older one). */
  private purgeHolds(now: number): void {
    for (const claim of this.holds.values()) {
      if (claim.until > now) break;
      this.dropHold(claim);
    }
  }

  private dropHold(claim: NickClaim): void {
    this.holds.delete(nameKey(claim.nick));
    for (const key of claim.keys) if (this.nickClaims.get(key) === claim) this.nickClaims.delete(key);
  }

  /**
   * Rooms created per address block (IPv4 /24, IPv6 /64) in its current hour-long window (see
   * LIMITS.maxRoomsCreatedPerHour); rebuilt from the store's creation log at start.
   */
  private readonly roomCreations = new Map<string, { windowStart: number; count: number }>();
  /**
   * Rooms with no members and no stored message, in the order they became so (oldest first): the ones
   * to forget when unused too long, or to reclaim at the room cap. Entries of rooms used again since are
   * dropped when met.
   */
  private readonly unusedRooms = new Map<string, Room>();
  /** The idle-timeout pass in progress: where it is in the registered sessions, and the earliest next expiry seen. */
  private idleScan: { sessions: IterableIterator<Session>; next: number } | undefined;
  private sweepTimer: unknown;
  /** When the housekeeping timer fires (Infinity: not armed). */
  private sweepAt = Infinity;
  private sweepStopped = false;
  /** State of the rate-limited room-cap warnings. */
  private readonly roomWarnings = { high: false, nearAt: -Infinity, fullAt: -Infinity };

  /** Milliseconds until address block `creator` may create another room (0: now). */
  private roomCreationWait(creator: string, now: number): number {
    const entry = this.roomCreations.get(creator);
    if (entry === undefined || now - entry.windowStart >= ROOM_CREATION_WINDOW_MS || entry.count < LIMITS.maxRoomsCreatedPerHour) return 0;
    return entry.windowStart + ROOM_CREATION_WINDOW_MS - now;
  }

  /** Counts one room created by address block `creator`. */
  private countRoomCreation(creator: string, now: number): void {
    let entry = this.roomCreations.get(creator);
    if (entry === undefined || now - entry.windowStart >= ROOM_CREATION_WINDOW_MS) {
      // Drop expired windows as we go, so the map holds only blocks active in the last hour.
      if (this.roomCreations.size > 1000) {
        for (const [key, value] of this.roomCreations) if (now - value.windowStart >= ROOM_CREATION_WINDOW_MS) this.roomCreations.delete(key);
      }
      entry = { windowStart: now, count: 0 };
      this.roomCreations.set(creator, entry);
    }
    entry.count++;
  }

  /** Queues a room event for the history store (committed at the end of this event-loop turn). */
  private store(session: Session, room: Room, kind: HistoryKind, text: string): void {
    const history = this.options.history;
    if (history === undefined) return;
    history.append({ roomKey: room.key, roomName: room.name, at: this.options.clock.now(), nick: session.nick, kind, text });
    room.persistent = true;
    // A topic alone does not make a room used: setting one must not let a squatter keep a room.
    if (kind !== 'TOPIC') room.used = true;
    if (!history.healthy) this.noticeOutage(session);
  }

  private noticeOutage(session: Session): void {
    if (session.outageNotified === this.outageSerial) return;
    session.outageNotified = this.outageSerial;
    session.send(encodeLine('NOTICE', [], 'History cannot be saved right now (storage error): your messages are delivered live but may not be kept.'));
  }

  private register(session: Session, nick: string, key: string): Promise<void> | undefined {
    this.options.clock.clearTimeout(session.registrationTimer);
    // Dropped, not just cleared: a cleared Timeout kept for the whole session costs each connection 120 B.
    session.registrationTimer = undefined;
    this.nicks.set(key, session);
    session.nick = nick;
    session.nickKey = key;
    this.claim(session);
    session.state = 'registered';
    if (this.options.idleTimeoutMs > 0) this.scheduleSweep(session.lastInput + this.options.idleTimeoutMs);
    session.send(encodeLine('OK', ['NICK', nick], `Welcome, ${nick}! Type /help for commands; plain lines go to your current room.`));
    for (const line of this.options.motd.split(/\r?\n/)) {
      if (line.trim().length > 0) session.send(encodeLine('NOTICE', [], neutralise(line)));
    }
    this.options.log.log('info', 'register', { id: session.id, nick });
    return this.join(session, LOBBY);
  }

  /**
   * The NFC form of a proposed room name, or ROOM_INVALID. A name that reaches an existing room by its key
   * is fine; a new one must follow every naming rule and must not look like an existing room.
   */
  private validRoomName(rawName: string): string {
    const name = normaliseName(rawName);
    const shape = roomShapeProblem(name);
    if (shape !== undefined) throw new ChatError('ROOM_INVALID', `Invalid room name: ${shape}.`);
    if (this.rooms.has(nameKey(name))) return name;
    const twin = this.roomLookAlike(name);
    if (twin !== undefined) {
      throw new ChatError('ROOM_INVALID', `Invalid room name: ${name} looks like ${twin.name}, which exists; join ${twin.name} or pick another name.`);
    }
    const problem = roomProblem(name);
    if (problem !== undefined) throw new ChatError('ROOM_INVALID', `Invalid room name: ${problem}.`);
    return name;
  }

  /** An existing room whose name looks like `name` (their lookKeys meet), if any. */
  private roomLookAlike(name: string): Room | undefined {
    for (const key of lookKeys(name)) {
      const room = this.roomLooks.get(key);
      if (room === undefined) continue;
      if (this.rooms.get(room.key) === room) return room;
      this.roomLooks.delete(key); // the room was forgotten since
    }
    return undefined;
  }

  /**
   * Creates a room within the server's limits; with a history store it persists from now on. At the room
   * cap it takes the place of the room unused the longest; only when every room is in use is it refused.
   */
  private createRoom(session: Session, name: string): Room {
    const now = this.options.clock.now();
    const full = this.rooms.size >= this.options.maxRooms;
    const reclaimed = full ? this.oldestUnusedRoom() : undefined;
    if (full && reclaimed === undefined) {
      if (now - this.roomWarnings.fullAt >= ROOM_WARNING_INTERVAL_MS) {
        this.roomWarnings.fullAt = now;
        this.options.log.log('warn', 'rooms-full', { rooms: this.rooms.size, max: this.options.maxRooms, note: 'every room has members or messages; new rooms are refused' });
      }
      throw new ChatError('TOO_MANY_ROOMS', 'The server has as many rooms as it allows, all in use; join an existing one (/rooms).');
    }
    const creator = addressPrefix(session.remoteAddress, 24, 64);
    const wait = this.roomCreationWait(creator, now);
    if (wait > 0) {
      const minutes = Math.ceil(wait / 60_000);
      throw new ChatError(
        'TOO_MANY_ROOMS',
        `Your network can create ${LIMITS.maxRoomsCreatedPerHour} rooms an hour; join an existing one (/rooms) or try again in ${minutes} minute${minutes === 1 ? '' : 's'}.`,
      );
    }
    this.countRoomCreation(creator, now);
    if (reclaimed !== undefined) {
      this.dropRoom(reclaimed);
      this.options.log.log('debug', 'room-reclaimed', { room: reclaimed.name, for: name });
    }
    const room = this.ensureRoom(name);
    if (this.options.history !== undefined) {
      this.options.history.saveRoom({ roomKey: room.key, roomName: room.name, at: now, creator });
      room.persistent = true;
    }
    this.checkRoomCount(now);
    return room;
  }

  /** Warns once when the room count reaches ROOM_WARNING_SHARE of the cap (again only after it fell below, and not often). */
  private checkRoomCount(now: number): void {
    const high = this.rooms.size >= ROOM_WARNING_SHARE * this.options.maxRooms;
    if (high && !this.roomWarnings.high && now - this.roomWarnings.nearAt >= ROOM_WARNING_INTERVAL_MS) {
      this.roomWarnings.nearAt = now;
      this.options.log.log('warn', 'rooms-near-cap', { rooms: this.rooms.size, max: this.options.maxRooms, note: 'at the cap, new rooms replace unused ones' });
    }
    this.roomWarnings.high = high;
  }

  /** True for a room that may be forgotten: no members, no stored message, not #lobby, still current. */
  private isUnused(room: Room): boolean {
    return room.members.size === 0 && !room.used && room.name !== LOBBY && this.rooms.get(room.key) === room;
  }

  /** Notes that a room became unused now, so that it expires roomUnusedMs from now. */
  private markUnused(room: Room): void {
    room.unusedSince = this.options.clock.now();
    // Re-inserting keeps the map in unusedSince order.
    this.unusedRooms.delete(room.key);
    this.unusedRooms.set(room.key, room);
    this.scheduleSweep(room.unusedSince + this.options.roomUnusedMs);
  }

  /** The room unused the longest, if any. */
  private oldestUnusedRoom(): Room | undefined {
    for (const [key, room] of this.unusedRooms) {
      if (this.isUnused(room)) return room;
      this.unusedRooms.delete(key);
    }
    return undefined;
  }

  /** Forgets a room everywhere; its name is free again. */
  private dropRoom(room: Room): void {
    this.rooms.delete(room.key);
    this.unusedRooms.delete(room.key);
    this.options.history?.forgetRoom(room.key);
  }

  /** Arms the housekeeping timer for time `at`, unless it fires earlier already. */
  private scheduleSweep(at: number): void {
    if (this.sweepStopped || at >= this.sweepAt) return;
    const clock = this.options.clock;
    if (this.sweepTimer !== undefined) clock.clearTimeout(this.sweepTimer);
    this.sweepAt = at;
    this.sweepTimer = clock.setTimeout(() => this.sweep(), Math.max(0, at - clock.now()));
  }

  /**
   * Housekeeping on the core's clock: forgets rooms unused too long and disconnects idle users, in bounded
   * steps; one timer serves both, armed for the next thing due (none when nothing can become due).
   */
  private sweep(): void {
    this.sweepTimer = undefined;
    this.sweepAt = Infinity;
    const now = this.options.clock.now();
    const next = Math.min(this.expireUnusedRooms(now), this.expireIdleSessions(now));
    if (next < Infinity) this.scheduleSweep(Math.max(next, now + SWEEP_PAUSE_MS));
  }

  /** One bounded step of room expiry; returns when the next room is due (now: more is due at once). */
  private expireUnusedRooms(now: number): number {
    let visited = 0;
    let forgotten = 0;
    let next = Infinity;
    for (const [key, room] of this.unusedRooms) {
      if (visited++ === SWEEP_SCAN_STEP || forgotten === SWEEP_END_STEP) {
        next = now;
        break;
      }
      if (!this.isUnused(room)) {
        this.unusedRooms.delete(key);
        continue;
      }
      const due = room.unusedSince + this.options.roomUnusedMs;
      if (due > now) {
        next = due;
        break;
      }
      this.dropRoom(room);
      forgotten++;
    }
    if (forgotten > 0) {
      this.options.log.log('debug', 'rooms-expired', { rooms: forgotten, left: this.rooms.size });
      this.checkRoomCount(now);
    }
    return next;
  }

  /** One bounded step of the idle timeout over registered users; returns when the next one is due. */
  private expireIdleSessions(now: number): number {
    const timeout = this.options.idleTimeoutMs;
    if (timeout <= 0) {
      this.idleScan = undefined;
      return Infinity;
    }
    const scan = (this.idleScan ??= { sessions: this.nicks.values(), next: Infinity });
    let visited = 0;
    let ended = 0;
    for (;;) {
      if (visited === SWEEP_SCAN_STEP || ended === SWEEP_END_STEP) return now;
      const item = scan.sessions.next();
      if (item.done === true) break;
      visited++;
      const session = item.value;
      const due = session.lastInput + timeout;
      if (due > now) {
        scan.next = Math.min(scan.next, due);
        continue;
      }
      ended++;
      const seconds = Math.round(timeout / 1000);
      this.end(session, QUIT_REASONS.idle, `Idle timeout: nothing received from you for ${seconds} second${seconds === 1 ? '' : 's'}.`);
    }
    this.idleScan = undefined;
    return scan.next;
  }

  private ensureRoom(name: string): Room {
    const key = nameKey(name);
    let room = this.rooms.get(key);
    if (room === undefined) {
      room = new Room(name, key);
      this.rooms.set(key, room);
      // Forgotten rooms leave stale entries; rebuilding when they outnumber live ones keeps the index bounded.
      if (this.roomLooks.size > 2 * this.rooms.size + 64) {
        this.roomLooks.clear();
        for (const live of this.rooms.values()) for (const look of lookKeys(live.name)) this.roomLooks.set(look, live);
      } else {
        for (const look of lookKeys(name)) this.roomLooks.set(look, room);
      }
    }
    return room;
  }

  /**
   * Removes a member from a room and tells the remaining members with `event`. A room left empty is
   * forgotten at once without a history store, or later (see roomUnusedMs) when nothing was said in it.
   */
  private leaveRoom(session: Session, room: Room, event: Buffer | undefined): void {
    room.members.delete(session);
    session.forget(room);
    if (event) room.broadcast(event);
    if (room.members.size > 0 || room.name === LOBBY) return;
    if (!room.persistent) this.rooms.delete(room.key);
    else if (!room.used) this.markUnused(room);
  }

  /** Everyone who shares at least one room with `session`, each once. */
  private peersOf(session: Session): Set<Session> {
    const peers = new Set<Session>();
    for (const room of session.rooms) {
      for (const member of room.members) if (member !== session) peers.add(member);
    }
    return peers;
  }

  private detach(session: Session, reason: string): void {
    const wasRegistered = session.state === 'registered';
    // Peers are collected before release() takes the session out of its rooms; they hear QUIT after.
    const peers = wasRegistered ? this.peersOf(session) : undefined;
    this.release(session);
    if (peers !== undefined) {
      const event = encodeLine('QUIT', [session.nick], neutralise(reason));
      for (const peer of peers) peer.send(event);
    }
    this.options.log.log('info', 'disconnect', { id: session.id, nick: session.nick || undefined, reason });
  }

  /** Frees everything the session held; after this it receives nothing more. */
  private release(session: Session): void {
    this.options.clock.clearTimeout(session.registrationTimer);
    for (const room of [...session.rooms]) this.leaveRoom(session, room, undefined);
    if (session.nickKey && this.nicks.get(session.nickKey) === session) {
      this.nicks.delete(session.nickKey);
      this.dropClaim(session, session.nick);
      if (!this.quitting.has(session)) this.hold(session);
    }
    session.state = 'closing';
    if (this.sessions.delete(session)) {
      const addressKey = addressPrefix(session.remoteAddress);
      const left = (this.perAddress.get(addressKey) ?? 1) - 1;
      if (left > 0) this.perAddress.set(addressKey, left);
      else this.perAddress.delete(addressKey);
    }
  }

  private reason(raw: string | undefined): string {
    if (raw === undefined) return '';
    const text = neutralise(raw);
    return codePoints(text) > LIMITS.maxReasonLength ? [...text].slice(0, LIMITS.maxReasonLength).join('') : text;
  }
}
