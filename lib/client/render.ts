import { parseServerLine, type ServerLine } from '../protocol/server-lines';
import { foldName, neutralise } from '../protocol/text-hygiene';
import { nickColour, paint, STYLES } from './style';

/*
 * Turns server lines into what a person reads in the interactive client. Pure: the caller supplies the
 * arrival time, its own nickname and whether to colour, so every line kind can be tested as plain strings.
 * The pipe mode does not use this: scripts get the protocol lines themselves.
 */

/** What rendering depends on besides the line itself. */
export interface RenderContext {
  /** Whether to add ANSI styles. */
  colour: boolean;
  /** The user's own nickname ('' before registering), for highlighting mentions. */
  ownNick: string;
  /** When the line arrived; shown as the local time of live lines. */
  now: Date;
}

function pad2(n: number): string {
  return n < 10 ? '0' + n : String(n);
}

/** Local wall-clock time as HH:MM. */
export function clockTime(date: Date): string {
  return `${pad2(date.getHours())}:${pad2(date.getMinutes())}`;
}

/** Local date as YYYY-MM-DD. */
function localDate(date: Date): string {
  return `${date.getFullYear()}-${pad2(date.getMonth() + 1)}-${pad2(date.getDate())}`;
}

/** Local HH:MM for a time on the same local day as `now`, otherwise YYYY-MM-DD HH:MM. */
export function pastTime(date: Date, now: Date): string {
  return localDate(date) === localDate(now) ? clockTime(date) : `${localDate(date)} ${clockTime(date)}`;
}

/** Parses the protocol's UTC time (ISO 8601); undefined when it is not one. */
function parseUtc(text: string): Date | undefined {
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?Z$/.test(text)) return undefined;
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** A protocol UTC time inside a reply's text ("Topic set by al at 2026-12-02T13:03:26.100Z."). */
const UTC_IN_TEXT = /\b\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d+)?)?Z\b/g;

/** Replaces every protocol UTC time in a server reply's text with the local time, as shown everywhere else. */
export function localTimes(text: string, now: Date): string {
  return text.replace(UTC_IN_TEXT, (iso) => {
    const at = parseUtc(iso);
    return at === undefined ? iso : pastTime(at, now);
  });
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&');
}

/** The pattern of `nick` as a whole word in any letter case; nicknames are letters, digits, _ and -. */
function nickPattern(nick: string): RegExp {
  return new RegExp(`(?<![\\p{L}\\p{N}_-])${escapeRegExp(nick.normalize('NFC'))}(?![\\p{L}\\p{N}_-])`, 'giu');
}

/** True when `text` mentions `nick` as a whole word, ignoring case (as the server compares nicknames). */
export function mentions(text: string, nick: string): boolean {
  if (nick.length === 0) return false;
  return nickPattern(nick).test(text.normalize('NFC'));
}

