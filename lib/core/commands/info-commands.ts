import { ChatError } from '../../protocol/errors';
import { LIMITS } from '../../protocol/limits';
import { nameKey, normaliseName } from '../../protocol/text-hygiene';
import { findAnywhere, type CommandCore, type CommandHandlers } from '../command-table';
import type { RoomInfoEvent } from '../events';
import { eventSize } from '../event-size';
import { namesEvents, reply, roomInfo } from '../replies';
import type { Room, Session } from '../session';

/**
 * The rooms /rooms lists in a cluster: this server's, with members counted on every server, and those
 * only other servers have (no topic known here), the busiest `limit` when more match, in name order.
 */
function clusterRooms(core: CommandCore, filter: string | undefined, limit: number): { infos: RoomInfoEvent[]; total: number } {
  const infos: Array<{ key: string; info: RoomInfoEvent }> = [];
  for (const room of core.rooms.all()) {
    if (filter === undefined || room.key.includes(filter)) infos.push({ key: room.key, info: roomInfo(room, core.rooms.memberCount(room)) });
  }
  for (const remote of core.presence?.remoteRooms() ?? []) {
    if (core.rooms.get(remote.key) !== undefined || (filter !== undefined && !remote.key.includes(filter))) continue;
    infos.push({ key: remote.key, info: { type: 'room', room: remote.name, members: remote.members.size, topic: '' } });
  }
  const total = infos.length;
  const kept = total > limit ? infos.sort((a, b) => b.info.members - a.info.members).slice(0, limit) : infos;
  kept.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { infos: kept.map((entry) => entry.info), total };
}

/** A room by name on this server, or (in a cluster) one only other servers have; else NO_SUCH_ROOM / ROOM_INVALID. */
function roomAnywhere(core: CommandCore, rawName: string): { name: string; count: number; members: Iterable<{ readonly nick: string }> } {
  let room: Room;
  try {
    room = core.rooms.find(rawName);
  } catch (error) {
    const remote = error instanceof ChatError && error.code === 'NO_SUCH_ROOM' ? core.presence?.remoteRoom(nameKey(normaliseName(rawName))) : undefined;
    if (remote === undefined) throw error;
    return { name: remote.name, count: remote.members.size, members: remote.members };
  }
  return { name: room.name, count: core.rooms.memberCount(room), members: core.rooms.everyone(room) };
}

/** Every registered user: this server's, then those on other servers of the cluster. */
function* everyoneOnline(core: CommandCore): IterableIterator<{ readonly nick: string }> {
  yield* core.nicks.owners();
  if (core.presence !== undefined) yield* core.presence.remoteUsers();
}

/** Sends /rooms' reply: room lines until LIMITS.maxReplyBytes, then the count line. */
function listRooms(session: Session, infos: readonly RoomInfoEvent[], total: number): void {
  // Long topics could still make the reply large: it stops at LIMITS.maxReplyBytes.
  let bytes = 0;
  let shown = 0;
  for (const event of infos) {
    const size = eventSize(event);
    if (bytes + size > LIMITS.maxReplyBytes) break;
    bytes += size;
    session.deliver(event);
    shown++;
  }
  const text =
    total > shown
      ? `${shown} of ${total} rooms shown (the busiest); /rooms WORD lists rooms whose name contains WORD.`
      : total === 1
        ? '1 room.'
        : `${total} rooms.`;
  session.deliver(reply('ROOMS', String(shown), text));
}

/** Handlers of the commands that show who and what is on the server. */
export const infoHandlers = {
  rooms: ({ core, session }, args) => {
      const filter = args.WORD === undefined ? undefined : nameKey(args.WORD.replace(/^#/, ''));
      if (core.presence !== undefined) {
        const { infos, total } = clusterRooms(core, filter, LIMITS.maxRoomsListed);
        listRooms(session, infos, total);
        return;
      }
      const all = core.rooms.all();
      const matching = filter === undefined ? all : all.filter((room) => room.key.includes(filter));
      const total = matching.length;
      // Listing every room could pass the asker's send-queue cap: above the limit, show the busiest.
      let rooms = matching;
      if (total > LIMITS.maxRoomsListed) {
        if (filter === undefined) rooms = core.rooms.busiest(LIMITS.maxRoomsListed);
        else {
          const busiest = new Set([...matching].sort((a, b) => b.members.size - a.members.size).slice(0, LIMITS.maxRoomsListed));
          rooms = matching.filter((room) => busiest.has(room));
        }
      }
      listRooms(session, rooms.map((room) => roomInfo(room)), total);
    },
  who: ({ core, session }, args) => {
      const room = args['#ROOM'] === undefined ? undefined : roomAnywhere(core, args['#ROOM']);
      const label = room?.name ?? '*';
      const count = room?.count ?? core.nicks.size + (core.presence?.remoteUserCount ?? 0);
      const page = args.PAGE === undefined ? 1 : Number(args.PAGE);
      if (page < 1) throw new ChatError('BAD_ARGS', 'Pages of /who count from 1.');
      // One page at a time, so a reply about a room of thousands stays a few lines: walking past the
      // earlier pages allocates nothing, and the flood budget paces repeated asks (the command's cost).
      const per = LIMITS.maxWhoNames;
      const pages = Math.max(1, Math.ceil(count / per));
      const shown: Array<{ readonly nick: string }> = [];
      let skip = (page - 1) * per;
      if (page <= pages) {
        for (const member of room?.members ?? everyoneOnline(core)) {
          if (skip > 0) {
            skip--;
            continue;
          }
          shown.push(member);
          if (shown.length === per) break;
        }
      }
      for (const event of namesEvents(label, shown)) session.deliver(event);
      const whole = room === undefined ? `${count} online` : `${count} in ${room.name}`;
      const next = `/who${room === undefined ? '' : ' ' + room.name} ${page + 1}`;
      const text =
        pages === 1 && page === 1
          ? `${whole}.`
          : page > pages
            ? `${whole}: page ${page} is past the last one, ${pages}.`
            : `${whole}: page ${page} of ${pages}${page < pages ? `; ${next} for more` : ''}.`;
      session.deliver(reply('WHO', label, text));
    },
  whois: ({ core, session }, args) => {
      const { local: target, remote } = findAnywhere(core, args.NICK!);
      if (remote !== undefined) {
        return core.presence!.whois(remote).then((event) => {
          session.deliver(event);
          session.deliver(reply('WHOIS', event.nick, `End of WHOIS for ${event.nick}.`));
        });
      }
      const now = core.options.clock.now();
      session.deliver({
        type: 'whois',
        nick: target.nick,
        rooms: target.rooms.map((room) => room.name),
        connectedAt: target.connectedAt,
        idleSeconds: Math.floor((now - target.lastActive) / 1000),
      });
      session.deliver(reply('WHOIS', target.nick, `End of WHOIS for ${target.nick}.`));
    },
} satisfies Partial<CommandHandlers>;
