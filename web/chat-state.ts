import type { ServerEvent } from './events';
import { planPaste } from './paste';
import { mentions, nameKey, utf8Bytes } from './text';
import { LIMITS } from '../lib/protocol/limits';

/*
 * The browser client's model, free of the DOM so unit tests can drive it: conversations (rooms, private
 * conversations, the server pane, search results) with their entries, members, topics, unread counts and
 * mention badges, fed by JSON-mode events; and the user's input turned into what is sent.
 *
 * The server answers each command in order with one final reply, and a run of history events (a join's
 * replay, a /history page, /search results) always ends with history-end just before the reply of the
 * command that asked for it. So a run is kept per room until the reply (JOIN, HISTORY or SEARCH) says
 * what it was, and names and room lines are kept until the JOIN or WHO reply that ends them.
 */

/** What an entry of a conversation is. */
export type EntryKind = 'message' | 'action' | 'paste' | 'event' | 'topic' | 'notice' | 'error' | 'info' | 'marker';

/** One line (or block) of a conversation's pane. */
export interface Entry {
  /** Local sequence number, unique for the page's life. */
  seq: number;
  kind: EntryKind;
  from?: string;
  /** The text; a paste's lines joined by LF. */
  text: string;
  /** When it was said (ISO 8601); undefined for local notes. */
  at?: string;
  /** History id, when the server stored it. */
  id?: number;
  /** Read from the server's history (a replay, scroll-back or a search), not seen live. */
  history?: boolean;
  /** Said by this user. */
  self?: boolean;
  /** Names this user. */
  mention?: boolean;
  /** For a search result: the room it was said in. */
  room?: string;
}

/** What a conversation is: a room, a private conversation with one person, the server's own pane, or search results. */
export type ConversationKind = 'room' | 'private' | 'server' | 'search';

/** One entry of the conversation list, with what its pane shows. */
export interface Conversation {
  key: string;
  kind: ConversationKind;
  /** '#dev', 'bob', the server's name, or the search title. */
  name: string;
  topic: string;
  /** A room's members, sorted ignoring case. */
  members: string[];
  entries: Entry[];
  unread: number;
  mentions: number;
  /** A room the user is in (also while reconnecting, until it is joined again). */
  joined: boolean;
  /** Scroll-back reached the room's first stored entry (or the server keeps no history). */
  historyDone: boolean;
  /** A /history page for scroll-back is on its way. */
  loadingOlder: boolean;
  /** Bumped when entries change other than by appending or prepending, so the view redraws the pane. */
  layout: number;
}

/** Where the connection stands, for the view. */
export type Phase = 'connecting' | 'nick' | 'registering' | 'chat' | 'offline' | 'quit';

/** What submitting the input did. */
export type SubmitResult = { ok: true } | { ok: false; why: string } | { ok: false; confirm: string };

/** Most entries kept per conversation; older ones are dropped (scroll-back reads them again). */
export const MAX_ENTRIES = 3000;
/** Most private conversations kept open. */
export const MAX_PRIVATE = 100;
/** Most frames held while a paste block is being opened. */
const MAX_HELD = 200;
/** Entries one scroll-back request asks for. */
export const HISTORY_PAGE = 50;

/** The history-end text of a /history page with nothing before it (mychat-protocol(7), /history). */
const START_OF_HISTORY = 'Start of history.';

const SERVER_KEY = '*server';
const SEARCH_KEY = '*search';

const roomKey = (room: string): string => nameKey(room);
const privateKey = (nick: string): string => '@' + nameKey(nick);
const sortNames = (names: Iterable<string>): string[] => [...names].sort((a, b) => nameKey(a).localeCompare(nameKey(b)));

type HistoryEvent = Extract<ServerEvent, { type: 'history' }>;

interface PasteState {
  token: string;
  room: string;
  lines: string[];
  step: 'ping' | 'start' | 'body';
}

/** The browser client's state; `send` takes one text frame for the server, `changed` is called after every change. */
export class ChatState {
  phase: Phase = 'connecting';
  /** The user's nickname once registered ('' before). */
  nick = '';
  /** The nickname to register (again after a reconnect). */
  wantedNick = '';
  /** Why the last nickname was refused, in the server's words. */
  nickError = '';
  serverName = '';
  currentKey = SERVER_KEY;
  readonly conversations = new Map<string, Conversation>();
  /** A paste waiting for the user's confirmation. */
  pendingPaste: { room: string; lines: string[] } | undefined;

