import { findAnywhere, type CommandCore, type CommandHandlers } from '../command-table';
import { ChatError } from '../../protocol/errors';
import { neutralise } from '../../protocol/text-hygiene';
import { PasteBlock } from '../paste-block';
import { reply } from '../replies';
import type { Session } from '../session';

/** Sends a message (a plain line) or a /me action to the sender's current room. */
export function sayToRoom(core: CommandCore, session: Session, rawText: string, kind: 'MSG' | 'ACTION'): void {
  const room = session.currentRoom;
  if (room === undefined) throw new ChatError('NO_CURRENT_ROOM', 'You are not in any room, so the line was not sent: /join #ROOM first.');
  const text = neutralise(rawText);
  const at = core.feed.record(session, room, kind, text);
  core.bus.publish(room, { type: kind === 'MSG' ? 'message' : 'action', room: room.name, from: session.nick, text, at }, session);
}

/**
 * Ends the session's /paste block (its "." line): its lines go to the room's other members as one paste
 * event (so nothing comes between them) and into history as one entry.
 */
export function endPaste(core: CommandCore, session: Session): void {
  const block = session.paste;
  if (block === undefined) return;
  session.paste = undefined;
  session.lastActive = core.options.clock.now();
  const room = block.room;
  if (block.failed) {
    session.deliver(reply('PASTE', room.name, 'Paste ended; it was discarded and nothing of it was sent.'));
    return;
  }
  const lines = block.lines;
  if (lines.length === 0) {
    session.deliver(reply('PASTE', room.name, 'Empty paste; nothing was sent.'));
    return;
  }
  if (!room.members.has(session)) throw new ChatError('NOT_IN_ROOM', `You are no longer in ${room.name}, so the paste was not sent.`);
  const at = core.feed.record(session, room, 'PASTE', lines.join('\n'));
  core.bus.publish(room, { type: 'paste', room: room.name, from: session.nick, pasteId: core.pasteId(), lines, at }, session);
  session.deliver(reply('PASTE', room.name, lines.length === 1 ? 'Sent 1 line.' : `Sent ${lines.length} lines.`));
}

/** Handlers of the commands that send text to other people. */
export const messageHandlers = {
  msg: ({ core, session }, args) => {
    const { local, remote } = findAnywhere(core, args.NICK!);
    const event = { type: 'private', from: session.nick, text: neutralise(args.TEXT!), at: core.options.clock.now() } as const;
    if (local !== undefined) local.deliver(event);
    else core.presence!.sendPrivate(remote, event, session);
    const nick = (local ?? remote).nick;
    session.deliver(reply('MSG', nick, `Message sent to ${nick}.`));
  },
  me: ({ core, session }, args) => sayToRoom(core, session, args.ACTION!, 'ACTION'),
  paste: ({ core, session }, args) => {
      const named = args['#ROOM'];
      const room = named !== undefined ? core.rooms.find(named) : session.currentRoom;
      if (room === undefined && named !== undefined) throw new ChatError('NO_SUCH_ROOM', `There is no room ${named}, so there is nowhere to paste: /join it first.`);
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
