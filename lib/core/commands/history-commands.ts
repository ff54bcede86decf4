import { LIMITS } from '../../protocol/limits';
import { encodeLine } from '../../protocol/server-lines';
import type { CommandSpec } from '../command-table';
import { ChatError } from '../errors';

const DEFAULT_PAGE = 20;

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** Words of a search query, as the index sees them (letters, digits and _). */
export function searchWords(text: string): string[] {
  return (text.normalize('NFC').match(/[\p{L}\p{N}_]+/gu) ?? []).map((word) => word.slice(0, 64));
}

/** Commands that read stored room history. */
export const historyCommands: CommandSpec[] = [
  {
    name: 'history',
    args: [
      { name: '#ROOM', kind: 'room', optional: true },
      { name: 'N', kind: 'number', optional: true },
      { name: 'before', kind: 'word', optional: true },
      { name: 'ID', kind: 'number', optional: true },
    ],
    usage: '/history [#ROOM] [N] [before ID]',
    cost: 5,
    help: `Show a room's last N stored messages (default ${DEFAULT_PAGE}, at most ${LIMITS.maxHistoryPage}), or the N before message ID, oldest first.`,
    states: ['registered'],
    run: ({ core, session, table }, args) => {
      const store = core.historyStore();
      const usage = (): never => {
        throw new ChatError('BAD_ARGS', `Usage: ${table.lookup('history')!.usage}`);
      };
      if ((args.before !== undefined && args.before.toLowerCase() !== 'before') || (args.before === undefined) !== (args.ID === undefined)) usage();
      const room = args['#ROOM'] !== undefined ? core.findRoom(args['#ROOM']) : session.currentRoom;
      if (room === undefined) throw new ChatError('NO_CURRENT_ROOM', 'You are not in any room: name one, e.g. /history #lobby.');
      const count = args.N === undefined ? DEFAULT_PAGE : Number(args.N);
      if (count < 1 || count > LIMITS.maxHistoryPage) throw new ChatError('BAD_ARGS', `N is from 1 to ${LIMITS.maxHistoryPage}.`);
      const entries = args.ID === undefined ? store.recent(room.key, count) : store.before(room.key, Number(args.ID), count);
      const oldest = entries[0];
      const more = oldest !== undefined && store.before(room.key, oldest.id, 1).length > 0;
      core.sendHistory(session, room, entries, more ? `Older: /history ${room.name} ${count} before ${oldest.id}` : 'Start of history.');
      session.send(encodeLine('OK', ['HISTORY', room.name], `${plural(entries.length, 'stored message', 'stored messages')}.`));
    },
  },
  {
    name: 'search',
    args: [
      { name: '#ROOM', kind: 'room' },
      { name: 'TEXT', kind: 'text' },
    ],
    cost: 10,
    help: `Find stored messages of a room that contain every word of TEXT (each word also matches longer words it begins), newest first, at most ${LIMITS.maxSearchResults}.`,
    states: ['registered'],
    run: ({ core, session }, args) => {
      const store = core.historyStore();
      const room = core.findRoom(args['#ROOM']!);
      const words = searchWords(args.TEXT!);
      if (words.length === 0) throw new ChatError('BAD_ARGS', 'Search for at least one word of letters or digits.');
      if (words.length > LIMITS.maxSearchWords) throw new ChatError('BAD_ARGS', `Search for at most ${LIMITS.maxSearchWords} words.`);
      const entries = store.search(room.key, words, LIMITS.maxSearchResults);
      const matches = plural(entries.length, 'match', 'matches');
      core.sendHistory(session, room, entries, entries.length === LIMITS.maxSearchResults ? `The newest ${matches}; refine the words to see older ones.` : `${matches}, newest first.`);
      session.send(encodeLine('OK', ['SEARCH', room.name], `${matches}.`));
    },
  },
  {
    name: 'replay',
    args: [{ name: 'on|off', kind: 'word', optional: true }],
    help: 'Turn history replay on joining a room on or off for this connection, or show the setting.',
    states: ['registered'],
    run: ({ session }, args) => {
      const value = args['on|off']?.toLowerCase();
      if (value !== undefined && value !== 'on' && value !== 'off') throw new ChatError('BAD_ARGS', 'Usage: /replay [on|off]');
      if (value !== undefined) session.replay = value === 'on';
      session.send(encodeLine('OK', ['REPLAY', session.replay ? 'on' : 'off'], session.replay ? 'Joining a room replays its recent history.' : 'Joining a room replays no history.'));
    },
  },
];
