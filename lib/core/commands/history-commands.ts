import { DEFAULT_HISTORY_PAGE } from '../../protocol/command-catalogue';
import { LIMITS } from '../../protocol/limits';
import { encodeLine } from '../../protocol/server-lines';
import type { CommandHandlers } from '../command-table';
import { byteLength, historyLines } from '../history-lines';
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
      const room = args['#ROOM'] !== undefined ? core.findRoom(args['#ROOM']) : session.currentRoom;
      if (room === undefined) throw new ChatError('NO_CURRENT_ROOM', 'You are not in any room: name one, e.g. /history #lobby.');
      const count = args.N === undefined ? DEFAULT_HISTORY_PAGE : Number(args.N);
      if (count < 1 || count > LIMITS.maxHistoryPage) throw new ChatError('BAD_ARGS', `N is from 1 to ${LIMITS.maxHistoryPage}.`);
      const reader = core.historyReader();
      const page = args.ID === undefined ? reader.recent(room.key, count) : reader.before(room.key, Number(args.ID), count);
      return page.then(({ entries, more }) => {
        // The newest entries that fit the reply size limit; the pointer to older ones starts before them.
        const lines = entries.map((entry) => historyLines(room, entry));
        let bytes = 0;
        let first = lines.length;
        while (first > 0 && bytes + byteLength(lines[first - 1]!) <= LIMITS.maxReplyBytes) bytes += byteLength(lines[--first]!);
        const shown = entries.slice(first);
        const oldest = shown[0];
        const cut = first > 0;
        for (const line of lines.slice(first).flat()) session.send(line);
        const end =
          oldest === undefined
            ? 'Start of history.'
            : more || cut
              ? `${cut ? `Reply size limit reached (${LIMITS.maxReplyBytes / 1024} KiB). ` : ''}Older: /history ${room.name} ${count} before ${oldest.id}`
              : 'Start of history.';
        session.send(encodeLine('HISTEND', [room.name, String(shown.length)], end));
        session.send(encodeLine('OK', ['HISTORY', room.name], `${plural(shown.length, 'stored message', 'stored messages')}.`));
      });
    },
  search: ({ core, session }, args) => {
      const room = core.findRoom(args['#ROOM']!);
      const words = searchWords(args.TEXT!);
      if (words.length === 0) throw new ChatError('BAD_ARGS', 'Search for at least one word of letters or digits.');
      if (words.length > LIMITS.maxSearchWords) throw new ChatError('BAD_ARGS', `Search for at most ${LIMITS.maxSearchWords} words.`);
      return core.historyReader().search(room.key, words, LIMITS.maxSearchResults).then((entries) => {
        // Newest first: keep the newest matches that fit the reply size limit.
        let bytes = 0;
        let shown = 0;
        for (const entry of entries) {
          const lines = historyLines(room, entry);
          if (bytes + byteLength(lines) > LIMITS.maxReplyBytes) break;
          bytes += byteLength(lines);
          for (const line of lines) session.send(line);
          shown++;
        }
        const matches = plural(shown, 'match', 'matches');
        const end =
          shown < entries.length
            ? `The newest ${matches} (reply size limit); refine the words to see older ones.`
            : shown === LIMITS.maxSearchResults
              ? `The newest ${matches}; refine the words to see older ones.`
              : `${matches}, newest first.`;
        session.send(encodeLine('HISTEND', [room.name, String(shown)], end));
        session.send(encodeLine('OK', ['SEARCH', room.name], `${matches}.`));
      });
    },
  replay: ({ session }, args) => {
      const value = args['on|off']?.toLowerCase();
      if (value !== undefined && value !== 'on' && value !== 'off') throw new ChatError('BAD_ARGS', 'Usage: /replay [on|off]');
      if (value !== undefined) session.replay = value === 'on';
      session.send(encodeLine('OK', ['REPLAY', session.replay ? 'on' : 'off'], session.replay ? 'Joining a room replays its recent history.' : 'Joining a room replays no history.'));
    },
} satisfies Partial<CommandHandlers>;