  private seq = 0;
  private userQuit = false;
  /**
   * The room the server will send plain lines and /me to once it has read everything sent so far: the
   * server reads in order, so it is the room of the last /join sent. Undefined when unknown (after a
   * /part, a failure, a reconnect): the next plain line is then preceded by a /join, which is harmless.
   */
  private serverCurrent: string | undefined;
  private readonly userJoins = new Set<string>();
  private readonly runs = new Map<string, HistoryEvent[]>();
  /** The history-end text of each finished run ("Start of history." when a /history page reached the first entry). */
  private readonly runEnds = new Map<string, string>();
  private readonly names = new Map<string, string[]>();
  private readonly roomInfos = new Map<string, { room: string; members: number; topic: string }>();
  private readonly searches = new Map<string, string>();
  private readonly topicsSet = new Map<string, string>();
  private resumeRooms: string[] = [];
  private historyFor: string | undefined;
  private paste: PasteState | undefined;
  private pasteCount = 0;
  private held: string[] = [];

  constructor(
    private readonly send: (frame: string) => void,
    private readonly changed: () => void = () => undefined,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.conversations.set(SERVER_KEY, this.blank(SERVER_KEY, 'server', 'server'));
  }

  /** The conversation the pane shows. */
  get current(): Conversation {
    return this.conversations.get(this.currentKey) ?? this.conversations.get(SERVER_KEY)!;
  }

  /** Conversations in list order: the server pane, rooms, private conversations, search results. */
  list(): Conversation[] {
    const rank: Record<ConversationKind, number> = { server: 0, room: 1, private: 2, search: 3 };
    return [...this.conversations.values()]
      .filter((c) => c.kind !== 'room' || c.joined)
      .sort((a, b) => rank[a.kind] - rank[b.kind] || nameKey(a.name).localeCompare(nameKey(b.name)));
  }

  /** Names completion may offer: the current room's members first, then everyone else seen. */
  knownNicks(): string[] {
    const all = new Set<string>(this.current.members);
    for (const c of this.conversations.values()) {
      if (c.kind === 'private') all.add(c.name);
      for (const m of c.members) all.add(m);
    }
    all.delete(this.nick);
    return [...all];
  }

  /** Rooms completion may offer. */
  knownRooms(): string[] {
    return sortNames(new Set([...this.list().filter((c) => c.kind === 'room').map((c) => c.name), ...[...this.roomInfos.values()].map((r) => r.room)]));
  }

  /** Shows a conversation and clears its unread count and mention badge. */
  select(key: string): void {
    const c = this.conversations.get(key);
    if (c === undefined) return;
    this.currentKey = key;
    c.unread = 0;
    c.mentions = 0;
    this.changed();
  }

  /** Closes a private conversation or the search results (rooms are left with /part). */
  close(key: string): void {
    const c = this.conversations.get(key);
    if (c === undefined || (c.kind !== 'private' && c.kind !== 'search')) return;
    this.conversations.delete(key);
    if (this.currentKey === key) this.currentKey = this.list().find((x) => x.kind === 'room')?.key ?? SERVER_KEY;
    this.changed();
  }

  /** The WebSocket opened: the server's hello follows. */
  connected(): void {
    this.phase = this.wantedNick === '' ? 'connecting' : 'registering';
    this.changed();
  }

  /** The WebSocket closed: rooms are remembered to be joined again, unfinished work is dropped. */
  disconnected(reason: string): void {
    if (this.phase === 'chat') this.resumeRooms = this.list().filter((c) => c.kind === 'room').map((c) => c.name);
    if (this.paste !== undefined) this.note(this.paste.room, 'error', 'The connection was lost before the paste was sent; nothing of it was posted.');
    this.paste = undefined;
    this.held = [];
    this.runs.clear();
    this.runEnds.clear();
    this.names.clear();
    this.historyFor = undefined;
    for (const c of this.conversations.values()) c.loadingOlder = false;
    this.serverCurrent = undefined;
    this.nick = '';
    if (this.userQuit) {
      this.phase = 'quit';
    } else {
      this.phase = 'offline';
      this.note(undefined, 'error', reason);
    }
    this.changed();
  }

  /** True once the user asked to leave (/quit): no reconnecting. */
  get quitting(): boolean {
    return this.userQuit;
  }