/** "1h 2m", "3m 20s", "5s": a duration given in whole seconds, as people say it. */
export function humanDuration(totalSeconds: number): string {
  const s = Math.max(0, Math.floor(totalSeconds));
  const days = Math.floor(s / 86_400);
  const hours = Math.floor((s % 86_400) / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  const seconds = s % 60;
  if (days > 0) return `${days}d ${hours}h`;
  if (hours > 0) return `${hours}h ${minutes}m`;
  if (minutes > 0) return `${minutes}m ${seconds}s`;
  return `${seconds}s`;
}

/** A line renderer bound to one context; small helpers keep each keyword's format on one line below. */
class Painter {
  constructor(private readonly ctx: RenderContext) {}

  nick(nick: string): string {
    return paint(this.ctx.colour, nick, nickColour(nick));
  }

  room(room: string): string {
    return paint(this.ctx.colour, room, STYLES.cyan);
  }

  nickList(text: string): string {
    return text
      .split(' ')
      .filter((n) => n.length > 0)
      .map((n) => this.nick(n))
      .join(' ');
  }

  /** Text with every mention of the user's nickname in reverse video. */
  highlighted(text: string): string {
    if (!this.ctx.colour || this.ctx.ownNick.length === 0) return text;
    return text.normalize('NFC').replace(nickPattern(this.ctx.ownNick), (hit) => paint(true, hit, STYLES.reverse));
  }

  style(text: string, ...styles: (typeof STYLES)[keyof typeof STYLES][]): string {
    return paint(this.ctx.colour, text, ...styles);
  }

  /** A live line: local arrival time, then the body. */
  live(body: string): string {
    return `${this.style(clockTime(this.ctx.now), STYLES.dim)} ${body}`;
  }
}

/** The marker in front of lines that mention the user; visible without colour too. */
export const MENTION_MARK = '»';

/** The label of private messages; visible without colour too. */
export const PRIVATE_LABEL = '[private]';

function renderChat(p: Painter, ctx: RenderContext, room: string, nick: string, text: string, action: boolean): string {
  const mentioned = mentions(text, ctx.ownNick);
  const who = action ? `* ${p.nick(nick)}` : `<${p.nick(nick)}>`;
  const said = mentioned ? p.style(p.highlighted(text), STYLES.bold) : text;
  const mark = mentioned ? p.style(MENTION_MARK, STYLES.yellow, STYLES.bold) + ' ' : '';
  return p.live(`${mark}${p.room(room)} ${who}${said.length > 0 ? ' ' + said : ''}`);
}

/** Where a line of a pasted block sits: line `index` of `count`, from the protocol's "i/n". */
interface PastePosition {
  index: number;
  count: number;
}

/** Parses "i/n" (1 <= i <= n); undefined when it is not one. */
function pastePosition(text: string): PastePosition | undefined {
  const match = /^(\d{1,9})\/(\d{1,9})$/.exec(text);
  if (match === null) return undefined;
  const index = Number(match[1]);
  const count = Number(match[2]);
  return index >= 1 && index <= count ? { index, count } : undefined;
}

/** What goes in front of the lines of a pasted block: as wide as the time of a live line, so they line up. */
export const PASTE_GUTTER = '│';

/**
 * One line of a pasted block as part of one message: a block of several lines opens with a line naming
 * the sender (`head`, e.g. "#dev <bob>"), and every line of it follows indented behind a bar, so its
 * own indentation (code, say) is kept. A block of one line reads like a message.
 */
function renderPasteLine(p: Painter, ctx: RenderContext, at: PastePosition, head: string, text: string, lead: (body: string) => string): string {
  const mentioned = mentions(text, ctx.ownNick);
  const said = mentioned ? p.style(p.highlighted(text), STYLES.bold) : text;
  const mark = mentioned ? p.style(MENTION_MARK, STYLES.yellow, STYLES.bold) : ' ';
  if (at.count === 1) return lead(`${mentioned ? mark + ' ' : ''}${head}${said.length > 0 ? ' ' + said : ''}`);
  const line = `    ${mark} ${p.style(PASTE_GUTTER, STYLES.dim)}${said.length > 0 ? ' ' + said : ''}`;
  return at.index === 1 ? `${lead(`${head} pasted ${at.count} lines:`)}\n${line}` : line;
}

function renderHistory(p: Painter, ctx: RenderContext, line: ServerLine, raw: string): string {
  const [room = '', , time = '', nick = '', kind = ''] = line.fields;
  const at = parseUtc(time);
  if (at === undefined) return p.style(raw, STYLES.dim);
  let body: string;
  if (kind === 'MSG') body = `${room} <${p.nick(nick)}> ${line.text}`;
  else if (kind === 'ACTION') body = `${room} * ${p.nick(nick)} ${line.text}`;
  else if (kind === 'TOPIC') body = line.text ? `${room} ${p.nick(nick)} changed the topic to: ${line.text}` : `${room} ${p.nick(nick)} cleared the topic`;
  else if (kind === 'PASTE' && pastePosition(line.text.split(' ', 1)[0]!) !== undefined) {
    // History is shown without mention highlighting, like other replayed lines.
    const space = line.text.indexOf(' ');
    const position = pastePosition(space < 0 ? line.text : line.text.slice(0, space))!;
    const text = space < 0 ? '' : line.text.slice(space + 1);
    const shown = renderPasteLine(p, { ...ctx, ownNick: '' }, position, `${room} <${p.nick(nick)}>`, text, (b) => `[${pastTime(at, ctx.now)}] ${b}`);
    return shown
      .split('\n')
      .map((row) => p.style(row, STYLES.dim))
      .join('\n');
  } else body = `${room} ${p.nick(nick)} ${kind} ${line.text}`.trimEnd();
  return p.style(`[${pastTime(at, ctx.now)}] ${body}`, STYLES.dim);
}

function renderWhois(p: Painter, ctx: RenderContext, nick: string, key: string, value: string): string {
  if (key === 'rooms') return p.live(`-- ${p.nick(nick)} is in ${value ? value.split(' ').map((r) => p.room(r)).join(' ') : 'no room'}`);
  if (key === 'connected') {
    const at = parseUtc(value);
    return p.live(`-- ${p.nick(nick)} connected ${at ? 'at ' + pastTime(at, ctx.now) : value}`);
  }
  if (key === 'idle' && /^\d+$/.test(value)) return p.live(`-- ${p.nick(nick)} has been idle ${humanDuration(Number(value))}`);
  return p.live(`-- ${p.nick(nick)} ${key}: ${value}`);
}

function renderParsed(p: Painter, ctx: RenderContext, line: ServerLine, raw: string): string {
  const { fields, text } = line;
  const [a = '', b = ''] = fields;
  const reason = text ? ` (${text})` : '';
  switch (line.keyword) {
    case 'MSG':
      return renderChat(p, ctx, a, b, text, false);
    case 'ACTION':
      return renderChat(p, ctx, a, b, text, true);
    case 'PASTE': {
      const position = pastePosition(fields[3] ?? '');
      if (position === undefined) return p.live(raw);
      return renderPasteLine(p, ctx, position, `${p.room(a)} <${p.nick(b)}>`, text, (body) => p.live(body));
    }
    case 'PRIVMSG':
      return p.live(`${p.style(PRIVATE_LABEL, STYLES.magenta, STYLES.bold)} <${p.nick(a)}> ${p.style(p.highlighted(text), STYLES.bold)}`);
    case 'JOIN':
      return p.live(`${p.style('-->', STYLES.green)} ${p.nick(b)} joined ${p.room(a)}`);
    case 'PART':
      return p.live(`${p.style('<--', STYLES.yellow)} ${p.nick(b)} left ${p.room(a)}${reason}`);
    case 'QUIT':
      return p.live(`${p.style('<--', STYLES.yellow)} ${p.nick(a)} quit${reason}`);
    case 'NICK':
      return p.live(`--- ${p.nick(a)} is now known as ${p.nick(b)}`);
    case 'TOPIC':
      return p.live(text ? `--- ${p.nick(b)} changed the topic of ${p.room(a)} to: ${text}` : `--- ${p.nick(b)} cleared the topic of ${p.room(a)}`);
    case 'NOTICE':
      return p.live(p.style(`-!- ${localTimes(text, ctx.now)}`, STYLES.yellow));
    case 'HELLO':
      return p.live(`-- Connected to ${a}: ${text}`);
    case 'OK':
      return p.live(p.style(`-- ${localTimes(text, ctx.now) || `OK ${a} ${b}`.trimEnd()}`, STYLES.green));
    case 'ERR':
      return p.live(p.style(`!! ${localTimes(text, ctx.now) || 'Error'} [${a}]`, STYLES.red, STYLES.bold));
    case 'PONG':
      return p.live(`-- pong${text ? ' ' + text : ''}`);
    case 'ROOM': {
      const count = /^\d+$/.test(b) ? Number(b) : undefined;
      const members = count === undefined ? b : count === 1 ? '1 member' : `${count} members`;
      return p.live(`-- ${p.room(a)}: ${members}, ${text ? `topic: ${text}` : 'no topic'}`);
    }
    case 'NAMES':
      return p.live(`-- ${a === '*' ? 'online' : p.room(a)}: ${p.nickList(text)}`);
    case 'WHOIS':
      return renderWhois(p, ctx, a, b, text);
    case 'HELP':
      return p.live(`-- ${text}`);
    case 'HISTORY':
      return renderHistory(p, ctx, line, raw);
    case 'HISTEND':
      return p.style(`-- ${a} history: ${text || `${b} messages`}`, STYLES.dim);
    case 'BYE':
      return p.live(p.style(`<-- Disconnected${reason}`, STYLES.yellow));
    default:
      return p.live(raw);
  }
}

/**
 * Renders one server line (without its CRLF) for a person: local time, readable wording, nickname
 * colours, highlighted mentions and private messages, dim history, red errors. A line outside the
 * protocol is shown as it came. Control characters are neutralised first, whatever the server sent.
 */
export function renderServerLine(raw: string, ctx: RenderContext): string {
  const safe = neutralise(raw);
  const p = new Painter(ctx);
  const line = parseServerLine(safe);
  if (line === undefined) return p.live(safe);
  return renderParsed(p, ctx, line, safe);
}

/** Renders a message from the client itself (connection trouble, local help), set apart by "***". */
export function renderClientNotice(text: string, ctx: RenderContext): string {
  return `${paint(ctx.colour, clockTime(ctx.now), STYLES.dim)} ${paint(ctx.colour, `*** ${text}`, STYLES.cyan)}`;
}

/** True when the two names are the same nickname or room to the server (which ignores case). */
export function sameName(a: string, b: string): boolean {
  return foldName(a) === foldName(b);
}

/** How a server line counts for unread counts and the bell. */
export interface LineWeight {
  /** Someone's message (MSG, ACTION, the first line of a PASTE block, PRIVMSG), live, not replayed. */
  message: boolean;
  /** A message that mentions `ownNick`, or a private message. */
  mention: boolean;
}

/** Classifies a server line for the windows' unread counts and the bell. */
export function lineWeight(line: ServerLine, ownNick: string): LineWeight {
  const none = { message: false, mention: false };
  switch (line.keyword) {
    case 'MSG':
    case 'ACTION':
      return { message: true, mention: mentions(line.text, ownNick) };
    case 'PASTE': {
      const at = pastePosition(line.fields[3] ?? '');
      // A block is one message; a mention anywhere in it counts, but only once, on its first line.
      if (at === undefined) return none;
      return { message: at.index === 1, mention: mentions(line.text, ownNick) };
    }
    case 'PRIVMSG':
      return { message: true, mention: true };
    default:
      return none;
  }
}
