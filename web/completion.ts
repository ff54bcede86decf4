import { COMMAND_CATALOGUE } from '../lib/protocol/command-catalogue';
import { nameKey } from './text';

/** Commands the browser client handles itself, offered by completion next to the server's. */
export const CLIENT_COMMANDS: readonly string[] = ['query', 'close', 'clear'];

/** Every command name completion offers: the server's catalogue (names and aliases) and the client's own. */
export const COMMAND_NAMES: readonly string[] = [
  ...COMMAND_CATALOGUE.flatMap((c) => [c.name, ...('aliases' in c ? c.aliases : [])]).filter((name) => name !== 'format' && name !== '?'),
  ...CLIENT_COMMANDS,
];

/** Commands whose first argument is a nickname, and those whose first argument is a room. */
const NICK_FIRST = new Set(['msg', 'm', 'tell', 'whois', 'wi', 'query']);
const ROOM_FIRST = new Set(['join', 'j', 'part', 'leave', 'topic', 'history', 'search', 'who', 'names']);

/** What completion may offer now. */
export interface CompletionSources {
  commands: readonly string[];
  /** Nicknames, the current room's members first. */
  nicks: readonly string[];
  /** Room names with their '#'. */
  rooms: readonly string[];
}

/** A completion: replace input[from, to) with one of `candidates` (each complete, with what follows it). */
export interface Completion {
  from: number;
  to: number;
  candidates: string[];
}

function matching(names: readonly string[], prefix: string, suffix: string): string[] {
  const key = nameKey(prefix);
  const seen = new Set<string>();
  const out: string[] = [];
  for (const name of names) {
    const folded = nameKey(name);
    if (!folded.startsWith(key) || seen.has(folded)) continue;
    seen.add(folded);
    out.push(name + suffix);
  }
  return out.slice(0, 50);
}

/**
 * Completes the word before the cursor: "/jo" a command, "#d" a room, the first argument of a command what
 * it takes (a room after /join, a nickname after /msg), any other word a nickname; a nickname that starts
 * the line gets ": " after it (addressing someone). Names match ignoring case, as the server compares them.
 */
export function complete(input: string, cursor: number, sources: CompletionSources): Completion {
  const before = input.slice(0, cursor);
  const from = before.search(/\S*$/);
  const word = before.slice(from);
  const words = before.slice(0, from).trim().split(/\s+/).filter((w) => w !== '');
  const result = (candidates: string[]): Completion => ({ from, to: cursor, candidates });
  if (words.length === 0 && word.startsWith('/') && !word.startsWith('//')) {
    const prefix = word.slice(1).toLowerCase();
    return result(sources.commands.filter((name) => name.startsWith(prefix)).map((name) => `/${name} `));
  }
  if (word.startsWith('#')) return result(matching(sources.rooms, word, ' '));
  const command = words[0]?.startsWith('/') === true ? words[0].slice(1).toLowerCase() : undefined;
  if (command !== undefined && words.length === 1) {
    if (ROOM_FIRST.has(command)) return result(matching(sources.rooms, word.startsWith('#') ? word : '#' + word, ' '));
    if (command === 'help' || command === 'h') return result(sources.commands.filter((name) => name.startsWith(word.toLowerCase())).map((name) => name + ' '));
    if (NICK_FIRST.has(command)) return result(matching(sources.nicks, word, ' '));
  }
  if (word === '') return result([]);
  return result(matching(sources.nicks, word, words.length === 0 ? ': ' : ' '));
}

/** The longest start all candidates share (ignoring nothing: it is inserted as typed). */
export function commonPrefix(candidates: readonly string[]): string {
  if (candidates.length === 0) return '';
  let prefix = candidates[0]!;
  for (const candidate of candidates) while (!candidate.startsWith(prefix)) prefix = prefix.slice(0, -1);
  return prefix;
}