  /**
   * The nickname form was sent: registers `nick` now, or, while the connection is still being made or
   * made again (the server's hello has not come yet: a slow link, a reconnect after a failed first try),
   * as soon as the hello comes, so the user need not press Enter twice. Elsewhere (registering, in the
   * chat) it is ignored.
   */
  submitNick(nick: string): void {
    if (this.phase === 'nick') this.register(nick);
    else if (this.phase === 'connecting' || this.phase === 'offline') {
      this.wantedNick = nick.trim();
      this.nickError = '';
      this.changed();
    }
  }

  /** Registers `nick`. */
  register(nick: string): void {
    this.wantedNick = nick.trim();
    this.nickError = '';
    this.phase = 'registering';
    this.frame({ cmd: 'nick', name: this.wantedNick });
    this.changed();
  }

  /** Asks for the page of history before the oldest entry shown (infinite scroll-back); false when there is none to ask for. */
  loadOlder(key: string): boolean {
    const c = this.conversations.get(key);
    if (c === undefined || c.kind !== 'room' || c.historyDone || c.loadingOlder || this.phase !== 'chat' || this.historyFor !== undefined || this.paste !== undefined) return false;
    const oldest = c.entries.find((e) => e.id !== undefined)?.id;
    c.loadingOlder = true;
    this.historyFor = key;
    this.frame(oldest === undefined ? { cmd: 'history', room: c.name, n: HISTORY_PAGE } : { cmd: 'history', room: c.name, n: HISTORY_PAGE, before: oldest });
    this.changed();
    return true;
  }

  /** Sends what the user typed: a line, a command, or several lines as one paste block. */
  submit(input: string, confirmed = false): SubmitResult {
    const text = input.replace(/\r\n?/g, '\n').replace(/\n+$/, '');
    if (text.trim() === '') return { ok: true };
    if (this.phase !== 'chat') return { ok: false, why: 'Not connected: wait until the client is back in the chat.' };
    if (text.includes('\n')) return this.submitPaste(text, confirmed);
    if (text.startsWith('/') && !text.startsWith('//')) return this.command(text);
    return this.say(text.startsWith('//') ? text.slice(1) : text);
  }

  /** Sends the paste waiting for confirmation. */
  confirmPaste(): void {
    const pending = this.pendingPaste;
    this.pendingPaste = undefined;
    if (pending !== undefined) this.startPaste(pending.room, pending.lines);
    this.changed();
  }

  /** Drops the paste waiting for confirmation. */
  cancelPaste(): void {
    this.pendingPaste = undefined;
    this.changed();
  }

