import { encodeLine } from '../../protocol/server-lines';
import type { CommandSpec } from '../command-table';

/** Commands that show who and what is on the server. */
export const infoCommands: CommandSpec[] = [
  {
    name: 'rooms',
    aliases: ['list'],
    args: [],
    help: 'List the rooms with their member counts and topics.',
    states: ['registered'],
    run: ({ core, session }) => {
      const rooms = core.allRooms();
      for (const room of rooms) core.sendRoomInfo(session, room);
      session.send(encodeLine('OK', ['ROOMS', String(rooms.length)], rooms.length === 1 ? '1 room.' : `${rooms.length} rooms.`));
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
