import { COMMAND_CATALOGUE, type CommandInfo } from '../protocol/command-catalogue';
import { parseInput } from '../protocol/parse-input';

/** What one line typed in the interactive client asks for. */
export type UserAction =
  /** Send this line to the server. */
  | { kind: 'send'; line: string }
  /** Send this /quit line, then wait (briefly) for the server's BYE and exit. */
  | { kind: 'quit'; line: string }
  /** Clear the screen. */
  | { kind: 'clear' }
  /** Show this text locally; nothing is sent. */
  | { kind: 'local'; text: string }
  /** Switch windows (/window N, /window NAME) or list them (/window alone). */
  | { kind: 'window'; arg: string }
  /** Show the current room's topic (a bare /topic: the server needs the room named). */
  | { kind: 'topic' }
  /** Nothing to do (a blank line). */
  | { kind: 'none' };

/** Names and aliases of the server's /quit, from the protocol's command catalogue. */
const QUIT_NAMES: ReadonlySet<string> = new Set(
  (COMMAND_CATALOGUE as readonly CommandInfo[]).filter((spec) => spec.name === 'quit').flatMap((spec) => [spec.name, ...(spec.aliases ?? [])]),
);

/** Names and aliases of the server's /join. */
const JOIN_NAMES: ReadonlySet<string> = new Set(
  (COMMAND_CATALOGUE as readonly CommandInfo[]).filter((spec) => spec.name === 'join').flatMap((spec) => [spec.name, ...(spec.aliases ?? [])]),
);

/** One line per client-side command, shown by /help after the server's list and by /help clear|say. */
export const CLIENT_HELP: Record<string, string> = {
  clear: '/clear - Clear the screen (the client\'s own command; nothing is sent).',
  say: '/say TEXT - Send TEXT to your current room as it is, even when it starts with / (the client\'s own command).',
  window: '/window [N|NAME] - Show window N (or the room or conversation NAME); alone, list the windows (the client\'s own command; Alt-1…9, Ctrl-N and Ctrl-P switch too).',
};

/** Summary of what the client adds, shown after the server's /help list. */
export const CLIENT_HELP_SUMMARY =
  'Client: one window per room and private conversation: /window N, Alt-1…9, Ctrl-N/Ctrl-P switch, the line above the prompt shows unread messages ([2:#dev 3]) and mentions (!1); /clear clears the window; /say TEXT sends TEXT as a message even if it starts with /; Tab completes commands, nicknames and rooms; Up/Down recall lines; Ctrl-C clears the line, twice on an empty line quits, as do Ctrl-D and /quit.';

/** The line that sends `text` to the current room exactly as written: a leading "/" is escaped as "//". */
export function literalLine(text: string): string {
  return text.startsWith('/') ? '/' + text : text;
}

/** True when `line` is the server's /quit (or an alias) as the daemon would parse it. */
export function isQuitLine(line: string): boolean {
  const parsed = parseInput(line);
  return parsed?.kind === 'command' && QUIT_NAMES.has(parsed.name);
}

/**
 * Decides what a typed line does. Server commands and plain text go to the server as typed; the client
 * handles /clear, /say and /window itself, answers /help about them, completes a bare /topic with the
 * current room and "/join dev" with its '#', and waits for BYE after /quit.
 */
export function interpretInput(typed: string): UserAction {
  const parsed = parseInput(typed);
  if (parsed === undefined) return { kind: 'none' };
  if (parsed.kind === 'text') return { kind: 'send', line: typed };
  if (parsed.name === 'clear' && parsed.args === '') return { kind: 'clear' };
  if (parsed.name === 'say') {
    // Keep the text exactly as typed after "/say ", including its inner spacing.
    const text = typed.trimStart().replace(/^\/say(\s|$)/i, '');
    if (text.trim().length === 0) return { kind: 'local', text: 'Usage: /say TEXT' };
    return { kind: 'send', line: literalLine(text) };
  }
  if (parsed.name === 'help') {
    const topic = parsed.args.replace(/^\//, '').toLowerCase();
    if (CLIENT_HELP[topic] !== undefined) return { kind: 'local', text: CLIENT_HELP[topic] };
  }
  if (parsed.name === 'window') return { kind: 'window', arg: parsed.args.trim() };
  if (parsed.name === 'topic' && parsed.args.trim() === '') return { kind: 'topic' };
  if (JOIN_NAMES.has(parsed.name)) {
    // "/join dev" means #dev, as --join dev does (a shell would take an unquoted #dev for a comment).
    const room = parsed.args.trim();
    if (room.length > 0 && !room.startsWith('#') && !/\s/.test(room)) return { kind: 'send', line: `/${parsed.name} #${room}` };
  }
  if (QUIT_NAMES.has(parsed.name)) return { kind: 'quit', line: typed };
  return { kind: 'send', line: typed };
}