  /** Reads one event from the server. */
  apply(event: ServerEvent): void {
    switch (event.type) {
      case 'hello':
        this.serverName = event.server;
        this.conversations.get(SERVER_KEY)!.name = event.server.split('/')[0] ?? 'server';
        this.note(SERVER_KEY, 'info', event.text);
        if (this.wantedNick !== '') this.register(this.wantedNick);
        else this.phase = 'nick';
        break;
      case 'reply':
        this.reply(event);
        break;
      case 'failure':
        this.failure(event.code, event.text);
        break;
      case 'pong':
        if (this.paste !== undefined && event.token === this.paste.token) this.paste.step = 'start';
        break;
      case 'bye':
        this.note(undefined, this.userQuit ? 'info' : 'error', event.text);
        break;
      case 'notice':
        this.note(this.phase === 'chat' ? undefined : SERVER_KEY, 'notice', event.text);
        break;
      case 'message':
      case 'action':
        this.said(this.room(event.room), { kind: event.type, from: event.from, text: event.text, at: event.at, id: event.id });
        break;
      case 'paste':
        this.said(this.room(event.room), { kind: 'paste', from: event.from, text: event.lines.join('\n'), at: event.at });
        break;
      case 'private':
        this.said(this.privateWith(event.from), { kind: 'message', from: event.from, text: event.text, at: event.at });
        break;
      case 'join': {
        const c = this.room(event.room);
        if (nameKey(event.nick) === nameKey(this.nick)) break;
        c.members = sortNames(new Set([...c.members, event.nick]));
        this.quiet(c, `${event.nick} joined`);
        break;
      }
      case 'part': {
        const c = this.room(event.room);
        c.members = c.members.filter((m) => nameKey(m) !== nameKey(event.nick));
        this.quiet(c, `${event.nick} left${event.reason ? ` (${event.reason})` : ''}`);
        break;
      }
      case 'quit':
        for (const c of this.conversations.values()) {
          const inRoom = c.members.some((m) => nameKey(m) === nameKey(event.nick));
          if (inRoom) c.members = c.members.filter((m) => nameKey(m) !== nameKey(event.nick));
          if (inRoom || c.key === privateKey(event.nick)) this.quiet(c, `${event.nick} quit${event.reason ? ` (${event.reason})` : ''}`);
        }
        break;
      case 'nick':
        this.renamed(event.from, event.to);
        break;
      case 'topic': {
        const c = this.room(event.room);
        c.topic = event.text;
        this.add(c, { kind: 'topic', from: event.by, text: event.text, at: this.now().toISOString() });
        break;
      }
      case 'room': {
        this.roomInfos.set(roomKey(event.room), event);
        const c = this.conversations.get(roomKey(event.room));
        if (c !== undefined) c.topic = event.topic;
        this.names.delete(roomKey(event.room));
        break;
      }
      case 'names': {
        const key = event.label === '*' ? '*' : roomKey(event.label);
        this.names.set(key, [...(this.names.get(key) ?? []), ...event.nicks]);
        break;
      }
      case 'whois':
        this.note(undefined, 'info', `${event.nick}: in ${event.rooms.join(' ') || 'no room'}; connected ${new Date(event.connectedAt).toLocaleString()}; idle ${event.idleSeconds} s`);
        break;
      case 'help':
        this.note(undefined, 'info', event.text);
        break;
      case 'history': {
        const key = roomKey(event.room);
        const run = this.runs.get(key) ?? [];
        if (run.length < LIMITS.maxReplay + LIMITS.maxHistoryPage) run.push(event);
        this.runs.set(key, run);
        break;
      }
      case 'history-end':
        if (!this.runs.has(roomKey(event.room))) this.runs.set(roomKey(event.room), []);
        this.runEnds.set(roomKey(event.room), event.text);
        break;
    }
    this.changed();
  }

