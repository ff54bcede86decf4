import type { CommandHandlers } from '../command-table';

/** Handlers of the commands that change which rooms you are in and what they say about themselves. */
export const roomHandlers = {
  join: ({ core, session }, args) => core.join(session, args['#ROOM']!),
  part: ({ core, session }, args) => core.part(session, args['#ROOM'], args.REASON),
  topic: ({ core, session }, args) => core.topic(session, args['#ROOM']!, args.TEXT),
} satisfies Partial<CommandHandlers>;
