import type { ChatEvent, ChatEventType } from '../core/events';
import { cachedEncoder, type Codec } from './codec';

/**
 * The fields each event type carries on the wire, in the order they are written after `type`. Listing
 * them (rather than copying whatever the event object holds) keeps the output equal to the published
 * schema (schema/mychat-json.v1.schema.json; test/unit/json-schema.test.ts checks the two agree) even
 * if an event object ever carries something else.
 */
export const JSON_EVENT_FIELDS: { readonly [T in ChatEventType]: readonly Exclude<keyof Extract<ChatEvent, { type: T }>, 'type'>[] } = {
  hello: ['server', 'text'],
  reply: ['command', 'subject', 'text'],
  failure: ['code', 'text'],
  pong: ['token'],
  bye: ['text'],
  notice: ['text'],
  message: ['room', 'from', 'id', 'at', 'text'],
  action: ['room', 'from', 'id', 'at', 'text'],
  paste: ['room', 'from', 'pasteId', 'at', 'lines'],
  private: ['from', 'at', 'text'],
  join: ['room', 'nick'],
  part: ['room', 'nick', 'reason'],
  quit: ['nick', 'reason'],
  nick: ['from', 'to'],
  topic: ['room', 'by', 'text'],
  room: ['room', 'members', 'topic'],
  names: ['label', 'nicks'],
  whois: ['nick', 'rooms', 'connectedAt', 'idleSeconds'],
  help: ['command', 'text'],
  history: ['room', 'id', 'at', 'from', 'kind', 'text'],
  'history-end': ['room', 'count', 'text'],
};

/** Fields holding a time in milliseconds since the epoch; JSON carries them as ISO 8601 UTC strings with milliseconds. */
const TIME_FIELDS: ReadonlySet<string> = new Set(['at', 'connectedAt']);

/*
 * JSON.stringify already escapes every C0 control (so CR and LF never end a line early) and writes a lone
 * surrogate as \udXXX. It leaves NEL, LINE SEPARATOR and PARAGRAPH SEPARATOR raw; they are valid JSON,
 * but line splitters such as Python's str.splitlines() break lines there, so they are escaped too.
 */
const LINE_BREAKERS = /[\u0085\u2028\u2029]/g;

function escapeLineBreaker(ch: string): string {
  return '\\u' + ch.charCodeAt(0).toString(16).padStart(4, '0');
}

/** One event as the plain object its JSON line holds: `type` first, times as ISO strings, absent optional fields left out. */
export function jsonEventObject(event: ChatEvent): Record<string, unknown> {
  const out: Record<string, unknown> = { type: event.type };
  const source = event as unknown as Record<string, unknown>;
  for (const field of JSON_EVENT_FIELDS[event.type] as readonly string[]) {
    const value = source[field];
    if (value === undefined) continue;
    out[field] = TIME_FIELDS.has(field) ? new Date(value as number).toISOString() : value;
  }
  return out;
}

/** One event as one JSON text on a single line, without its line end. */
export function formatJsonEvent(event: ChatEvent): string {
  return JSON.stringify(jsonEventObject(event)).replace(LINE_BREAKERS, escapeLineBreaker);
}

/** The JSON line codec (NDJSON): one JSON object per event, ended by CRLF; a broadcast is encoded once. */
export function jsonCodec(): Codec {
  return {
    name: 'json',
    encode: cachedEncoder((event) => Buffer.from(formatJsonEvent(event) + '\r\n', 'utf8')),
  };
}
