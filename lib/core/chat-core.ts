import { LIMITS } from '../protocol/limits';
import type { InputLine } from '../protocol/line-decoder';
import { parseInput, type ParsedInput } from '../protocol/parse-input';
import { neutralise } from '../protocol/text-hygiene';
import { addressPrefix } from './address-prefix';
import { CommandTable, parseArgs, type CommandCore } from './command-table';
import { ChatError, type ErrorCode } from '../protocol/errors';
import { PASTE_END } from './paste-block';
import { QUIT_REASONS } from '../protocol/quit-reasons';
import { Session, type Room } from './session';
import type { NewHistoryEntry, RetentionPolicy } from './ports/history-store';
import type { ChatEvent } from './events';
import { failure, notice } from './replies';
import type { ClientSink } from './ports/client-sink';
import { memberDelivery, type RoomBus } from './ports/room-bus';
import type { NickRegistry } from './ports/nick-registry';
import type { ClusterPresence } from './ports/cluster-presence';
import { LocalNickRegistry } from './nick-registry';
import { peersOf, RoomDirectory } from './room-directory';
import { HistoryFeed } from './history-feed';
import { defaultCommands } from './commands';
import { defaultCoreOptions, type ChatCoreOptions } from './core-options';
import { endPaste, sayToRoom } from './commands/message-commands';
import { setNick } from './commands/session-commands';

// Re-exported so that the daemon, the adapters and the tests keep importing them from the core's entry point.
export { DEFAULT_LARGE_ROOM, DEFAULT_MAX_PER_ADDRESS, DEFAULT_RESERVED_NICKS, DEFAULT_ROOM_UNUSED_MS, type ChatCoreOptions } from './core-options';
export { QUIT_REASONS };

/** Most idle users disconnected, or registered users looked at, in one housekeeping step: each step stays short. */
const SWEEP_END_STEP = 100;
const SWEEP_SCAN_STEP = 1000;
/** Pause between housekeeping steps while more is due, leaving the event loop to chat. */
const SWEEP_PAUSE_MS = 10;

/**
 * The chat core: connections, their life cycle and the dispatch of their input to the command handlers
 * (lib/core/commands). Nicknames live in a NickRegistry, rooms in the RoomDirectory, history in the
 * HistoryFeed, and room events go out through a RoomBus. It never sees a socket: each session talks to a
 * ClientSink, and the network adapter calls connect, handleInput and disconnect.
 */
export class ChatCore implements CommandCore {
  readonly options: ChatCoreOptions;
  readonly table: CommandTable;
  /** Who has which nickname (options.nicks, or this process's LocalNickRegistry). */
  readonly nicks: NickRegistry<Session>;
  /** The rooms and their members. */
  readonly rooms: RoomDirectory;
  /** Storing, reading and replaying room history. */
  readonly feed: HistoryFeed;
  /** Where every room event is published (options.bus, or delivery to this process's members). */
  readonly bus: RoomBus;
  /** Who is online on the other servers of a cluster (options.presence; undefined when alone). */
  readonly presence: ClusterPresence | undefined;
  private readonly sessions = new Set<Session>();
  /** Open connections per remote address (entries vanish at zero, so the map is bounded by connections). */
  private readonly perAddress = new Map<string, number>();
  private nextId = 1;
  /** Id of the next /paste block, shared by its PASTE lines; counts per server process. */
  private nextPasteId = 1;
  /** The idle-timeout pass in progress: where it is in the registered sessions, and the earliest next expiry seen. */
  private idleScan: { sessions: IterableIterator<Session>; next: number } | undefined;
  private sweepTimer: unknown;
  /** When the housekeeping timer fires (Infinity: not armed). */
  private sweepAt = Infinity;
  private sweepStopped = false;

  constructor(options: Partial<ChatCoreOptions> = {}, table: CommandTable = new CommandTable(defaultCommands)) {
    this.options = { ...defaultCoreOptions(), ...options };
    this.table = table;
    // The parts read this.options when they need a setting, so reconfigure reaches them too.
    this.bus = this.options.bus ?? memberDelivery;
    this.presence = this.options.presence;
    this.nicks = this.options.nicks ?? new LocalNickRegistry(this.options);
    this.feed = new HistoryFeed(this.options);
    this.rooms = new RoomDirectory(this.options, this.bus, (at) => this.scheduleSweep(at));
  }

