import type { CommandSpec } from '../command-table';
import { historyCommands } from './history-commands';
import { infoCommands } from './info-commands';
import { messageCommands } from './message-commands';
import { roomCommands } from './room-commands';
import { sessionCommands } from './session-commands';

/** Every command the daemon offers, in the order /help lists them. */
export const defaultCommands: readonly CommandSpec[] = [
  ...messageCommands,
  ...roomCommands,
  ...infoCommands,
  ...historyCommands,
  ...sessionCommands,
];
