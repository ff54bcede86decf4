import { LIMITS } from '../../protocol/limits';
import { encodeLine } from '../../protocol/server-lines';
import type { CommandSpec } from '../command-table';
import { ChatError } from '../errors';
import { PasteBlock } from '../paste-block';

/** Commands that send text to other people. */
export const messageCommands: CommandSpec[] = [
  {
    name: 'msg',
    aliases: ['m', 'tell'],
    args: [
      { name: 'NICK', kind: 'nick' },
      { name: 'TEXT', kind: 'text' },
    ],
    help: 'Send a private message; only NICK sees it.',
    states: ['registered'],
    run: ({ core, session }, args) => core.privateMessage(session, args.NICK!, args.TEXT!),
  },
  {
    name: 'me',
    aliases: ['action'],
    args: [{ name: 'ACTION', kind: 'text' }],
    help: 'Describe an action in your current room, e.g. /me waves.',
    states: ['registered'],
    run: ({ core, session }, args) => core.sayToRoom(session, args.ACTION!, 'ACTION'),
  },
  {
    name: 'paste',
    args: [{ name: '#ROOM', kind: 'room', optional: true }],
    help: `Send several lines as one message to your current room (or #ROOM): the lines that follow, up to a line holding only "." (at most ${LIMITS.maxPasteLines} lines, ${LIMITS.maxPasteBytes} bytes); a line starting with "." is sent with one more "." in front.`,
    states: ['registered'],
    run: ({ core, session }, args) => {
      const room = args['#ROOM'] !== undefined ? core.findRoom(args['#ROOM']) : session.currentRoom;
      if (room === undefined) throw new ChatError('NO_CURRENT_ROOM', 'You are not in any room, so there is nowhere to paste: /join #ROOM first.');
      if (!room.members.has(session)) throw new ChatError('NOT_IN_ROOM', `Join ${room.name} to paste into it.`);
      session.paste = new PasteBlock(room);
      session.send(
        encodeLine(
          'OK',
          ['PASTE', room.name],
          'Send the lines, then a line holding only "." to end; a line starting with "." is sent with one more "." in front. Commands are not read until then.',
        ),
      );
    },
  },
];
