import { ChatError } from '../../protocol/errors';
import { LIMITS } from '../../protocol/limits';
import { nameKey } from '../../protocol/text-hygiene';
import { findOnline, type CommandHandlers } from '../command-table';
import { eventSize } from '../event-size';
import { namesEvents, reply, roomInfo } from '../replies';
import type { Session } from '../session';

/** Handlers of the commands that show who and what is on the server. */
export const infoHandlers = {
  rooms: ({ core, session }, args) => {
      const filter = args.WORD === undefined ? undefined : nameKey(args.WORD.replace(/^#/, ''));
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
      // Long topics could still make the reply large: it stops at LIMITS.maxReplyBytes.
      let bytes = 0;
      let shown = 0;
      for (const room of rooms) {
        const event = roomInfo(room);
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
    },
  who: ({ core, session }, args) => {
      const room = args['#ROOM'] === undefined ? undefined : core.rooms.find(args['#ROOM']);
      const label = room?.name ?? '*';
      const count = room?.members.size ?? core.nicks.size;
      const page = args.PAGE === undefined ? 1 : Number(args.PAGE);
      if (page < 1) throw new ChatError('BAD_ARGS', 'Pages of /who count from 1.');
      // One page at a time, so a reply about a room of thousands stays a few lines: walking past the
      // earlier pages allocates nothing, and the flood budget paces repeated asks (the command's cost).
      const per = LIMITS.maxWhoNames;
      const pages = Math.max(1, Math.ceil(count / per));
      const shown: Session[] = [];
      let skip = (page - 1) * per;
      if (page <= pages) {
        for (const member of room?.members ?? core.nicks.owners()) {
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
      const target = findOnline(core, args.NICK!);
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
