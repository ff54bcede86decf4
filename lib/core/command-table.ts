import { splitWord } from '../protocol/parse-input';
import type { ChatCore } from './chat-core';
import { ChatError } from './errors';
import type { Session, SessionState } from './session';

/**
 * Argument kinds. `word` and `nick` take one word; `room` takes one word starting with "#" and `number`
 * one word of digits (so either can be left out when optional); `text` takes the rest of the line.
 */
export type ArgKind = 'word' | 'nick' | 'room' | 'number' | 'text';

/** One declared argument of a command. */
export interface ArgSpec {
  name: string;
  kind: ArgKind;
  optional?: boolean;
}

/** Parsed arguments, keyed by ArgSpec.name; absent optional arguments are undefined. */
export type Args = Record<string, string | undefined>;

/** What a handler gets: the core, the session that sent the command, and the table (for /help). */
export interface CommandContext {
  core: ChatCore;
  session: Session;
  table: CommandTable;
}

/** A declarative command: the table derives lookup, argument checks, usage and /help from it. */
export interface CommandSpec {
  name: string;
  aliases?: readonly string[];
  args: readonly ArgSpec[];
  /** One-sentence description shown by /help. */
  help: string;
  /** Usage text, when the one derived from `args` would not read well. */
  usage?: string;
  /** Connection states that may use the command; others get ERR NICK_REQUIRED. */
  states: readonly SessionState[];
  /**
   * Flood-budget cost in lines (default 1): a command that makes the server do much more work than a line
   * (a /history page, a search, a list of every room) costs more, so flood control paces it accordingly.
   */
  cost?: number;
  /** Runs the command; a Promise means the connection waits for it before its next line is handled. */
  run(ctx: CommandContext, args: Args): void | Promise<void>;
}

/** Usage string derived from a spec, e.g. "/part [#ROOM] [REASON]". */
export function usageOf(spec: CommandSpec): string {
  if (spec.usage !== undefined) return spec.usage;
  const parts = ['/' + spec.name];
  for (const arg of spec.args) parts.push(arg.optional ? `[${arg.name}]` : arg.name);
  return parts.join(' ');
}

/** Matches a command's raw argument text against its spec, throwing BAD_ARGS with the usage on mismatch. */
export function parseArgs(spec: CommandSpec, raw: string): Args {
  const args: Args = {};
  let rest = raw.trim();
  const bad = (): never => {
    throw new ChatError('BAD_ARGS', `Usage: ${usageOf(spec)}`);
  };
  for (const arg of spec.args) {
    if (arg.kind === 'text') {
      if (rest.length === 0 && !arg.optional) bad();
      args[arg.name] = rest.length > 0 ? rest : undefined;
      rest = '';
      continue;
    }
    const { word, rest: after } = splitWord(rest);
    const shaped = arg.kind === 'room' ? word.startsWith('#') : arg.kind === 'number' ? /^\d{1,9}$/.test(word) : true;
    if (!arg.optional && word.length > 0 && arg.kind === 'number' && !shaped) bad();
    const present = word.length > 0 && (!arg.optional || shaped);
    if (!present) {
      if (!arg.optional) bad();
      continue;
    }
    args[arg.name] = word;
    rest = after;
  }
  if (rest.length > 0) bad();
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
