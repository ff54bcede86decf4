import { COMMAND_CATALOGUE, matchArgs, type ArgSpec, type Args, type CommandInfo } from '../protocol/command-catalogue';
import type { ErrorCode } from '../protocol/errors';
import { LIMITS } from '../protocol/limits';
import { parseInput } from '../protocol/parse-input';

/*
 * JSON mode accepts commands as JSON objects, one per line, e.g. {"cmd":"msg","nick":"bob","text":"hi"}.
 * Each object is turned into the mychat line a person would type ("/msg bob hi"), which the daemon then
 * handles exactly like a typed line: so every command of the catalogue exists in JSON mode, with the same
 * checks, replies and errors, and nothing here has to change when a command is added.
 *
 * The JSON field of an argument comes from its name in the catalogue: NICK -> nick, #ROOM -> room,
 * TEXT -> text; a choice such as on|off takes the command's own name ({"cmd":"replay","replay":"on"});
 * a lower-case literal word such as /history's "before" introduces the argument after it and carries its
 * value ({"cmd":"history","before":1042} is "/history before 1042").
 */

/** The JSON-only command that says its text in the current room, like a typed line that is not a command. */
export const SAY_COMMAND = 'say';

/** The outcome of reading one input line in JSON mode: the mychat lines to handle in order, or why it is refused. */
export type JsonInput = { ok: true; lines: string[] } | { ok: false; code: ErrorCode; text: string };

/** How one JSON field maps onto one or two of a command's arguments. */
export interface JsonField {
  /** The JSON property name. */
  field: string;
  /** The argument whose value the field carries. */
  arg: ArgSpec;
  /** A literal word written before the value (/history's "before"). */
  keyword?: string;
  /** The allowed values, for a choice argument such as on|off. */
  choices?: readonly string[];
}

const KEYWORD = /^[a-z]+$/;

