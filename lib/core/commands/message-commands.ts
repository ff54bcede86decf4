import type { CommandSpec } from '../command-table';

/** Commands that send text to other people. */
export const messageCommands: CommandSpec[] = [
  {
    name: 'msg',
    aliases: ['m', 'tell'],
    args: [
      { name: 'NICK', kind: 'nick' },
      { name: 'TEXT', kind: 'text' },
    ],
    help: 'Send a private message; only NICK sees it.',
    states: ['registered'],
    run: ({ core, session }, args) => core.privateMessage(session, args.NICK!, args.TEXT!),
  },
  {
    name: 'me',
    aliases: ['action'],
    args: [{ name: 'ACTION', kind: 'text' }],
    help: 'Describe an action in your current room, e.g. /me waves.',
    states: ['registered'],
    run: ({ core, session }, args) => core.sayToRoom(session, args.ACTION!, 'ACTION'),
  },
];
