import { DEFAULT_HISTORY_PAGE } from '../../protocol/command-catalogue';
import { LIMITS } from '../../protocol/limits';
import type { CommandHandlers } from '../command-table';
import { eventSize } from '../event-size';
import { historyEnd, historyEvent } from '../history-lines';
import { reply } from '../replies';
import { ChatError } from '../../protocol/errors';

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** Words of a search query, as the index sees them (letters, digits and _). */
export function searchWords(text: string): string[] {
  return (text.normalize('NFC').match(/[\p{L}\p{N}_]+/gu) ?? []).map((word) => word.slice(0, 64));
}

/** Handlers of the commands that read stored room history. */
export const historyHandlers = {
  history: ({ core, session, table }, args) => {
      const usage = (): never => {
        throw new ChatError('BAD_ARGS', `Usage: ${table.lookup('history')!.usage}`);
      };
      if ((args.before !== undefined && args.before.toLowerCase() !== 'before') || (args.before === undefined) !== (args.ID === undefined)) usage();
      const room = args['#ROOM'] !== undefined ? core.rooms.find(args['#ROOM']) : session.currentRoom;
      if (room === undefined) throw new ChatError('NO_CURRENT_ROOM', 'You are not in any room: name one, e.g. /history #lobby.');
      const count = args.N === undefined ? DEFAULT_HISTORY_PAGE : Number(args.N);
      if (count < 1 || count > LIMITS.maxHistoryPage) throw new ChatError('BAD_ARGS', `N is from 1 to ${LIMITS.maxHistoryPage}.`);
      const reader = core.feed.reader(room, false, session);
      const page = args.ID === undefined ? reader.recent(room.key, count) : reader.before(room.key, Number(args.ID), count);
      return page.then(({ entries, more }) => {
        // The newest entries that fit the reply size limit; the pointer to older ones starts before them.
        const events = entries.map((entry) => historyEvent(room, entry));
        let bytes = 0;
        let first = events.length;
        while (first > 0 && bytes + eventSize(events[first - 1]!) <= LIMITS.maxReplyBytes) bytes += eventSize(events[--first]!);
        const shown = entries.slice(first);
        const oldest = shown[0];
        const cut = first > 0;
        for (const event of events.slice(first)) session.deliver(event);
        const end =
          oldest === undefined
            ? 'Start of history.'
            : more || cut
              ? `${cut ? `Reply size limit reached (${LIMITS.maxReplyBytes / 1024} KiB). ` : ''}Older: /history ${room.name} ${count} before ${oldest.id}`
              : 'Start of history.';
        session.deliver(historyEnd(room, shown.length, end));
        session.deliver(reply('HISTORY', room.name, `${plural(shown.length, 'stored message', 'stored messages')}.`));
      });
    },
  search: ({ core, session }, args) => {
      const room = core.rooms.find(args['#ROOM']!);
      const words = searchWords(args.TEXT!);
      if (words.length === 0) throw new ChatError('BAD_ARGS', 'Search for at least one word of letters or digits.');
      if (words.length > LIMITS.maxSearchWords) throw new ChatError('BAD_ARGS', `Search for at most ${LIMITS.maxSearchWords} words.`);
      return core.feed.reader(room, true, session).search(room.key, words, LIMITS.maxSearchResults).then((entries) => {
        // Newest first: keep the newest matches that fit the reply size limit.
        let bytes = 0;
        let shown = 0;
        for (const entry of entries) {
          const event = historyEvent(room, entry);
          const size = eventSize(event);
          if (bytes + size > LIMITS.maxReplyBytes) break;
          bytes += size;
          session.deliver(event);
          shown++;
        }
        const matches = plural(shown, 'match', 'matches');
        const end =
          shown < entries.length
            ? `The newest ${matches} (reply size limit); refine the words to see older ones.`
            : shown === LIMITS.maxSearchResults
              ? `The newest ${matches}; refine the words to see older ones.`
              : `${matches}, newest first.`;
        session.deliver(historyEnd(room, shown, end));
        session.deliver(reply('SEARCH', room.name, `${matches}.`));
      });
    },
  replay: ({ session }, args) => {
      const value = args['on|off']?.toLowerCase();
      if (value !== undefined && value !== 'on' && value !== 'off') throw new ChatError('BAD_ARGS', 'Usage: /replay [on|off]');
      if (value !== undefined) session.replay = value === 'on';
      session.deliver(reply('REPLAY', session.replay ? 'on' : 'off', session.replay ? 'Joining a room replays its recent history.' : 'Joining a room replays no history.'));
    },
} satisfies Partial<CommandHandlers>;
