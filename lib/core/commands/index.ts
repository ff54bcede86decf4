import { COMMAND_CATALOGUE } from '../../protocol/command-catalogue';
import { bindCommands, type CommandHandlers, type CommandSpec } from '../command-table';
import { historyHandlers } from './history-commands';
import { infoHandlers } from './info-commands';
import { messageHandlers } from './message-commands';
import { roomHandlers } from './room-commands';
import { sessionHandlers } from './session-commands';

/** One handler per catalogue command: the type fails to compile when one is missing (each file rejects unknown names). */
export const commandHandlers: CommandHandlers = {
  ...messageHandlers,
  ...roomHandlers,
  ...infoHandlers,
  ...historyHandlers,
  ...sessionHandlers,
};

/** Every command the daemon offers, in the order /help lists them (the catalogue's order). */
export const defaultCommands: readonly CommandSpec[] = bindCommands(COMMAND_CATALOGUE, commandHandlers);
