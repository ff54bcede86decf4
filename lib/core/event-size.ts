import type { ChatEvent } from './events';

/**
 * Bytes counted per event (and per further line of a multi-line one) on top of its text: about what a
 * wire format adds around it (keyword or field names, numbers, a timestamp, the line end).
 */
export const EVENT_OVERHEAD_BYTES = 64;

/**
 * About how many bytes `event` takes on the wire, whatever the codec: the UTF-8 bytes of its strings plus
 * EVENT_OVERHEAD_BYTES per line it can become. The core bounds held output and reply sizes with it without
 * knowing any wire format (for the mychat format it comes within a few bytes per line, slightly above).
 */
export function eventSize(event: ChatEvent): number {
  let bytes = 0;
  let lines = 1;
  for (const value of Object.values(event) as unknown[]) {
    if (typeof value === 'string') bytes += Buffer.byteLength(value, 'utf8');
    else if (Array.isArray(value)) for (const item of value as unknown[]) if (typeof item === 'string') bytes += Buffer.byteLength(item, 'utf8') + 1;
  }
  if (event.type === 'paste') lines = event.lines.length;
  else if (event.type === 'whois') lines = 3;
  else if (event.type === 'history' && event.kind === 'PASTE') lines = event.text.split('\n').length;
  // Multi-line events repeat their names (room, nick) on every line in the line formats.
  const repeated = event.type === 'paste' || event.type === 'history' ? Buffer.byteLength(event.room + event.from, 'utf8') + 8 : 0;
  return bytes + lines * EVENT_OVERHEAD_BYTES + (lines - 1) * repeated;
}