  private reply(event: Extract<ServerEvent, { type: 'reply' }>): void {
    const key = roomKey(event.subject);
    switch (event.command) {
      case 'NICK': {
        const first = this.phase !== 'chat';
        const previous = this.nick;
        this.nick = event.subject;
        this.wantedNick = event.subject;
        this.phase = 'chat';
        this.nickError = '';
        if (first) {
          this.note(SERVER_KEY, 'info', event.text);
          // After a reconnect: back into every room the user was in (the automatic join is answered first).
          this.serverCurrent = undefined;
          for (const room of this.resumeRooms) this.join(room);
          this.resumeRooms = [];
        } else {
          if (previous !== '' && previous !== event.subject) this.renamed(previous, event.subject);
          this.note(undefined, 'info', event.text);
        }
        return;
      }
      case 'JOIN': {
        const c = this.room(event.subject);
        const wasJoined = c.joined;
        c.joined = true;
        const names = this.names.get(key);
        if (names !== undefined) c.members = sortNames(new Set(names));
        this.names.delete(key);
        const info = this.roomInfos.get(key);
        if (info !== undefined) c.topic = info.topic;
        const run = this.runs.get(key);
        this.runs.delete(key);
        this.runEnds.delete(key);
        if (run !== undefined) this.merge(c, run, true);
        if (run !== undefined && run.length === 0 && c.entries.every((e) => e.id === undefined)) c.historyDone = true;
        if (!wasJoined) this.quiet(c, `You joined ${c.name}`);
        const asked = this.userJoins.delete(key);
        if (asked || (!wasJoined && this.currentKey === SERVER_KEY)) this.select(key);
        return;
      }
      case 'PART': {
        const c = this.conversations.get(key);
        if (c !== undefined) {
          c.joined = false;
          c.members = [];
          if (this.currentKey === key) this.currentKey = this.list().find((x) => x.kind === 'room')?.key ?? SERVER_KEY;
        }
        this.serverCurrent = undefined;
        this.note(undefined, 'info', event.text);
        return;
      }
      case 'HISTORY': {
        const c = this.room(event.subject);
        const run = this.runs.get(key) ?? [];
        const end = this.runEnds.get(key);
        this.runs.delete(key);
        this.runEnds.delete(key);
        this.merge(c, run, false);
        if (this.historyFor === key) {
          this.historyFor = undefined;
          c.loadingOlder = false;
          // mychat-protocol(7): a page that reaches the first stored entry ends with "Start of history.".
          if (run.length === 0 || end === START_OF_HISTORY) c.historyDone = true;
        }
        return;
      }
      case 'SEARCH': {
        const run = this.runs.get(key) ?? [];
        this.runs.delete(key);
        this.runEnds.delete(key);
        const words = this.searches.get(key) ?? '';
        this.searches.delete(key);
        const c = this.conversations.get(SEARCH_KEY) ?? this.blank(SEARCH_KEY, 'search', '');
        c.name = `search ${event.subject}${words ? `: ${words}` : ''}`;
        c.topic = `${event.text} Newest first.`;
        c.entries = run.map((e) => ({ ...this.fromHistory(e), room: e.room }));
        c.layout++;
        this.conversations.set(SEARCH_KEY, c);
        this.select(SEARCH_KEY);
        return;
      }
      case 'WHO': {
        const label = event.subject === '*' ? '*' : key;
        const names = this.names.get(label) ?? [];
        this.names.delete(label);
        const c = this.conversations.get(label);
        if (c?.joined === true && c.kind === 'room') c.members = sortNames(new Set(names));
        this.note(undefined, 'info', `${event.subject === '*' ? 'Online' : event.subject}: ${sortNames(names).join(' ')}`);
        this.note(undefined, 'info', event.text);
        return;
      }
      case 'ROOMS': {
        for (const info of [...this.roomInfos.values()].sort((a, b) => b.members - a.members)) {
          this.note(undefined, 'info', `${info.room} (${info.members})${info.topic ? `: ${info.topic}` : ''}`);
        }
        this.roomInfos.clear();
        this.note(undefined, 'info', event.text);
        return;
      }
      case 'TOPIC': {
        const info = this.roomInfos.get(key);
        const set = this.topicsSet.get(key);
        this.topicsSet.delete(key);
        const c = this.conversations.get(key);
        if (set !== undefined && c !== undefined) c.topic = set === '-' ? '' : set;
        if (info !== undefined && set === undefined) this.note(undefined, 'info', `Topic of ${info.room}: ${info.topic || '(none)'}`);
        this.note(undefined, 'info', event.text);
        return;
      }
      case 'PASTE':
        if (this.paste !== undefined && this.paste.step === 'start') {
          const paste = this.paste;
          paste.step = 'body';
          for (const line of paste.lines) this.send(line);
          this.send('.');
          return;
        }
        if (this.paste !== undefined && this.paste.step === 'body') {
          this.paste = undefined;
          this.flushHeld();
          return;
        }
        this.note(undefined, 'info', event.text);
        return;
      case 'MSG':
        return;
      default:
        this.note(undefined, 'info', event.text);
    }
  }

  private failure(code: string, text: string): void {
    // A /join may have failed: where plain lines go is no longer certain.
    this.serverCurrent = undefined;
    if (this.phase === 'registering' || (this.phase === 'nick' && code.startsWith('NICK'))) {
      this.nickError = text;
      this.phase = 'nick';
      return;
    }
    if (this.paste !== undefined && this.paste.step === 'start') {
      const room = this.paste.room;
      this.paste = undefined;
      this.note(roomKey(room), 'error', `The paste was not sent: ${text}`);
      this.flushHeld();
      return;
    }
    if (this.historyFor !== undefined && (code === 'NO_HISTORY' || code === 'QUERY_TIMEOUT' || code === 'HISTORY_BUSY' || code === 'NO_SUCH_ROOM')) {
      const c = this.conversations.get(this.historyFor);
      this.historyFor = undefined;
      if (c !== undefined) {
        c.loadingOlder = false;
        // A busy or slow store may answer later; no history, or a room it does not know, will not.
        if (code === 'NO_HISTORY' || code === 'NO_SUCH_ROOM') c.historyDone = true;
        if (code === 'NO_HISTORY') this.note(c.key, 'info', text);
      }
      return;
    }
    this.note(undefined, 'error', text);
  }

