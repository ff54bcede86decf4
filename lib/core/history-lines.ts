import type { HistoryEntry } from './ports/history-store';
import { encodeLine } from '../protocol/server-lines';
import type { Room } from './session';

/**
 * One stored entry as HISTORY lines: room, id, UTC time to the second, nick, kind, then the text. A paste
 * comes back as its lines, one HISTORY line each with the same id, their text starting with "i/n".
 */
export function historyLines(room: Room, entry: HistoryEntry): Buffer[] {
  const time = new Date(entry.at).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const fields = [room.name, String(entry.id), time, entry.nick, entry.kind];
  if (entry.kind !== 'PASTE') return [encodeLine('HISTORY', fields, entry.text)];
  const lines = entry.text.split('\n');
  return lines.map((text, i) => encodeLine('HISTORY', fields, `${i + 1}/${lines.length}${text.length > 0 ? ' ' + text : ''}`));
}

/** Total bytes of some encoded lines. */
export function byteLength(lines: readonly Buffer[]): number {
  let n = 0;
  for (const line of lines) n += line.length;
  return n;
}
