/**
 * What the chat core says to a connection, as typed data. The core never builds wire text: codecs
 * (lib/codec) turn each event into mychat lines, JSON objects or, later, IRC lines. The only text the core
 * makes is the human sentence inside replies, failures, notices and the like.
 *
 * Events are immutable once emitted: one object is handed to every member of a room, and each codec
 * encodes it at most once however many members receive it.
 */

/** Kinds a stored history entry can have (the same words the mychat wire format uses); TOPIC is a topic change. */
export type HistoryKind = 'MSG' | 'ACTION' | 'TOPIC' | 'PASTE';

/** The greeting sent on connect. `server` is `mychatd/VERSION`. */
export interface HelloEvent {
  readonly type: 'hello';
  readonly server: string;
  readonly text: string;
}

/** A command of yours succeeded: `command` is its upper-case name (JOIN, NICK, ...), `subject` what it was about. */
export interface ReplyEvent {
  readonly type: 'reply';
  readonly command: string;
  readonly subject: string;
  readonly text: string;
}

/** A command of yours failed, or the server refuses you: `code` is stable (lib/protocol/errors.ts). */
export interface FailureEvent {
  readonly type: 'failure';
  readonly code: string;
  readonly text: string;
}

/** The answer to /ping: sent only after everything before it was stored and queued. */
export interface PongEvent {
  readonly type: 'pong';
  readonly token: string;
}

/** The server closes the connection after this. */
export interface ByeEvent {
  readonly type: 'bye';
  readonly text: string;
}

/** Something the server tells you unprompted. */
export interface NoticeEvent {
  readonly type: 'notice';
  readonly text: string;
}

/** A line said in a room. `id` is its history id when it was stored. */
export interface MessageEvent {
  readonly type: 'message';
  readonly room: string;
  readonly from: string;
  readonly text: string;
  readonly at: number;
  readonly id?: number;
}

/** A /me action in a room. */
export interface ActionEvent {
  readonly type: 'action';
  readonly room: string;
  readonly from: string;
  readonly text: string;
  readonly at: number;
  readonly id?: number;
}

/** A /paste block posted to a room: its lines, in order, delivered together. `pasteId` groups them. */
export interface PasteEvent {
  readonly type: 'paste';
  readonly room: string;
  readonly from: string;
  readonly pasteId: string;
  readonly lines: readonly string[];
  readonly at: number;
}

/** A private message to you. */
export interface PrivateEvent {
  readonly type: 'private';
  readonly from: string;
  readonly text: string;
  readonly at: number;
}

/** Someone joined a room you are in. */
export interface JoinEvent {
  readonly type: 'join';
  readonly room: string;
  readonly nick: string;
}

/** Someone left a room you are in. */
export interface PartEvent {
  readonly type: 'part';
  readonly room: string;
  readonly nick: string;
  readonly reason: string;
}

/** Someone who shared a room with you disconnected. */
export interface QuitEvent {
  readonly type: 'quit';
  readonly nick: string;
  readonly reason: string;
}

/** Someone who shares a room with you changed nickname. */
export interface NickEvent {
  readonly type: 'nick';
  readonly from: string;
  readonly to: string;
}

/** A room's topic was changed (empty text: cleared). */
export interface TopicEvent {
  readonly type: 'topic';
  readonly room: string;
  readonly by: string;
  readonly text: string;
}

/** A room's member count and topic (on join, /topic, /rooms). */
export interface RoomInfoEvent {
  readonly type: 'room';
  readonly room: string;
  readonly members: number;
  readonly topic: string;
}

/** One batch of nicknames: the members of a room (`label` is the room) or of the server (`*`). */
export interface NamesEvent {
  readonly type: 'names';
  readonly label: string;
  readonly nicks: readonly string[];
}

/** What /whois tells about someone. */
export interface WhoisEvent {
  readonly type: 'whois';
  readonly nick: string;
  readonly rooms: readonly string[];
  /** When they connected, milliseconds since the epoch. */
  readonly connectedAt: number;
  readonly idleSeconds: number;
}

/** One line of /help output about `command` (`*` for the overview). */
export interface HelpEvent {
  readonly type: 'help';
  readonly command: string;
  readonly text: string;
}

/** One stored entry, replayed on join or listed by /history or /search. A paste's text holds its lines joined by \n. */
export interface HistoryEvent {
  readonly type: 'history';
  readonly room: string;
  readonly id: number;
  readonly at: number;
  readonly from: string;
  readonly kind: HistoryKind;
  readonly text: string;
}

/** Ends a run of history events: `count` entries were sent; `text` says how to get more, or why none. */
export interface HistoryEndEvent {
  readonly type: 'history-end';
  readonly room: string;
  readonly count: number;
  readonly text: string;
}

/** Everything the core can say to a connection. */
export type ChatEvent =
  | HelloEvent
  | ReplyEvent
  | FailureEvent
  | PongEvent
  | ByeEvent
  | NoticeEvent
  | MessageEvent
  | ActionEvent
  | PasteEvent
  | PrivateEvent
  | JoinEvent
  | PartEvent
  | QuitEvent
  | NickEvent
  | TopicEvent
  | RoomInfoEvent
  | NamesEvent
  | WhoisEvent
  | HelpEvent
  | HistoryEvent
  | HistoryEndEvent;

/** The `type` field of every event. */
export type ChatEventType = ChatEvent['type'];

/** Every event type, for codecs and schema checks that must cover them all. */
export const CHAT_EVENT_TYPES: readonly ChatEventType[] = [
  'hello', 'reply', 'failure', 'pong', 'bye', 'notice', 'message', 'action', 'paste', 'private', 'join', 'part', 'quit',
  'nick', 'topic', 'room', 'names', 'whois', 'help', 'history', 'history-end',
];
