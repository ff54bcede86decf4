import type { HistoryEntry } from '../history/history-store';
import { encodeLine } from '../protocol/server-lines';
import type { Room } from './room';

/** One stored entry as a HISTORY line: room, id, UTC time to the second, nick, kind, then the text. */
export function historyLine(room: Room, entry: HistoryEntry): Buffer {
  const time = new Date(entry.at).toISOString().replace(/\.\d{3}Z$/, 'Z');
  return encodeLine('HISTORY', [room.name, String(entry.id), time, entry.nick, entry.kind], entry.text);
}
