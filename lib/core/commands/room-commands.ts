import { QUIT_REASONS } from '../../protocol/quit-reasons';
import { LIMITS } from '../../protocol/limits';
import { ChatError } from '../../protocol/errors';
import { codePoints, neutralise } from '../../protocol/text-hygiene';
import type { CommandContext, CommandHandlers } from '../command-table';
import type { ChatEvent } from '../events';
import type { Room, Session } from '../session';
import { largeRoomNotice, namesEvents, reasonText, reply, roomInfo } from '../replies';

/**
 * Joins a room, creating it if new, and makes it the current room. Replaying the room's history reads the
 * store off the event loop: the Promise settles once the replay and the join reply were sent, and live
 * events that arrive meanwhile are held back so they come after the replay, never before. In a cluster,
 * the first member of a room on this server also waits until the room's lines from the other servers
 * reach it (see ClusterPresence.joined): everything said after OK JOIN is then delivered, and the ROOM
 * line shows the cluster's topic.
 */
export function joinRoom({ core, session }: Pick<CommandContext, 'core' | 'session'>, rawName: string): Promise<void> | undefined {
  const { room, already, linked } = core.rooms.enter(session, rawName);
  // Replay only on really entering a room; the feed knows whether it may hold history (a room new here is
  // unused, so it replays nothing unless other servers write the same history store).
  const replayWanted = !already;
  if (linked === undefined) return greet(core, session, room, replayWanted, false);
  // Held from here: live lines (local ones, and the other servers' once the link is up) come after OK JOIN.
  session.hold();
  return linked.then(() => greet(core, session, room, replayWanted, true));
}

/**
 * Sends the joiner the room's lines (ROOM, then NAMES or the large-room notice), the replay if wanted and
 * OK JOIN; `held`: the session is holding live events, which follow all of that.
 */
function greet(core: CommandContext['core'], session: Session, room: Room, replayWanted: boolean, held: boolean): Promise<void> | undefined {
  const members = core.rooms.memberCount(room);
  const intro: ChatEvent[] = [roomInfo(room, members)];
  // Listing thousands of names to every joiner made joining a large room cost O(members): point to /who.
  if (core.rooms.isLarge(room)) intro.push(largeRoomNotice(room, core.options.largeRoom, members));
  else intro.push(...namesEvents(room.name, core.rooms.everyone(room)));
  const ok = reply('JOIN', room.name, `Now talking in ${room.name}.`);
  const overflow = (late: Session): void => core.end(late, QUIT_REASONS.sendQueue);
  if (!held) for (const event of intro) session.deliver(event);
  const replay = replayWanted ? core.feed.replay(session, room, ok, overflow, held ? intro : []) : undefined;
  if (replay !== undefined) return replay;
  if (!held) session.deliver(ok);
  else if (!session.release([...intro, ok])) overflow(session);
  return undefined;
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
      const show = (): void => {
        session.deliver(roomInfo(room, core.rooms.memberCount(room)));
        const by = room.topic ? `Topic set by ${room.topicBy} at ${new Date(room.topicAt).toISOString()}.` : 'No topic is set.';
        session.deliver(reply('TOPIC', room.name, by));
      };
      // A room with no member here is not followed across a cluster: ask for its current topic first.
      const refreshed = room.members.size === 0 ? core.presence?.refreshTopic(room) : undefined;
      if (refreshed === undefined) show();
      return refreshed?.then(show);
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
