import type { CommandSpec } from '../command-table';

/** Commands that change which rooms you are in and what they say about themselves. */
export const roomCommands: CommandSpec[] = [
  {
    name: 'join',
    aliases: ['j'],
    args: [{ name: '#ROOM', kind: 'room' }],
    help: 'Join a room (creating it if new) and make it your current room; joining a room you are in just makes it current.',
    states: ['registered'],
    run: ({ core, session }, args) => core.join(session, args['#ROOM']!),
  },
  {
    name: 'part',
    aliases: ['leave'],
    args: [
      { name: '#ROOM', kind: 'room', optional: true },
      { name: 'REASON', kind: 'text', optional: true },
    ],
    help: 'Leave a room (your current room by default); your current room becomes the one you used before it.',
    states: ['registered'],
    run: ({ core, session }, args) => core.part(session, args['#ROOM'], args.REASON),
  },
  {
    name: 'topic',
    args: [
      { name: '#ROOM', kind: 'room' },
      { name: 'TEXT', kind: 'text', optional: true },
    ],
    help: 'Show a room\'s topic, or set it (members only); "-" as TEXT clears it.',
    states: ['registered'],
    run: ({ core, session }, args) => core.topic(session, args['#ROOM']!, args.TEXT),
  },
];
