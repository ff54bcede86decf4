import { LIMITS } from '../../protocol/limits';
import { encodeLine } from '../../protocol/server-lines';
import { foldName } from '../../protocol/text-hygiene';
import type { CommandSpec } from '../command-table';

/** Commands that show who and what is on the server. */
export const infoCommands: CommandSpec[] = [
  {
    name: 'rooms',
    aliases: ['list'],
    args: [{ name: 'WORD', kind: 'word', optional: true }],
    help: `List the rooms (those whose name contains WORD, if given) with their member counts and topics; at most ${LIMITS.maxRoomsListed}, the busiest.`,
    states: ['registered'],
    run: ({ core, session }, args) => {
      const filter = args.WORD === undefined ? undefined : foldName(args.WORD.replace(/^#/, ''));
      let rooms = core.allRooms();
      if (filter !== undefined) rooms = rooms.filter((room) => room.key.includes(filter));
      const total = rooms.length;
      if (total > LIMITS.maxRoomsListed) {
        // Listing every room could pass the asker's send-queue cap; show the busiest, in name order.
        const busiest = new Set([...rooms].sort((a, b) => b.members.size - a.members.size).slice(0, LIMITS.maxRoomsListed));
        rooms = rooms.filter((room) => busiest.has(room));
      }
      for (const room of rooms) core.sendRoomInfo(session, room);
      const text =
        total > rooms.length
          ? `${rooms.length} of ${total} rooms shown (the busiest); /rooms WORD lists rooms whose name contains WORD.`
          : total === 1
            ? '1 room.'
            : `${total} rooms.`;
      session.send(encodeLine('OK', ['ROOMS', String(rooms.length)], text));
    },
  },
  {
    name: 'who',
    aliases: ['names'],
    args: [{ name: '#ROOM', kind: 'room', optional: true }],
    help: 'List the people in a room, or everyone online.',
    states: ['registered'],
    run: ({ core, session }, args) => {
      if (args['#ROOM'] === undefined) {
        core.sendNames(session, '*', core.registered());
        session.send(encodeLine('OK', ['WHO', '*'], `${core.userCount} online.`));
        return;
      }
      const room = core.findRoom(args['#ROOM']);
      core.sendNames(session, room.name, room.members);
      session.send(encodeLine('OK', ['WHO', room.name], `${room.members.size} in ${room.name}.`));
    },
  },
  {
    name: 'whois',
    aliases: ['wi'],
    args: [{ name: 'NICK', kind: 'nick' }],
    help: 'Show a user\'s rooms, when they connected, and how long they have been idle.',
    states: ['registered'],
    run: ({ core, session }, args) => {
      const target = core.findNick(args.NICK!);
      const now = core.options.clock.now();
      session.send(encodeLine('WHOIS', [target.nick, 'rooms'], target.rooms.map((room) => room.name).join(' ')));
      session.send(encodeLine('WHOIS', [target.nick, 'connected'], new Date(target.connectedAt).toISOString()));
      session.send(encodeLine('WHOIS', [target.nick, 'idle'], String(Math.floor((now - target.lastActive) / 1000))));
      session.send(encodeLine('OK', ['WHOIS', target.nick], `End of WHOIS for ${target.nick}.`));
    },
  },
];
