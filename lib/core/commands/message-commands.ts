import type { CommandHandlers } from '../command-table';
import { ChatError } from '../../protocol/errors';
import { PasteBlock } from '../paste-block';
import { reply } from '../replies';

/** Handlers of the commands that send text to other people. */
export const messageHandlers = {
  msg: ({ core, session }, args) => core.privateMessage(session, args.NICK!, args.TEXT!),
  me: ({ core, session }, args) => core.sayToRoom(session, args.ACTION!, 'ACTION'),
  paste: ({ core, session }, args) => {
      const room = args['#ROOM'] !== undefined ? core.findRoom(args['#ROOM']) : session.currentRoom;
      if (room === undefined) throw new ChatError('NO_CURRENT_ROOM', 'You are not in any room, so there is nowhere to paste: /join #ROOM first.');
      if (!room.members.has(session)) throw new ChatError('NOT_IN_ROOM', `Join ${room.name} to paste into it.`);
      session.paste = new PasteBlock(room);
      session.deliver(
        reply(
          'PASTE',
          room.name,
          'Send the lines, then a line holding only "." to end; a line starting with "." is sent with one more "." in front. Commands are not read until then.',
        ),
      );
    },
} satisfies Partial<CommandHandlers>;
