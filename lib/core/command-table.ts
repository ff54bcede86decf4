import { matchArgs, usageOf, type Args, type CommandInfo, type CommandName } from '../protocol/command-catalogue';
import { ChatError } from '../protocol/errors';
import { neutralise } from '../protocol/text-hygiene';
import type { Logger } from '../log';
import type { HistoryFeed } from './history-feed';
import type { NickRegistry } from './ports/nick-registry';
import type { RoomBus } from './ports/room-bus';
import type { ClusterPresence, RemoteUser } from './ports/cluster-presence';
import type { RoomDirectory } from './room-directory';
import type { Room, Session } from './session';
import type { Clock } from './ports/clock';

export type { ArgKind, ArgSpec, Args } from '../protocol/command-catalogue';
export { usageOf } from '../protocol/command-catalogue';

/**
 * What command handlers reach of the chat core: its parts (nicknames, rooms, history, the bus) to call
 * directly, and the few session-lifecycle steps only the core may take. ChatCore implements it; declaring
 * it here (rather than importing ChatCore) keeps the dispatcher and its handlers free of an import cycle.
 */
export interface CommandCore {
  readonly options: { readonly clock: Clock; readonly log: Logger; readonly motd: string; readonly largeRoom: number; readonly autoJoin: string };
  /** Who has which nickname. */
  readonly nicks: NickRegistry<Session>;
  /** The rooms and their members. */
  readonly rooms: RoomDirectory;
  /** Storing, reading and replaying room history. */
  readonly feed: HistoryFeed;
  /** Where every room event is published. */
  readonly bus: RoomBus;
  /** Who is online on the other servers of a cluster (undefined when this server is alone). */
  readonly presence: ClusterPresence | undefined;
  /** The session's rooms that hear of its presence changes (the ones not large). */
  shownRooms(session: Session): Room[];
  /** Makes a session whose nickname was just claimed a registered user (stops its nickname timer, starts its idle clock). */
  admit(session: Session): void;
  /** Ends a session: BYE `byeText`, QUIT `reason` to its peers, close; `holdNick` false gives the nickname up at once. */
  end(session: Session, reason: string, byeText?: string, holdNick?: boolean): void;
  /** The id of a new /paste block (its PASTE lines share it). */
  pasteId(): string;
}

/** The user called `rawNick` (ignoring case) on this server or another of the cluster, or NO_SUCH_NICK. */
export function findAnywhere(core: CommandCore, rawNick: string): { local: Session; remote?: undefined } | { local?: undefined; remote: RemoteUser } {
  const local = core.nicks.find(rawNick);
  if (local !== undefined) return { local };
  const remote = core.presence?.findRemote(rawNick);
  if (remote !== undefined) return { remote };
  throw new ChatError('NO_SUCH_NICK', `No one called ${neutralise(rawNick)} is online.`);
}

/** What a handler gets: the core, the session that sent the command, and the table (for /help). */
export interface CommandContext {
  core: CommandCore;
  session: Session;
  table: CommandTable;
}

/** Runs a command; a Promise means the connection waits for it before its next line is handled. */
export type CommandHandler = (ctx: CommandContext, args: Args) => void | Promise<void>;

/** One handler per catalogue command, checked by the compiler (see commands/index.ts) and by bindCommands. */
export type CommandHandlers = Record<CommandName, CommandHandler>;

/** A catalogue command with its handler: what the table dispatches to. */
export interface CommandSpec extends CommandInfo {
  /** Runs the command; a Promise means the connection waits for it before its next line is handled. */
  run: CommandHandler;
}

/**
 * Pairs every catalogue entry with its handler, in catalogue order. Throws at start-up when a command has
 * no handler or a handler no command (a plain-JavaScript caller or a cast could slip past the types).
 */
export function bindCommands(catalogue: readonly CommandInfo[], handlers: Readonly<Record<string, CommandHandler>>): CommandSpec[] {
  const names = new Set(catalogue.map((info) => info.name));
  const missing = catalogue.filter((info) => typeof handlers[info.name] !== 'function').map((info) => '/' + info.name);
  const extra = Object.keys(handlers).filter((name) => !names.has(name)).map((name) => '/' + name);
  if (missing.length > 0) throw new Error(`no handler for ${missing.join(' ')}`);
  if (extra.length > 0) throw new Error(`handler for unknown command ${extra.join(' ')}`);
  return catalogue.map((info) => ({ ...info, run: handlers[info.name]! }));
}

/** Matches a command's raw argument text against its spec, throwing BAD_ARGS with the usage on mismatch. */
export function parseArgs(spec: CommandInfo, raw: string): Args {
  const args = matchArgs(spec, raw);
  if (args === undefined) throw new ChatError('BAD_ARGS', `Usage: ${usageOf(spec)}`);
  return args;
}

/** The set of commands, indexed by name and alias. */
export class CommandTable {
  private readonly byName = new Map<string, CommandSpec>();

  constructor(readonly commands: readonly CommandSpec[]) {
    for (const spec of commands) {
      for (const name of [spec.name, ...(spec.aliases ?? [])]) {
        if (this.byName.has(name)) throw new Error(`duplicate command name /${name}`);
        this.byName.set(name, spec);
      }
    }
  }

  /** Finds a command by its lower-case name or alias. */
  lookup(name: string): CommandSpec | undefined {
    return this.byName.get(name);
  }
}