/** The JSON fields of a command, derived from its catalogue arguments (see the comment at the top). */
export function jsonFieldsOf(info: CommandInfo): JsonField[] {
  const fields: JsonField[] = [];
  for (let i = 0; i < info.args.length; i++) {
    const arg = info.args[i]!;
    const next = info.args[i + 1];
    if (KEYWORD.test(arg.name) && arg.kind === 'word' && next !== undefined) {
      fields.push({ field: arg.name, arg: next, keyword: arg.name });
      i++;
    } else if (arg.name.includes('|')) {
      fields.push({ field: info.name, arg, choices: arg.name.split('|') });
    } else {
      fields.push({ field: arg.name.replace(/^#/, '').toLowerCase(), arg });
    }
  }
  return fields;
}

/** Commands whose JSON form carries a multi-line body in `text`, written as the lines that follow the command (a /paste block). */
const BODY_COMMANDS: ReadonlySet<string> = new Set(['paste']);

/** The field holding a body command's lines, separated by LF. */
const BODY_FIELD = 'text';

const CATALOGUE: readonly CommandInfo[] = COMMAND_CATALOGUE;
const BY_NAME = new Map<string, CommandInfo>();
for (const info of CATALOGUE) for (const name of [info.name, ...(info.aliases ?? [])]) BY_NAME.set(name, info);

/** Finds a catalogue command by name or alias, ignoring case as typed lines do. */
function lookup(name: string): CommandInfo | undefined {
  return BY_NAME.get(name.toLowerCase());
}

/** The fields `cmd` accepts, for error texts: e.g. `"nick" (word), "text" (text)`. */
function describeFields(cmd: string, fields: readonly JsonField[], body: boolean): string {
  const parts = fields.map((f) => `"${f.field}"${f.arg.optional ? ' (optional)' : ''}`);
  if (body) parts.push(`"${BODY_FIELD}"`);
  return parts.length === 0 ? `"${cmd}" takes no fields besides "cmd".` : `"${cmd}" takes ${parts.join(', ')}.`;
}

const fail = (code: ErrorCode, text: string): JsonInput => ({ ok: false, code, text });

/** CR, LF and NUL cannot be part of a line; a JSON string could smuggle them in, so they are refused. */
const LINE_BREAK = /[\r\n\0]/;
const CR_OR_NUL = /[\r\0]/;

/** The value of one field as the word or text of a line, or the reason it cannot be one. */
function argValue(spec: JsonField, value: unknown): { ok: true; text: string } | { ok: false; why: string } {
  const name = `"${spec.field}"`;
  if (spec.arg.kind === 'number') {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 999_999_999) {
      return { ok: false, why: `${name} must be a whole number from 0 to 999999999.` };
    }
    return { ok: true, text: String(value) };
  }
  if (typeof value !== 'string') return { ok: false, why: `${name} must be a string.` };
  if (LINE_BREAK.test(value)) return { ok: false, why: `${name} must not contain CR, LF or NUL.` };
  if (spec.arg.kind === 'text') return { ok: true, text: value.trim() };
  if (value.length === 0) return { ok: true, text: '' };
  if (/\s/.test(value)) return { ok: false, why: `${name} must be a single word, without spaces.` };
  if (spec.arg.kind === 'room' && !value.startsWith('#')) return { ok: false, why: `${name} must be a room name starting with #.` };
  if (spec.choices !== undefined && !spec.choices.includes(value)) return { ok: false, why: `${name} must be one of ${spec.choices.map((c) => `"${c}"`).join(', ')}.` };
  return { ok: true, text: value };
}

/** The lines of a /paste body: split at LF, each line starting with "." given one more, then the end line ".". */
function bodyLines(value: unknown): { ok: true; lines: string[] } | { ok: false; code: ErrorCode; text: string } {
  if (typeof value !== 'string') return { ok: false, code: 'BAD_ARGS', text: `"${BODY_FIELD}" must be a string.` };
  if (CR_OR_NUL.test(value)) return { ok: false, code: 'BAD_ARGS', text: `"${BODY_FIELD}" must not contain CR or NUL; separate its lines with LF.` };
  const lines = value.split('\n');
  if (lines.length > LIMITS.maxPasteLines) {
    return { ok: false, code: 'PASTE_TOO_LONG', text: `"${BODY_FIELD}" holds ${lines.length} lines; a paste has at most ${LIMITS.maxPasteLines}.` };
  }
  return { ok: true, lines: [...lines.map((line) => (line.startsWith('.') ? '.' + line : line)), '.'] };
}

/** Reads a JSON command object (already parsed) into mychat lines. */
function commandLines(object: Record<string, unknown>): JsonInput {
  const cmd = object.cmd;
  if (typeof cmd !== 'string') return fail('BAD_JSON', 'A JSON command needs a "cmd" field holding the command name as a string.');
  if (cmd.toLowerCase() === SAY_COMMAND) return sayLines(object);
  const info = lookup(cmd);
  if (info === undefined) return fail('UNKNOWN_COMMAND', `Unknown command "${cmd}"; {"cmd":"help"} lists them.`);
  const fields = jsonFieldsOf(info);
  const body = BODY_COMMANDS.has(info.name);
  const known = new Set(['cmd', ...fields.map((f) => f.field), ...(body ? [BODY_FIELD] : [])]);
  const extra = Object.keys(object).filter((key) => !known.has(key));
  if (extra.length > 0) return fail('BAD_ARGS', `Unknown field "${extra[0]}": ${describeFields(info.name, fields, body)}`);

  const words = ['/' + info.name];
  const expected: Args = {};
  for (const spec of fields) {
    const raw = object[spec.field];
    const value = raw === undefined ? undefined : argValue(spec, raw);
    if (value !== undefined && !value.ok) return fail('BAD_ARGS', value.why);
    const text = value?.text;
    if (text === undefined || text.length === 0) {
      if (spec.arg.optional) continue;
      if (raw !== undefined) return fail('BAD_ARGS', `"${spec.field}" must not be empty.`);
      return fail('BAD_ARGS', `Missing field "${spec.field}": ${describeFields(info.name, fields, body)}`);
    }
    if (spec.keyword !== undefined) {
      words.push(spec.keyword);
      expected[spec.keyword] = spec.keyword;
    }
    words.push(text);
    expected[spec.arg.name] = text;
  }
  const line = words.join(' ');
  if (Buffer.byteLength(line, 'utf8') > LIMITS.maxLineBytes) return fail('LINE_TOO_LONG', `The command is longer than ${LIMITS.maxLineBytes} bytes as a line.`);

  // Arguments are positional in a line: an optional argument left out can make the next value read as it
  // (a /part reason starting with "#" would become the room). Reading the line back catches every such case.
  const parsed = parseInput(line);
  const actual = parsed?.kind === 'command' ? matchArgs(info, parsed.args) : undefined;
  const same = actual !== undefined && info.args.every((arg) => actual[arg.name] === expected[arg.name]);
  if (!same) return fail('BAD_ARGS', `As a line (${line}) a value would be read as an optional field that was left out; give that field too.`);

  if (!body) return { ok: true, lines: [line] };
  if (object[BODY_FIELD] === undefined) return fail('BAD_ARGS', `Missing field "${BODY_FIELD}": ${describeFields(info.name, fields, body)}`);
  const block = bodyLines(object[BODY_FIELD]);
  return block.ok ? { ok: true, lines: [line, ...block.lines] } : block;
}

/** {"cmd":"say","text":...}: the text as a plain line to the current room, "//"-escaped when it starts with "/". */
function sayLines(object: Record<string, unknown>): JsonInput {
  const extra = Object.keys(object).filter((key) => key !== 'cmd' && key !== 'text');
  if (extra.length > 0) return fail('BAD_ARGS', `Unknown field "${extra[0]}": "say" takes "text".`);
  const text = object.text;
  if (text === undefined) return fail('BAD_ARGS', 'Missing field "text": "say" takes "text".');
  if (typeof text !== 'string') return fail('BAD_ARGS', '"text" must be a string.');
  if (LINE_BREAK.test(text)) return fail('BAD_ARGS', '"text" must not contain CR, LF or NUL; use {"cmd":"paste"} for several lines.');
  if (text.trim().length === 0) return fail('BAD_ARGS', '"text" must not be empty.');
  return { ok: true, lines: [text.startsWith('/') ? '/' + text : text] };
}

/**
 * Reads one input line of a JSON-mode connection. A line starting with "{" is a JSON command object and
 * becomes the equivalent mychat lines (or a typed refusal the daemon sends as a `failure` event); any
 * other line is a mychat line and is returned unchanged.
 */
export function jsonInputLines(line: string): JsonInput {
  if (!line.startsWith('{')) return { ok: true, lines: [line] };
  // The line decoder already caps lines; the cap is checked again so the parse cost never depends on the caller.
  if (Buffer.byteLength(line, 'utf8') > LIMITS.maxLineBytes) return fail('LINE_TOO_LONG', `Line too long: the limit is ${LIMITS.maxLineBytes} bytes.`);
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return fail('BAD_JSON', 'A line starting with "{" must be one JSON object, e.g. {"cmd":"join","room":"#dev"}.');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return fail('BAD_JSON', 'A line starting with "{" must be one JSON object, e.g. {"cmd":"join","room":"#dev"}.');
  }
  return commandLines(value as Record<string, unknown>);
}
