import type { ActionEvent, MessageEvent, PasteEvent, PrivateEvent, TopicEvent, WhoisEvent } from '../core/events';
import type { UserState } from './presence-mirror';

/** Room events that travel between nodes on a room's channel; joins and parts travel as presence. */
export type RoomLineEvent = MessageEvent | ActionEvent | PasteEvent | TopicEvent;

/**
 * What a room channel carries: the publishing node (`n`), the room key (`k`) and the event; a topic change
 * also carries its version (`v`, see TOPIC_SET_SCRIPT), so a node never replaces a newer topic by an older.
 */
export interface RoomLine {
  n: string;
  k: string;
  e: RoomLineEvent;
  v?: number;
}

/**
 * What the presence channel carries: every node's users coming and going (`n` node, `s` session id), a
 * node asking for everyone's state (`sync`), a node's full state, and a node leaving cleanly (`bye`). A join
 * with `ack` (the first member of a room on its node) asks each node that has the room to answer `ack` on
 * the joiner's node channel once it knows: from then on it publishes the room's lines for that node too.
 */
export type PresenceMessage =
  | { t: 'up'; n: string; s: number; nick: string; at: number }
  | { t: 'join'; n: string; s: number; k: string; r: string; show: boolean; ack?: number }
  | { t: 'part'; n: string; s: number; k: string; reason?: string }
  | { t: 'nick'; n: string; s: number; to: string; show: string[] }
  | { t: 'quit'; n: string; s: number; reason: string; show: string[] }
  | { t: 'sync'; n: string }
  | { t: 'state'; n: string; users: UserState[] }
  | { t: 'bye'; n: string };

/** What a node's own channel carries: private messages to its users, /whois questions and answers, states, join acks. */
export type NodeMessage =
  | { t: 'ack'; n: string; id: number }
  | { t: 'pm'; to: string; e: PrivateEvent }
  | { t: 'whois?'; id: number; from: string; nick: string }
  | { t: 'whois!'; id: number; e: WhoisEvent | null }
  | { t: 'state'; n: string; users: UserState[] };

/** Event types a room channel may carry. */
const ROOM_LINE_TYPES = new Set(['message', 'action', 'paste', 'topic']);

/** True for the room events that go to other nodes on the room's channel. */
export function isRoomLine(event: { type: string }): event is RoomLineEvent {
  return ROOM_LINE_TYPES.has(event.type);
}

/**
 * A message from another node (one item of a published JSON array), or undefined when it is not an object
 * with a string `t`. Nodes trust each other (they share the Redis), so this guards against a stray
 * publisher or a version mix, not an attacker.
 */
export function parseWire<T extends { t: string }>(value: unknown): T | undefined {
  return typeof value === 'object' && value !== null && typeof (value as { t?: unknown }).t === 'string' ? (value as T) : undefined;
}

/** A room line (one item of a published JSON array), or undefined when it is malformed. */
export function parseRoomLine(value: unknown): RoomLine | undefined {
  const line = value as Partial<RoomLine> | null;
  if (typeof line !== 'object' || line === null || typeof line.n !== 'string' || typeof line.k !== 'string') return undefined;
  const event = line.e as { type?: unknown } | undefined;
  return typeof event === 'object' && event !== null && typeof event.type === 'string' && ROOM_LINE_TYPES.has(event.type) ? (line as RoomLine) : undefined;
}
