import { LIMITS } from './limits';
import { splitWord } from './parse-input';

/** Connection states: every command declares which of them may use it. */
export type SessionState = 'awaiting-nick' | 'registered' | 'closing';

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

/** What a command is, as data: lookup, argument checks, usage and /help derive from it (the core adds the handler). */
export interface CommandInfo {
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
}

/** Messages /history shows when N is not given. */
export const DEFAULT_HISTORY_PAGE = 20;

const BOTH: readonly SessionState[] = ['awaiting-nick', 'registered'];
const REGISTERED: readonly SessionState[] = ['registered'];

/** Every command the daemon offers, in the order /help lists them; the client reads it too (completion, /quit). */
export const COMMAND_CATALOGUE = [
  {
    name: 'msg',
    aliases: ['m', 'tell'],
    args: [
      { name: 'NICK', kind: 'nick' },
      { name: 'TEXT', kind: 'text' },
    ],
    help: 'Send a private message; only NICK sees it.',
    states: REGISTERED,
  },
  {
    name: 'me',
    aliases: ['action'],
    args: [{ name: 'ACTION', kind: 'text' }],
    help: 'Describe an action in your current room, e.g. /me waves.',
    states: REGISTERED,
  },
  {
    name: 'paste',
    args: [{ name: '#ROOM', kind: 'room', optional: true }],
    help: `Send several lines as one message to your current room (or #ROOM): the lines that follow, up to a line holding only "." (at most ${LIMITS.maxPasteLines} lines, ${LIMITS.maxPasteBytes} bytes); a line starting with "." is sent with one more "." in front.`,
    states: REGISTERED,
  },
  {
    name: 'join',
    aliases: ['j'],
    args: [{ name: '#ROOM', kind: 'room' }],
    help: 'Join a room (creating it if new) and make it your current room; joining a room you are in just makes it current.',
    states: REGISTERED,
  },
  {
    name: 'part',
    aliases: ['leave'],
    args: [
      { name: '#ROOM', kind: 'room', optional: true },
      { name: 'REASON', kind: 'text', optional: true },
    ],
    help: 'Leave a room (your current room by default); your current room becomes the one you used before it.',
    states: REGISTERED,
  },
  {
    name: 'topic',
    args: [
      { name: '#ROOM', kind: 'room' },
      { name: 'TEXT', kind: 'text', optional: true },
    ],
    help: 'Show a room\'s topic, or set it (members only); "-" as TEXT clears it.',
    states: REGISTERED,
  },
  {
    name: 'rooms',
    aliases: ['list'],
    args: [{ name: 'WORD', kind: 'word', optional: true }],
    cost: 5,
    help: `List the rooms (those whose name contains WORD, if given) with their member counts and topics; at most ${LIMITS.maxRoomsListed}, the busiest.`,
    states: REGISTERED,
  },
  {
    name: 'who',
    aliases: ['names'],
    args: [
      { name: '#ROOM', kind: 'room', optional: true },
      { name: 'PAGE', kind: 'number', optional: true },
    ],
    cost: 3,
    help: `List the people in a room, or everyone online, ${LIMITS.maxWhoNames} at a time: PAGE (default 1) picks which ${LIMITS.maxWhoNames}.`,
    states: REGISTERED,
  },
  {
    name: 'whois',
    aliases: ['wi'],
    args: [{ name: 'NICK', kind: 'nick' }],
    help: 'Show a user\'s rooms, when they connected, and how long they have been idle.',
    states: REGISTERED,
  },
  {
    name: 'history',
    args: [
      { name: '#ROOM', kind: 'room', optional: true },
      { name: 'N', kind: 'number', optional: true },
      { name: 'before', kind: 'word', optional: true },
      { name: 'ID', kind: 'number', optional: true },
    ],
    usage: '/history [#ROOM] [N] [before ID]',
    cost: 5,
    help: `Show a room's last N stored messages (default ${DEFAULT_HISTORY_PAGE}, at most ${LIMITS.maxHistoryPage}), or the N before message ID, oldest first.`,
    states: REGISTERED,
  },
  {
    name: 'search',
    args: [
      { name: '#ROOM', kind: 'room' },
      { name: 'TEXT', kind: 'text' },
    ],
    cost: 10,
    help: `Find stored messages of a room that contain every word of TEXT (words of ${LIMITS.minSearchPrefix} or more letters also match longer words they begin), newest first, at most ${LIMITS.maxSearchResults}.`,
    states: REGISTERED,
  },
  {
    name: 'replay',
    args: [{ name: 'on|off', kind: 'word', optional: true }],
    help: 'Turn history replay on joining a room on or off for this connection, or show the setting.',
    states: REGISTERED,
  },
  {
    name: 'nick',
    aliases: ['name'],
    args: [{ name: 'NAME', kind: 'word' }],
    help: 'Pick or change your nickname: 1-24 letters, digits, _ or -, starting with a letter; unique ignoring case.',
    states: BOTH,
  },
  {
    name: 'help',
    aliases: ['h', '?'],
    args: [{ name: 'COMMAND', kind: 'word', optional: true }],
    help: 'List the commands, or explain one.',
    states: BOTH,
  },
  {
    name: 'ping',
    args: [{ name: 'TOKEN', kind: 'text', optional: true }],
    help: 'Ask the server to answer PONG (with TOKEN, if given): replies come in order, so this confirms everything sent before it was handled.',
    states: BOTH,
  },
  {
    name: 'format',
    args: [{ name: 'mychat|json', kind: 'word' }],
    help: 'Switch this connection to mychat lines or to JSON objects, one per line (JSON mode, for bots); in JSON mode commands may also be sent as JSON objects.',
    states: BOTH,
  },
  {
    name: 'quit',
    aliases: ['exit', 'bye'],
    args: [{ name: 'REASON', kind: 'text', optional: true }],
    help: 'Leave the server; the people in your rooms see REASON.',
    states: BOTH,
  },
] as const satisfies readonly CommandInfo[];

/** The name of a catalogue command: the core must have exactly one handler for each. */
export type CommandName = (typeof COMMAND_CATALOGUE)[number]['name'];

/** Usage string derived from a command, e.g. "/part [#ROOM] [REASON]". */
export function usageOf(info: CommandInfo): string {
  if (info.usage !== undefined) return info.usage;
  const parts = ['/' + info.name];
  for (const arg of info.args) parts.push(arg.optional ? `[${arg.name}]` : arg.name);
  return parts.join(' ');
}

/** Matches a command's raw argument text against its declared arguments; undefined when it does not fit (show the usage). */
export function matchArgs(info: CommandInfo, raw: string): Args | undefined {
  const args: Args = {};
  let rest = raw.trim();
  for (const arg of info.args) {
    if (arg.kind === 'text') {
      if (rest.length === 0 && !arg.optional) return undefined;
      args[arg.name] = rest.length > 0 ? rest : undefined;
      rest = '';
      continue;
    }
    const { word, rest: after } = splitWord(rest);
    const shaped = arg.kind === 'room' ? word.startsWith('#') : arg.kind === 'number' ? /^\d{1,9}$/.test(word) : true;
    if (!arg.optional && word.length > 0 && arg.kind === 'number' && !shaped) return undefined;
    const present = word.length > 0 && (!arg.optional || shaped);
    if (!present) {
      if (!arg.optional) return undefined;
      continue;
    }
    args[arg.name] = word;
    rest = after;
  }
  return rest.length > 0 ? undefined : args;
}
