import { QUIT_REASONS } from '../../protocol/quit-reasons';
import { LIMITS } from '../../protocol/limits';
import { ChatError } from '../../protocol/errors';
import { codePoints, neutralise } from '../../protocol/text-hygiene';
import type { CommandContext, CommandHandlers } from '../command-table';
import { largeRoomNotice, namesEvents, reasonText, reply, roomInfo } from '../replies';

/**
 * Joins a room, creating it if new, and makes it the current room. Replaying the room's history reads the
 * store off the event loop: the Promise settles once the replay and the join reply were sent, and live
 * events that arrive meanwhile are held back so they come after the replay, never before.
 */
export function joinRoom({ core, session }: Pick<CommandContext, 'core' | 'session'>, rawName: string): Promise<void> | undefined {
  const { room, already } = core.rooms.enter(session, rawName);
  const members = core.rooms.memberCount(room);
  session.deliver(roomInfo(room, members));
  // Listing thousands of names to every joiner made joining a large room cost O(members): point to /who.
  if (core.rooms.isLarge(room)) session.deliver(largeRoomNotice(room, core.options.largeRoom, members));
  else for (const event of namesEvents(room.name, core.rooms.everyone(room))) session.deliver(event);
  const ok = reply('JOIN', room.name, `Now talking in ${room.name}.`);
  // Replay only on really entering a room; the feed knows whether it may hold history (a room new here is
  // unused, so it replays nothing unless other servers write the same history store).
  const replay = !already ? core.feed.replay(session, room, ok, (late) => core.end(late, QUIT_REASONS.sendQueue)) : undefined;
  if (replay === undefined) session.deliver(ok);
  return replay;
}

/** Handlers of the commands that change which rooms you are in and what they say about themselves. */
export const roomHandlers = {
  join: (ctx, args) => joinRoom(ctx, args['#ROOM']!),
  part: ({ core, session }, args) => {
    const room = args['#ROOM'] === undefined ? session.currentRoom : core.rooms.find(args['#ROOM']);
    if (room === undefined) throw new ChatError('NO_CURRENT_ROOM', 'You are not in any room.');
    if (!room.members.has(session)) throw new ChatError('NOT_IN_ROOM', `You are not in ${room.name}.`);
    core.rooms.leave(session, room, { type: 'part', room: room.name, nick: session.nick, reason: reasonText(args.REASON) });
    const current = session.currentRoom;
    session.deliver(
      reply('PART', room.name, current ? `Left ${room.name}; now talking in ${current.name}.` : `Left ${room.name}; you are in no room now (/join #ROOM).`),
    );
  },
  topic: ({ core, session }, args) => {
    const room = core.rooms.find(args['#ROOM']!);
    const rawText = args.TEXT;
    if (rawText === undefined) {
      session.deliver(roomInfo(room, core.rooms.memberCount(room)));
      const by = room.topic ? `Topic set by ${room.topicBy} at ${new Date(room.topicAt).toISOString()}.` : 'No topic is set.';
      session.deliver(reply('TOPIC', room.name, by));
      return;
    }
    if (!room.members.has(session)) throw new ChatError('NOT_IN_ROOM', `Join ${room.name} to change its topic.`);
    const text = rawText === '-' ? '' : neutralise(rawText);
    if (codePoints(text) > LIMITS.maxTopicLength) {
      throw new ChatError('TEXT_TOO_LONG', `A topic has at most ${LIMITS.maxTopicLength} characters.`);
    }
    room.topic = text;
    room.topicBy = session.nick;
    room.topicAt = core.options.clock.now();
    core.feed.record(session, room, 'TOPIC', text);
    core.bus.publish(room, { type: 'topic', room: room.name, by: session.nick, text }, session);
    session.deliver(reply('TOPIC', room.name, text ? `Topic of ${room.name} changed.` : `Topic of ${room.name} cleared.`));
  },
} satisfies Partial<CommandHandlers>;
