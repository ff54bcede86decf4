import { COMMAND_CATALOGUE, type ArgKind } from '../protocol/command-catalogue';
import { foldName } from '../protocol/text-hygiene';

/** What completion needs to know about one command: its names and the kind of each argument. */
export interface CommandInfo {
  name: string;
  aliases: readonly string[];
  args: readonly ArgKind[];
}

/** Commands the client handles itself (see user-input.ts); completed like the server's. */
export const CLIENT_COMMANDS: readonly CommandInfo[] = [
  { name: 'clear', aliases: [], args: [] },
  { name: 'say', aliases: [], args: ['text'] },
  { name: 'window', aliases: [], args: ['word'] },
];

/**
 * The server's commands, taken from the protocol's command catalogue (the daemon's own list) so the client never falls behind it, plus
 * the client's extras.
 */
export const ALL_COMMANDS: readonly CommandInfo[] = [
  ...COMMAND_CATALOGUE.map((spec) => ({ name: spec.name, aliases: 'aliases' in spec ? spec.aliases : [], args: spec.args.map((arg) => arg.kind) })),
  ...CLIENT_COMMANDS,
];

/** The names completion may offer at the moment. */
export interface CompletionSources {
  commands: readonly CommandInfo[];
  /** Nicknames seen, without the user's own. */
  nicks: readonly string[];
  /** Room names seen, each with its '#'. */
  rooms: readonly string[];
}

/** Most candidates offered at once; a longer list would only scroll the screen. */
export const MAX_CANDIDATES = 200;

function startsWithFolded(name: string, prefix: string): boolean {
  return foldName(name).startsWith(foldName(prefix));
}

/** Candidates sorted case-insensitively, without duplicates, at most MAX_CANDIDATES. */
function finish(candidates: string[]): string[] {
  const unique = new Map<string, string>();
  for (const candidate of candidates) if (!unique.has(foldName(candidate))) unique.set(foldName(candidate), candidate);
  return [...unique.values()].sort((x, y) => foldName(x).localeCompare(foldName(y))).slice(0, MAX_CANDIDATES);
}

function findCommand(commands: readonly CommandInfo[], name: string): CommandInfo | undefined {
  const key = name.toLowerCase();
  return commands.find((c) => c.name === key || c.aliases.includes(key));
}

/**
 * Completes the word before the cursor, readline-style: returns the candidates and the text they replace.
 * At the start of a line "/jo" becomes "/join "; a word starting with "#" completes a room; the first
 * argument of a command completes what the command expects there (a room after /join, a nickname after
 * /msg, a command after /help); any other word completes a nickname, with ": " after it when it starts
 * a message (addressing someone) and " " otherwise. Names match ignoring case, as the server does.
 */
export function completeLine(line: string, sources: CompletionSources): [string[], string] {
  const start = line.search(/\S*$/);
  const word = line.slice(start);
  const before = line.slice(0, start);
  const words = before.trim().length > 0 ? before.trim().split(/\s+/) : [];
  const isCommandLine = words.length > 0 && words[0]!.startsWith('/') && !words[0]!.startsWith('//');
  const none: [string[], string] = [[], word];

  if (words.length === 0) {
    if (word.startsWith('//')) return none;
    if (word.startsWith('/')) {
      const names = sources.commands.map((c) => c.name).filter((name) => name.startsWith(word.slice(1).toLowerCase()));
      return [finish(names.map((name) => `/${name} `)), word];
    }
    if (word.length === 0) return none;
  }

  let expected: ArgKind | 'command' | undefined;
  if (isCommandLine && words.length === 1) {
    const command = findCommand(sources.commands, words[0]!.slice(1));
    expected = command?.name === 'help' ? 'command' : command?.args[0];
  }

  const rooms = (): string[] => sources.rooms.filter((room) => startsWithFolded(room, word.startsWith('#') ? word : '#' + word)).map((room) => room + ' ');
  if (word.startsWith('#') || expected === 'room') return [finish(rooms()), word];
  if (expected === 'command') {
    return [finish(sources.commands.map((c) => c.name).filter((name) => name.startsWith(word.replace(/^\//, '').toLowerCase())).map((name) => name + ' ')), word];
  }
  // An empty word completes only where the command says what belongs there; elsewhere Tab does nothing.
  if (word.length === 0 && expected !== 'nick') return none;
  const suffix = words.length === 0 ? ': ' : ' ';
  return [finish(sources.nicks.filter((nick) => startsWithFolded(nick, word)).map((nick) => nick + suffix)), word];
}
