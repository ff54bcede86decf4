import { LIMITS } from '../../protocol/limits';
import { encodeLine } from '../../protocol/server-lines';
import { nameKey } from '../../protocol/text-hygiene';
import type { CommandHandlers } from '../command-table';
import type { Room } from '../session';

/** The ROOM line that describes a room in /rooms and /join. */
function roomInfoLine(room: Room): Buffer {
  return encodeLine('ROOM', [room.name, String(room.members.size)], room.topic);
}

/** Handlers of the commands that show who and what is on the server. */
export const infoHandlers = {
  rooms: ({ core, session }, args) => {
      const filter = args.WORD === undefined ? undefined : nameKey(args.WORD.replace(/^#/, ''));
      const all = core.allRooms();
      const matching = filter === undefined ? all : all.filter((room) => room.key.includes(filter));
      const total = matching.length;
      // Listing every room could pass the asker's send-queue cap: above the limit, show the busiest.
      let rooms = matching;
      if (total > LIMITS.maxRoomsListed) {
        if (filter === undefined) rooms = core.busiestRooms(LIMITS.maxRoomsListed);
        else {
          const busiest = new Set([...matching].sort((a, b) => b.members.size - a.members.size).slice(0, LIMITS.maxRoomsListed));
          rooms = matching.filter((room) => busiest.has(room));
        }
      }
      // Long topics could still make the reply large: it stops at LIMITS.maxReplyBytes.
      let bytes = 0;
      let shown = 0;
      for (const room of rooms) {
        const line = roomInfoLine(room);
        if (bytes + line.length > LIMITS.maxReplyBytes) break;
        bytes += line.length;
        session.send(line);
        shown++;
      }
      const text =
        total > shown
          ? `${shown} of ${total} rooms shown (the busiest); /rooms WORD lists rooms whose name contains WORD.`
          : total === 1
            ? '1 room.'
            : `${total} rooms.`;
      session.send(encodeLine('OK', ['ROOMS', String(shown)], text));
    },
  who: ({ core, session }, args) => {
      if (args['#ROOM'] === undefined) {
        core.sendNames(session, '*', core.registered());
        session.send(encodeLine('OK', ['WHO', '*'], `${core.userCount} online.`));
        return;
      }
      const room = core.findRoom(args['#ROOM']);
      core.sendNames(session, room.name, room.members);
      session.send(encodeLine('OK', ['WHO', room.name], `${room.members.size} in ${room.name}.`));
    },
  whois: ({ core, session }, args) => {
      const target = core.findNick(args.NICK!);
      const now = core.options.clock.now();
      session.send(encodeLine('WHOIS', [target.nick, 'rooms'], target.rooms.map((room) => room.name).join(' ')));
      session.send(encodeLine('WHOIS', [target.nick, 'connected'], new Date(target.connectedAt).toISOString()));
      session.send(encodeLine('WHOIS', [target.nick, 'idle'], String(Math.floor((now - target.lastActive) / 1000))));
      session.send(encodeLine('OK', ['WHOIS', target.nick], `End of WHOIS for ${target.nick}.`));
    },
} satisfies Partial<CommandHandlers>;
