/*
 * The JSON-mode events the browser client reads (subprotocol mychat.json.v1; the schema ships as
 * schema/mychat-json.v1.schema.json). Only the fields the client uses are typed; unknown event types and
 * fields are ignored, as mychat-protocol(7) asks of programs.
 */

/** One event the server sends, as the browser client reads it. */
export type ServerEvent =
  | { type: 'hello'; server: string; text: string }
  | { type: 'reply'; command: string; subject: string; text: string }
  | { type: 'failure'; code: string; text: string }
  | { type: 'pong'; token: string }
  | { type: 'bye'; text: string }
  | { type: 'notice'; text: string }
  | { type: 'message'; room: string; from: string; id?: number; at: string; text: string }
  | { type: 'action'; room: string; from: string; id?: number; at: string; text: string }
  | { type: 'paste'; room: string; from: string; pasteId: string; at: string; lines: string[] }
  | { type: 'private'; from: string; at: string; text: string }
  | { type: 'join'; room: string; nick: string }
  | { type: 'part'; room: string; nick: string; reason: string }
  | { type: 'quit'; nick: string; reason: string }
  | { type: 'nick'; from: string; to: string }
  | { type: 'topic'; room: string; by: string; text: string }
  | { type: 'room'; room: string; members: number; topic: string }
  | { type: 'names'; label: string; nicks: string[] }
  | { type: 'whois'; nick: string; rooms: string[]; connectedAt: string; idleSeconds: number }
  | { type: 'help'; command: string; text: string }
  | { type: 'history'; room: string; id: number; at: string; from: string; kind: 'MSG' | 'ACTION' | 'TOPIC' | 'PASTE'; text: string }
  | { type: 'history-end'; room: string; count: number; text: string };

/** The string fields each event type must carry; the parser refuses an object without them. */
const STRING_FIELDS: Readonly<Record<ServerEvent['type'], readonly string[]>> = {
  hello: ['server', 'text'],
  reply: ['command', 'subject', 'text'],
  failure: ['code', 'text'],
  pong: ['token'],
  bye: ['text'],
  notice: ['text'],
  message: ['room', 'from', 'at', 'text'],
  action: ['room', 'from', 'at', 'text'],
  paste: ['room', 'from', 'pasteId', 'at'],
  private: ['from', 'at', 'text'],
  join: ['room', 'nick'],
  part: ['room', 'nick', 'reason'],
  quit: ['nick', 'reason'],
  nick: ['from', 'to'],
  topic: ['room', 'by', 'text'],
  room: ['room', 'topic'],
  names: ['label'],
  whois: ['nick', 'connectedAt'],
  help: ['command', 'text'],
  history: ['room', 'at', 'from', 'kind', 'text'],
  'history-end': ['room', 'text'],
};

const isStringArray = (value: unknown): value is string[] => Array.isArray(value) && value.every((item) => typeof item === 'string');

/** Reads one text frame of a mychat.json.v1 connection; undefined for anything that is not a known, well-formed event. */
export function parseEvent(frame: string): ServerEvent | undefined {
  let value: unknown;
  try {
    value = JSON.parse(frame);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const object = value as Record<string, unknown>;
  const type = object.type;
  if (typeof type !== 'string' || !Object.prototype.hasOwnProperty.call(STRING_FIELDS, type)) return undefined;
  const fields = STRING_FIELDS[type as ServerEvent['type']];
  if (!fields.every((field) => typeof object[field] === 'string')) return undefined;
  if (type === 'paste' && !isStringArray(object.lines)) return undefined;
  if (type === 'names' && !isStringArray(object.nicks)) return undefined;
  if (type === 'whois' && (!isStringArray(object.rooms) || typeof object.idleSeconds !== 'number')) return undefined;
  if ((type === 'history' || type === 'history-end' || type === 'room') && typeof (object.id ?? object.count ?? object.members) !== 'number') return undefined;
  if ((type === 'message' || type === 'action') && object.id !== undefined && typeof object.id !== 'number') return undefined;
  return object as unknown as ServerEvent;
}