  /**
   * Changes settings on a running core (config reload). Connection limits, names and the MOTD apply from
   * the next connection or login (the auto-join room too); room limits from the next room created; the
   * idle timeout, room expiry, the large-room size and the rooms whose history is not kept at once.
   */
  reconfigure(
    changes: Partial<
      Pick<
        ChatCoreOptions,
        'motd' | 'maxClients' | 'maxPerAddress' | 'registrationTimeoutMs' | 'reservedNicks' | 'nickHoldMs' | 'maxRooms' | 'roomUnusedMs' | 'idleTimeoutMs' | 'largeRoom' | 'autoJoin' | 'historyOffRooms'
      >
    >,
  ): void {
    Object.assign(this.options, changes);
    this.rooms.keepAutoJoin();
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
      sink.deliver(failure('SERVER_FULL', text));
      sink.deliver({ type: 'bye', text: 'Server full' });
      sink.close('server full');
      this.options.log.log('warn', 'refused', { addr: remoteAddress, reason: 'server full' });
      return undefined;
    }
    const addressKey = addressPrefix(remoteAddress);
    const fromAddress = this.perAddress.get(addressKey) ?? 0;
    if (this.options.maxPerAddress > 0 && fromAddress >= this.options.maxPerAddress) {
      const text = `Your address already has ${fromAddress} connections, the most this server allows; close one of them, or try again in a minute.`;
      sink.deliver(failure('TOO_MANY_CONNECTIONS', text));
      sink.deliver({ type: 'bye', text: 'Too many connections' });
      sink.close('too many connections');
      this.options.log.log('warn', 'refused', { addr: remoteAddress, reason: 'too many connections from address' });
      return undefined;
    }
    this.perAddress.set(addressKey, fromAddress + 1);
    const session = new Session(this.nextId++, sink, remoteAddress, this.options.clock.now());
    this.sessions.add(session);
    session.deliver({
      type: 'hello',
      server: `mychatd/${this.options.version}`,
      text: `Welcome to ${this.options.serverName}! Type a nickname and press Enter (letters, digits, _ and -; /help for help).`,
    });
    session.registrationTimer = this.options.clock.setTimeout(() => {
      if (session.state === 'awaiting-nick') this.end(session, QUIT_REASONS.timedOut, 'No nickname chosen in time');
    }, this.options.registrationTimeoutMs);
    this.options.log.log('info', 'connect', { id: session.id, addr: remoteAddress });
    return session;
  }

  /**
   * Handles one framed input line. A ChatError becomes one failure event to the sender; any other exception
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
        if (input.ok && input.text === PASTE_END) endPaste(this, session);
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
      const result = this.dispatch(session, parsed);
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

  /** Runs a parsed line: a plain line is a nickname before registration and a room message after it; a command goes to its handler. */
  private dispatch(session: Session, parsed: ParsedInput): void | Promise<void> {
    const context = { core: this, session, table: this.table };
    if (parsed.kind === 'text') {
      if (session.state === 'awaiting-nick') return setNick(context, parsed.text);
      return sayToRoom(this, session, parsed.text, 'MSG');
    }
    const spec = this.table.lookup(parsed.name);
    if (spec === undefined) {
      throw new ChatError('UNKNOWN_COMMAND', `Unknown command /${neutralise(parsed.name)}. Type /help for the list.`);
    }
    if (!spec.states.includes(session.state)) {
      throw new ChatError('NICK_REQUIRED', `Pick a nickname before using /${spec.name}: type it and press Enter.`);
    }
    return spec.run(context, parseArgs(spec, parsed.args));
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

  /** Sends one notice to a session (used by adapters, e.g. for flood control). */
  notice(session: Session, text: string): void {
    session.deliver(notice(neutralise(text)));
  }

  /** The one place a refusal (a ChatError from a command, or an adapter's) reaches a session, as a failure event. */
  refuse(session: Session, code: ErrorCode, text: string): void {
    session.deliver(failure(code, text));
  }

  /**
   * Removes a session after its connection ended for any reason (EOF, reset, error, send-queue overflow);
   * tells everyone who shares a room with it. Safe to call more than once.
   */
  disconnect(session: Session, reason: string): void {
    if (!this.sessions.has(session)) return;
    this.detach(session, reason, true);
  }

  /**
   * Ends a session from the server side: says BYE with `byeText`, tells others, closes the connection. The
   * nickname is held for the address as after a lost connection, unless `holdNick` is false (/quit).
   */
  end(session: Session, reason: string, byeText: string = reason, holdNick = true): void {
    if (!this.sessions.has(session)) return;
    session.deliver({ type: 'bye', text: neutralise(byeText) });
    this.detach(session, reason, holdNick);
    session.sink.close(reason);
  }

  /** Tells every client the server is going away and closes every connection. */
  shutdown(reason: string = QUIT_REASONS.shutdown): void {
    this.sweepStopped = true;
    if (this.sweepTimer !== undefined) this.options.clock.clearTimeout(this.sweepTimer);
    const bye: ChatEvent = { type: 'bye', text: reason };
    for (const session of [...this.sessions]) {
      session.deliver(bye);
      // Everyone is leaving at once: no QUIT fan-out here, just release the names and close; users on
      // other servers of a cluster do see this server's users quit.
      if (session.state === 'registered') this.presence?.departed(session, reason, this.shownRooms(session));
      this.release(session, true);
      session.sink.close(reason);
    }
  }

  admit(session: Session): void {
    this.options.clock.clearTimeout(session.registrationTimer);
    // Dropped, not just cleared: a cleared Timeout kept for the whole session costs each connection 120 B.
    session.registrationTimer = undefined;
    session.state = 'registered';
    this.presence?.registered(session);
    if (this.options.idleTimeoutMs > 0) this.scheduleSweep(session.lastInput + this.options.idleTimeoutMs);
  }

  pasteId(): string {
    return String(this.nextPasteId++);
  }

  /**
   * The shared store found a room this server counted as created by `creator` already stored (another
   * server made it): the creation is given back (the PostgreSQL store's onRoomExisted).
   */
  roomExisted(_roomKey: string, creator: string): void {
    this.rooms.refundCreation(creator);
  }

  /** Tells the senders of unsaved entries, once per outage, that history is not being saved (the store's onOutage). */
  historyOutage(unsaved: readonly NewHistoryEntry[]): void {
    this.feed.outage(unsaved, (nick) => this.nicks.find(nick));
  }

  /**
   * Applies retention in one bounded step. A room whose last message was deleted counts as unused from
   * then on, topic or not, and is forgotten like any unused room. Returns false while more steps are needed.
   */
  pruneHistory(policy: RetentionPolicy): boolean {
    const result = this.feed.prune(policy);
    if (result === undefined) return true;
    this.rooms.messagesGone(result.unusedRooms);
    return result.done;
  }

  /** Finds a room by name, ignoring case, or throws NO_SUCH_ROOM / ROOM_INVALID. */
  findRoom(rawName: string): Room {
    return this.rooms.find(rawName);
  }

  /** All rooms, sorted by name. */
  allRooms(): readonly Room[] {
    return this.rooms.all();
  }

  /** Number of registered users. */
  get userCount(): number {
    return this.nicks.size;
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
    const next = Math.min(this.rooms.expireUnused(now), this.expireIdleSessions(now));
    if (next < Infinity) this.scheduleSweep(Math.max(next, now + SWEEP_PAUSE_MS));
  }

  /** One bounded step of the idle timeout over registered users; returns when the next one is due. */
  private expireIdleSessions(now: number): number {
    const timeout = this.options.idleTimeoutMs;
    if (timeout <= 0) {
      this.idleScan = undefined;
      return Infinity;
    }
    const scan = (this.idleScan ??= { sessions: this.nicks.owners(), next: Infinity });
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

  private detach(session: Session, reason: string, holdNick: boolean): void {
    const wasRegistered = session.state === 'registered';
    // Peers are collected before release() takes the session out of its rooms; they hear QUIT after.
    const peers = wasRegistered ? peersOf(session, (room) => this.rooms.isLarge(room)) : undefined;
    if (wasRegistered) this.presence?.departed(session, reason, this.shownRooms(session));
    this.release(session, holdNick);
    if (peers !== undefined) {
      const event: ChatEvent = { type: 'quit', nick: session.nick, reason: neutralise(reason) };
      for (const peer of peers) peer.deliver(event);
    }
    this.options.log.log('info', 'disconnect', { id: session.id, nick: session.nick || undefined, reason });
  }

  /** The session's rooms that hear of its presence changes (the ones not large). */
  shownRooms(session: Session): Room[] {
    return session.rooms.filter((room) => !this.rooms.isLarge(room));
  }

  /** Frees everything the session held; after this it receives nothing more. */
  private release(session: Session, holdNick: boolean): void {
    this.options.clock.clearTimeout(session.registrationTimer);
    for (const room of [...session.rooms]) this.rooms.leave(session, room, undefined);
    if (session.nick !== '') this.nicks.release(session.nick, session, holdNick && session.state === 'registered');
    session.state = 'closing';
    if (this.sessions.delete(session)) {
      const addressKey = addressPrefix(session.remoteAddress);
      const left = (this.perAddress.get(addressKey) ?? 1) - 1;
      if (left > 0) this.perAddress.set(addressKey, left);
      else this.perAddress.delete(addressKey);
    }
  }
}