  private command(text: string): SubmitResult {
    const space = text.search(/\s/);
    const name = (space < 0 ? text.slice(1) : text.slice(1, space)).toLowerCase();
    const args = space < 0 ? '' : text.slice(space).trim();
    const first = args.split(/\s+/)[0] ?? '';
    const rest = args.slice(first.length).trim();
    const c = this.current;
    switch (name) {
      case 'msg':
      case 'm':
      case 'tell':
        if (first === '' || rest === '') return { ok: false, why: 'Usage: /msg NICK TEXT' };
        if (first.startsWith('#')) return { ok: false, why: 'To talk in a room, switch to it and type; /msg is for one person.' };
        return this.privately(this.privateWith(first), rest);
      case 'query':
        if (first === '' || first.startsWith('#')) return { ok: false, why: 'Usage: /query NICK (opens a private conversation)' };
        this.select(this.privateWith(first).key);
        return { ok: true };
      case 'me':
      case 'action':
        if (args === '') return { ok: false, why: 'Usage: /me ACTION' };
        if (c.kind !== 'room') return { ok: false, why: '/me works in rooms only.' };
        this.toRoom(c);
        this.frame({ cmd: 'me', action: args });
        this.add(c, { kind: 'action', from: this.nick, text: args, at: this.now().toISOString(), self: true });
        return { ok: true };
      case 'join':
      case 'j': {
        if (first === '') return { ok: false, why: 'Usage: /join #ROOM' };
        const room = first.startsWith('#') ? first : '#' + first;
        this.userJoins.add(roomKey(room));
        this.join(room);
        return { ok: true };
      }
      case 'part':
      case 'leave':
        this.serverCurrent = undefined;
        if (first.startsWith('#')) this.line(text);
        else if (c.kind === 'room') this.line(`/part ${c.name}${args ? ' ' + args : ''}`);
        else return { ok: false, why: 'Usage: /part [#ROOM] [REASON] (switch to a room first, or name it)' };
        return { ok: true };
      case 'topic':
        if (first === '' && c.kind !== 'room') return { ok: false, why: 'Usage: /topic #ROOM [TEXT]' };
        if (first.startsWith('#')) {
          if (rest !== '') this.topicsSet.set(roomKey(first), rest);
          this.line(text);
        } else {
          if (args !== '') this.topicsSet.set(c.key, args);
          this.line(`/topic ${c.name}${args ? ' ' + args : ''}`);
        }
        return { ok: true };
      case 'search':
        if (first.startsWith('#') && rest !== '') {
          this.searches.set(roomKey(first), rest);
          this.line(text);
        } else if (c.kind === 'room' && args !== '') {
          this.searches.set(c.key, args);
          this.line(`/search ${c.name} ${args}`);
        } else return { ok: false, why: 'Usage: /search [#ROOM] WORDS' };
        return { ok: true };
      case 'history':
        if (!first.startsWith('#') && c.kind === 'room') this.line(`/history ${c.name}${args ? ' ' + args : ''}`);
        else this.line(text);
        return { ok: true };
      case 'paste':
        return { ok: false, why: 'To paste, put several lines in the input (Shift+Enter starts a new line, or paste them) and press Enter: they are sent as one block.' };
      case 'format':
        return { ok: false, why: 'The browser client speaks JSON mode; /format would leave it unable to read the server.' };
      case 'clear':
        c.entries = [];
        c.layout++;
        c.historyDone = c.kind !== 'room';
        this.changed();
        return { ok: true };
      case 'close':
        if (c.kind === 'room') return { ok: false, why: 'To leave a room, use /part.' };
        this.close(c.key);
        return { ok: true };
      case 'quit':
      case 'exit':
      case 'bye':
        this.userQuit = true;
        this.line(text);
        return { ok: true };
      default:
        this.line(text);
        return { ok: true };
    }
  }

  private say(text: string): SubmitResult {
    const c = this.current;
    if (c.kind === 'private') return this.privately(c, text);
    if (c.kind !== 'room') return { ok: false, why: 'Pick a room or a private conversation on the left first (or /join #ROOM).' };
    const frame = JSON.stringify({ cmd: 'say', text });
    if (utf8Bytes(frame) > LIMITS.maxLineBytes) return { ok: false, why: `A message has at most about ${LIMITS.maxLineBytes} bytes; several lines are sent as one paste block.` };
    this.toRoom(c);
    this.queue(frame);
    this.add(c, { kind: 'message', from: this.nick, text, at: this.now().toISOString(), self: true });
    return { ok: true };
  }

  private privately(c: Conversation, text: string): SubmitResult {
    const frame = JSON.stringify({ cmd: 'msg', nick: c.name, text });
    if (utf8Bytes(frame) > LIMITS.maxLineBytes) return { ok: false, why: `A message has at most about ${LIMITS.maxLineBytes} bytes.` };
    this.queue(frame);
    this.add(c, { kind: 'message', from: this.nick, text, at: this.now().toISOString(), self: true });
    return { ok: true };
  }

