import { LIMITS } from '../../protocol/limits';
import { nameKey } from '../../protocol/text-hygiene';
import { findOnline, type CommandHandlers } from '../command-table';
import { eventSize } from '../event-size';
import { namesEvents, reply, roomInfo } from '../replies';

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
      if (args['#ROOM'] === undefined) {
        for (const event of namesEvents('*', core.nicks.owners())) session.deliver(event);
        session.deliver(reply('WHO', '*', `${core.nicks.size} online.`));
        return;
      }
      const room = core.rooms.find(args['#ROOM']);
      for (const event of namesEvents(room.name, room.members)) session.deliver(event);
      session.deliver(reply('WHO', room.name, `${room.members.size} in ${room.name}.`));
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
