/** What one input line asks for: a message to the current room, or a slash command. */
export type ParsedInput =
  | { kind: 'text'; text: string }
  | { kind: 'command'; name: string; args: string };

/**
 * Parses one decoded input line. A leading "/" starts a command (its name is matched case-insensitively,
 * so it is returned lower-cased); "//" escapes a message that itself begins with "/". Returns undefined for
 * a line that is blank once trailing whitespace is removed.
 */
export function parseInput(line: string): ParsedInput | undefined {
  const trimmed = line.trimEnd();
  if (trimmed.trim().length === 0) return undefined;
  if (!trimmed.startsWith('/')) return { kind: 'text', text: trimmed };
  if (trimmed.startsWith('//')) return { kind: 'text', text: trimmed.slice(1) };
  const space = trimmed.search(/\s/);
  const name = (space < 0 ? trimmed.slice(1) : trimmed.slice(1, space)).toLowerCase();
  const args = space < 0 ? '' : trimmed.slice(space).trim();
  return { kind: 'command', name, args };
}

/** Splits off the first whitespace-separated word of `text`; `rest` is trimmed. */
export function splitWord(text: string): { word: string; rest: string } {
  const trimmed = text.trimStart();
  const space = trimmed.search(/\s/);
  if (space < 0) return { word: trimmed, rest: '' };
  return { word: trimmed.slice(0, space), rest: trimmed.slice(space).trim() };
}