  private submitPaste(text: string, confirmed: boolean): SubmitResult {
    const c = this.current;
    if (c.kind !== 'room') return { ok: false, why: 'Several lines are sent as one paste block, which goes to a room: switch to a room first.' };
    const plan = planPaste(text);
    if (!plan.ok) return { ok: false, why: plan.why };
    if (plan.confirm && !confirmed) {
      this.pendingPaste = { room: c.name, lines: plan.lines };
      this.changed();
      return { ok: false, confirm: `Send ${plan.count} lines (${plan.bytes} bytes) to ${c.name} as one paste?` };
    }
    this.startPaste(c.name, plan.lines);
    return { ok: true };
  }

  /**
   * Starts a paste block. A /ping first marks where the /paste reply will be (replies come in order), and
   * nothing else is sent until the server has said the block is open: a refused /paste must never turn
   * the block's lines into ordinary messages or commands.
   */
  private startPaste(room: string, lines: string[]): void {
    const c = this.conversations.get(roomKey(room));
    if (this.paste !== undefined || c === undefined) {
      this.note(undefined, 'error', 'Another paste is still being sent; try again in a moment.');
      return;
    }
    const token = `paste-${++this.pasteCount}`;
    this.frame({ cmd: 'ping', token });
    this.line(`/paste ${room}`);
    this.paste = { token, room, lines, step: 'ping' };
    const unstuffed = lines.map((line) => (line.startsWith('.') ? line.slice(1) : line));
    this.add(c, { kind: 'paste', from: this.nick, text: unstuffed.join('\n'), at: this.now().toISOString(), self: true });
  }

  /** Makes `c` the server's current room before a plain line or /me, since those go to the server's current room. */
  private toRoom(c: Conversation): void {
    if (this.serverCurrent !== c.key) this.join(c.name);
  }

  /** Sends a /join, which also makes the room the server's current one. */
  private join(room: string): void {
    this.serverCurrent = roomKey(room);
    this.frame({ cmd: 'join', room });
  }

  private frame(object: Record<string, unknown>): void {
    this.queue(JSON.stringify(object));
  }

  private line(text: string): void {
    this.queue(text);
  }

  /** Sends a frame, or holds it while a paste block is being opened (it would land inside the block). */
  private queue(frame: string): void {
    if (this.paste === undefined) this.send(frame);
    else if (this.held.length < MAX_HELD) this.held.push(frame);
    else this.note(undefined, 'error', 'Too much typed while a paste is being sent; this line was not sent.');
  }

  private flushHeld(): void {
    const held = this.held;
    this.held = [];
    for (const frame of held) this.queue(frame);
  }

  private blank(key: string, kind: ConversationKind, name: string): Conversation {
    return { key, kind, name, topic: '', members: [], entries: [], unread: 0, mentions: 0, joined: kind === 'room' ? false : true, historyDone: kind !== 'room', loadingOlder: false, layout: 0 };
  }

  private room(name: string): Conversation {
    const key = roomKey(name);
    let c = this.conversations.get(key);
    if (c === undefined) {
      c = this.blank(key, 'room', name);
      this.conversations.set(key, c);
    }
    return c;
  }

  private privateWith(nick: string): Conversation {
    const key = privateKey(nick);
    let c = this.conversations.get(key);
    if (c === undefined) {
      // Strangers decide how many people write to you: past the bound the quietest conversation goes.
      const privates = [...this.conversations.values()].filter((x) => x.kind === 'private' && x.key !== this.currentKey);
      if (privates.length >= MAX_PRIVATE) {
        const last = (x: Conversation): number => x.entries[x.entries.length - 1]?.seq ?? 0;
        this.conversations.delete(privates.reduce((a, b) => (last(a) <= last(b) ? a : b)).key);
      }
      c = this.blank(key, 'private', nick);
      c.topic = `Private conversation with ${nick}`;
      this.conversations.set(key, c);
    }
    return c;
  }

