import type { HistoryEndEvent, HistoryEvent } from './events';
import type { HistoryEntry } from './ports/history-store';
import type { Room } from './session';

/** One stored entry as a history event of `room` (a paste keeps its lines joined by \n; codecs split them). */
export function historyEvent(room: Room, entry: HistoryEntry): HistoryEvent {
  return { type: 'history', room: room.name, id: entry.id, at: entry.at, from: entry.nick, kind: entry.kind, text: entry.text };
}

/** The event that ends a run of `count` history events of `room`. */
export function historyEnd(room: Room, count: number, text: string): HistoryEndEvent {
  return { type: 'history-end', room: room.name, count, text };
}