  private renamed(from: string, to: string): void {
    for (const c of this.conversations.values()) {
      if (!c.members.some((m) => nameKey(m) === nameKey(from))) continue;
      c.members = sortNames(c.members.map((m) => (nameKey(m) === nameKey(from) ? to : m)));
      this.quiet(c, `${from} is now known as ${to}`);
    }
    const old = this.conversations.get(privateKey(from));
    if (old !== undefined && !this.conversations.has(privateKey(to))) {
      this.conversations.delete(old.key);
      old.key = privateKey(to);
      old.name = to;
      old.topic = `Private conversation with ${to}`;
      this.conversations.set(old.key, old);
      if (this.currentKey === privateKey(from)) this.currentKey = old.key;
      this.quiet(old, `${from} is now known as ${to}`);
    }
  }

  /** A message, action or paste from someone: added, counted as unread (and as a mention) unless its conversation is shown. */
  private said(c: Conversation, entry: Omit<Entry, 'seq'>): void {
    const mention = c.kind === 'private' || mentions(entry.text, this.nick);
    this.add(c, { ...entry, mention: c.kind === 'room' && mention });
    if (this.currentKey !== c.key) {
      c.unread++;
      if (mention) c.mentions++;
    }
  }

  private quiet(c: Conversation, text: string): void {
    this.add(c, { kind: 'event', text, at: this.now().toISOString() });
  }

  /** A local note in conversation `key` (undefined: the one shown). */
  private note(key: string | undefined, kind: EntryKind, text: string): void {
    const c = (key === undefined ? undefined : this.conversations.get(key)) ?? this.current;
    this.add(c, { kind, text });
  }

  private add(c: Conversation, entry: Omit<Entry, 'seq'>): void {
    c.entries.push({ ...entry, seq: ++this.seq });
    if (c.entries.length > MAX_ENTRIES) {
      c.entries.splice(0, c.entries.length - MAX_ENTRIES);
      c.historyDone = false;
      c.layout++;
    }
  }

  private fromHistory(e: HistoryEvent): Entry {
    const kind: EntryKind = e.kind === 'ACTION' ? 'action' : e.kind === 'PASTE' ? 'paste' : e.kind === 'TOPIC' ? 'topic' : 'message';
    const self = nameKey(e.from) === nameKey(this.nick);
    return { seq: ++this.seq, kind, from: e.from, text: e.text, at: e.at, id: e.id, history: true, self, mention: !self && kind !== 'topic' && mentions(e.text, this.nick) };
  }

  /**
   * Merges stored entries into a room by id: ids already shown are skipped (a replay after a reconnect
   * overlaps what is on screen), older ones go before, newer ones after, and an entry shown live (without
   * an id) takes the id instead of appearing twice.
   */
  private merge(c: Conversation, run: readonly HistoryEvent[], markStart: boolean): void {
    const known = new Set<number>();
    for (const e of c.entries) if (e.id !== undefined) known.add(e.id);
    const fresh = [...run].filter((e) => !known.has(e.id)).sort((a, b) => a.id - b.id);
    if (fresh.length === 0) return;
    const oldest = c.entries.find((e) => e.id !== undefined)?.id;
    const newest = [...c.entries].reverse().find((e) => e.id !== undefined)?.id;
    const before: Entry[] = [];
    const after: Entry[] = [];
    let middle = false;
    for (const e of fresh) {
      // A line already shown live (no id yet) is the same entry: the user's own by its text, anyone's by
      // sender, text and the server's time, which the live event and the stored entry share. A first
      // scroll-back page asked for after live lines arrived would otherwise show them twice.
      const from = nameKey(e.from);
      const mine = from === nameKey(this.nick) ? c.entries.find((x) => x.self === true && x.id === undefined && x.text === e.text) : undefined;
      const seen = mine ?? c.entries.find((x) => x.id === undefined && x.history !== true && x.at === e.at && x.text === e.text && x.from !== undefined && nameKey(x.from) === from);
      if (seen !== undefined) {
        seen.id = e.id;
        continue;
      }
      if (oldest === undefined || e.id > (newest ?? 0)) after.push(this.fromHistory(e));
      else if (e.id < oldest) before.push(this.fromHistory(e));
      else {
        const at = c.entries.findIndex((x) => x.id !== undefined && x.id > e.id);
        c.entries.splice(at, 0, this.fromHistory(e));
        middle = true;
      }
    }
    if (before.length > 0) c.entries.unshift(...before);
    if (after.length > 0) {
      c.entries.push(...after);
      if (markStart) c.entries.push({ seq: ++this.seq, kind: 'marker', text: `${after.length} stored ${after.length === 1 ? 'message' : 'messages'} above, from the history; live from here` });
    }
    if (middle) c.layout++;
  }
}
