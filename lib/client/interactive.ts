import readline from 'node:readline';
import { PassThrough } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { formatLine, parseServerLine, type ServerLine } from '../protocol/server-lines';
import { parseInput, splitWord } from '../protocol/parse-input';
import { foldName, neutralise } from '../protocol/text-hygiene';
import { ClientState } from './client-state';
import { ALL_COMMANDS, completeLine } from './completion';
import { CONNECT_TIMEOUT_MS, ConnectError, ServerLink } from './connection';
import { EXIT } from './exit-codes';
import { displayAddress, type ClientOptions } from './options';
import { BRACKETED_PASTE_OFF, BRACKETED_PASTE_ON, BracketedPasteReader, pasteBlock, pasteLines, pasteProblem, type TerminalInput } from './paste';
import { HELLO_TIMEOUT_MS, KEEPALIVE_IDLE_MS, KEEPALIVE_TIMEOUT_MS, QUIT_WAIT_MS } from './pipe-mode';
import { backoffDelay, formatDelay, NICK_VARIANTS } from './reconnect';
import { internalToken, isInternalPong, Registration, type RegistrationEvent, type RegistrationPlan } from './registration';
import { splitKeys, type KeyEvent } from './keys';
import { lineWeight, renderClientNotice, renderServerLine, type LineWeight, type RenderContext } from './render';
import { colourWanted, nickColour, paint, stripStyles, STYLES } from './style';
import { displayPos, hangingIndent, loadTerminalWidth, visibleWidth, wrapRow, type WidthOf } from './text-width';
import { CLIENT_HELP_SUMMARY, interpretInput } from './user-input';
import { WindowList, type ChatWindow, type WindowView } from './windows';

/*
 * The interactive client: readline for editing, history and completion; server lines rendered above the
 * input line without disturbing what the user is typing; automatic reconnection. All decisions are made
 * by the pure modules (render, completion, client-state, registration, user-input, reconnect); this file
 * only wires them to the terminal and the socket.
 */

/** The terminal the client runs on (the process's own in real use). */
export interface TerminalIO {
  input: NodeJS.ReadStream;
  output: NodeJS.WriteStream;
  env: NodeJS.ProcessEnv;
}

/** Erases the screen and its scrollback and homes the cursor, for /clear and for showing another window. */
const CLEAR_SCREEN = '\x1b[H\x1b[2J\x1b[3J';

/** Lines of input history readline keeps (Up/Down). */
const INPUT_HISTORY = 1000;

/** How long input that may begin a paste marker (a lone ESC) is held back before readline gets it. */
const MARKER_WAIT_MS = 50;

/** Most typed lines held back while a paste is being started; more are not sent. */
const MAX_HELD_LINES = 100;

/** Most lines held for a room being joined until its OK JOIN says which window they belong to. */
const MAX_JOIN_BUFFER = 300;

/** The terminal bell. */
const BELL = '\x07';

/** A line not yet placed: the replies to a /join of a room that has no window yet (ROOM, NAMES, replayed history). */
interface HeldLine {
  rendered: string;
  weight: LineWeight;
}

/** Replies that say the connection or a join went through: not shown while the client restores its place. */
const RESTORE_CHATTER: ReadonlySet<string> = new Set(['HELLO', 'ROOM', 'NAMES']);

/** A multi-line paste waiting for the server's answer to its /paste. */
interface PendingPaste {
  /** The token of the /ping sent just before /paste: the first OK or ERR after its PONG answers /paste. */
  token: string;
  ponged: boolean;
  lines: string[];
}

class InteractiveClient {
  private readonly state = new ClientState();
  private readonly windows = new WindowList();
  private readonly colour: boolean;
  private readonly where: string;
  private rl: readline.Interface | undefined;
  private link: ServerLink | undefined;
  private registration: Registration | undefined;
  /** Where the user was when the connection dropped, while reconnecting; undefined otherwise. */
  private saved: { nick: string; rooms: string[] } | undefined;
  /** Why and when the connection was lost, while reconnecting: told in one line once back. */
  private lost: { why: string; at: number } | undefined;
  /** What the status line says about reconnecting ("reconnecting in 2 s"), while reconnecting. */
  private retryText = '';
  /** Rendered lines of the current window not drawn yet; drawn together in the next flush. */
  private pending: string[] = [];
  private ringBell = false;
  private flushScheduled = false;
  private quitting = false;
  private finished = false;
  private serverFull = false;
  private greeted = false;
  private helloTimer: NodeJS.Timeout | undefined;
  /** Reconnection attempts since the last time the client was fully back; sets the backoff delay. */
  private failures = 0;
  private byeText: string | undefined;
  /** The nickname being asked for on the first connection; '' once refused (the user types one). */
  private wantedNick: string;
  private quitTimer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private resolveExit: (code: number) => void = () => undefined;
  private readonly signalHandlers: Array<[NodeJS.Signals, () => void]>;
  /** The paste whose /paste is not answered yet; lines typed meanwhile wait in `held`. */
  private paste: PendingPaste | undefined;
  private held: string[] = [];
  /** Undoes the terminal set-up: stops reading the terminal, turns bracketed paste off. */
  private releaseTerminal: (() => void) | undefined;
  /** Replies to a /join of a room with no window yet, until its OK JOIN (or another reply) places them. */
  private joinBuffer: { room: string; lines: HeldLine[] } | undefined;
  /** Rooms (folded) re-joined only to make them the server's current room: their join replies are not shown. */
  private readonly silentJoins = new Map<string, number>();
  /** Own /msg lines not answered yet, oldest first, with whether each opened its window (bounded like held lines). */
  private readonly sentPrivate: Array<{ window: ChatWindow; opened: boolean }> = [];
  /** The last key was Ctrl-C: another one on an empty line quits. */
  private interrupted = false;

  constructor(
    private readonly options: ClientOptions,
    private readonly io: TerminalIO,
    private readonly widthOf: WidthOf,
  ) {
    this.colour = colourWanted(io.env, io.output.isTTY === true);
    this.wantedNick = options.nick;
    this.where = displayAddress(options.host, options.port);
    this.signalHandlers = (['SIGTERM', 'SIGHUP', 'SIGINT'] as const).map((signal) => [signal, () => this.quit('/quit')]);
  }

  /** Connects, then runs until the user quits; resolves with the exit status. */
  async run(): Promise<number> {
    try {
      await this.connect({ nick: this.options.nick, rooms: this.options.rooms, partLobby: false, nickVariants: 0, readyToken: internalToken('ready') });
    } catch (error) {
      if (!(error instanceof ConnectError)) throw error;
      process.stderr.write(`mychat: cannot reach ${this.where}: ${error.message}\n`);
      return EXIT.unreachable;
    }
    const exit = new Promise<number>((resolve) => (this.resolveExit = resolve));
    // A terminal that goes away (window closed) makes reads and writes fail: leave quietly.
    this.io.output.on('error', () => this.finish(EXIT.ok));
    this.io.input.on('error', () => this.quit('/quit'));
    this.startTerminal();
    for (const [signal, handler] of this.signalHandlers) process.on(signal, handler);
    return exit;
  }

  // ---- terminal ----

  /**
   * The stream readline reads keys from: the terminal's input without its pastes, which the bracketed
   * paste reader takes out (readline would treat each pasted line as typed, and pasted tabs and control
   * characters as keys), and without the client's own keys (window switching, Ctrl-C). Raw mode requests
   * go through to the real terminal.
   */
  private typedKeys(): PassThrough {
    const input = this.io.input;
    const keys = new PassThrough();
    const reader = new BracketedPasteReader();
    const decoder = new StringDecoder('utf8');
    let wait: NodeJS.Timeout | undefined;
    const deliver = (items: TerminalInput[]): void => {
      for (const item of items) {
        if (item.kind === 'keys') {
          for (const event of splitKeys(item.text)) {
            if (event.kind === 'text') {
              this.interrupted = false;
              keys.write(event.text);
            } else {
              this.onKey(event);
            }
          }
        } else {
          this.interrupted = false;
          this.onPaste(item.text, item.overflow);
        }
      }
    };
    const onData = (chunk: Buffer | string): void => {
      clearTimeout(wait);
      deliver(reader.push(typeof chunk === 'string' ? chunk : decoder.write(chunk)));
      if (reader.holding) wait = setTimeout(() => deliver(reader.flush()), MARKER_WAIT_MS);
    };
    const onEnd = (): void => {
      keys.end();
    };
    Object.assign(keys, {
      isTTY: true,
      isRaw: false,
      setRawMode: (mode: boolean) => {
        input.setRawMode?.(mode);
        Object.assign(keys, { isRaw: mode });
        return keys;
      },
    });
    input.on('data', onData);
    input.on('end', onEnd);
    this.io.output.write(BRACKETED_PASTE_ON);
    this.releaseTerminal = () => {
      clearTimeout(wait);
      input.off('data', onData);
      input.off('end', onEnd);
      input.pause();
      this.io.output.write(BRACKETED_PASTE_OFF);
    };
    return keys;
  }

  private startTerminal(): void {
    const rl = readline.createInterface({
      input: this.typedKeys(),
      output: this.io.output,
      terminal: true,
      historySize: INPUT_HISTORY,
      removeHistoryDuplicates: true,
      completer: (line: string) =>
        completeLine(line, { commands: ALL_COMMANDS, nicks: this.state.nicknames(), rooms: this.state.roomNames() }),
    });
    this.rl = rl;
    measureWithGraphemes(rl, this.widthOf);
    rl.setPrompt(this.promptText());
    rl.on('line', (typed) => this.onTyped(typed));
    rl.on('close', () => {
      this.rl = undefined;
      this.quit('/quit'); // Ctrl-D on an empty line
    });
    this.flush();
    rl.prompt();
  }

  /** The terminal's width in columns (80 when it does not say). */
  private get columns(): number {
    return this.io.output.columns > 0 ? this.io.output.columns : 80;
  }

  private promptText(): string {
    const c = this.colour;
    const connecting = !this.state.registered && this.wantedNick.length > 0;
    const status = this.link === undefined ? '(offline) ' : this.saved !== undefined ? '(reconnecting) ' : connecting ? '(connecting) ' : '';
    // While reconnecting, show where the user will be back, not the half-restored state.
    const nickName = this.saved?.nick ?? (this.state.registered ? this.state.nick : this.wantedNick);
    const statusRow = this.statusRow();
    const above = statusRow.length > 0 ? statusRow + '\n' : '';
    if (nickName.length === 0) return `${above}${paint(c, status, STYLES.yellow)}nickname> `;
    const window = this.windows.current;
    const place = window === this.windows.status ? '(no room)' : window.kind === 'room' ? paint(c, window.name, STYLES.cyan) : paint(c, '@' + window.name, STYLES.magenta);
    const nick = paint(c, nickName, nickColour(nickName), STYLES.bold);
    return `${above}${paint(c, status, STYLES.yellow)}${nick} ${place}> `;
  }

  /**
   * The status line above the input line: every window ("[1:#lobby] [2:#dev 3] [3:#ops !1] [4:bob !2]",
   * counts for those not shown) and, while reconnecting, what is happening. Cut to the terminal's width.
   */
  private statusRow(): string {
    const c = this.colour;
    const parts = this.windows.statusItems().map((item) =>
      item.current ? paint(c, item.text, STYLES.reverse) : item.mentions ? paint(c, item.text, STYLES.yellow, STYLES.bold) : item.unread ? paint(c, item.text, STYLES.bold) : item.text,
    );
    const room = this.columns - 1;
    let row = '';
    let width = 0;
    for (const part of parts) {
      const w = visibleWidth(part, this.widthOf) + (row.length > 0 ? 1 : 0);
      if (width + w > room) {
        row += ' …';
        width += 2;
        break;
      }
      row += (row.length > 0 ? ' ' : '') + part;
      width += w;
    }
    if (this.lost !== undefined) {
      // Whatever room is left says why the connection was lost and when the next try is, cut if need be.
      const text = `(connection lost: ${this.lost.why}; ${this.retryText})`;
      const left = room - width - (row.length > 0 ? 1 : 0);
      const cut = this.cutToWidth(text, left);
      if (cut.length > 0) row += (row.length > 0 ? ' ' : '') + paint(c, cut, STYLES.yellow);
    }
    return row;
  }

  /** `text` (unstyled) cut to `columns`, ending in "…" when cut. */
  private cutToWidth(text: string, columns: number): string {
    if (columns <= 1) return '';
    if (visibleWidth(text, this.widthOf) <= columns) return text;
    let out = '';
    let width = 0;
    for (const { segment } of new Intl.Segmenter(undefined, { granularity: 'grapheme' }).segment(text)) {
      const w = this.widthOf(segment);
      if (width + w > columns - 1) break;
      out += segment;
      width += w;
    }
    return out + '…';
  }

  private context(): RenderContext {
    return { colour: this.colour, ownNick: this.state.nick, now: new Date() };
  }

  /** Draws `rendered` now if it belongs to the current window; in any case the window keeps it. */
  private place(window: ChatWindow | undefined, rendered: string, weight: LineWeight, fromSelf = false): void {
    const placement = this.windows.add(window, rendered, weight, fromSelf);
    if (placement.bell && this.options.bell) this.ringBell = true;
    if (placement.show) this.pending.push(rendered);
    this.scheduleFlush();
  }

  /** A line of the current window (replies, the client's notices). */
  private show(text: string): void {
    this.place(undefined, text, { message: false, mention: false });
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  private notice(text: string): void {
    this.show(renderClientNotice(text, this.context()));
  }

  /** A rendered line (which may hold several rows) wrapped to the terminal: word breaks, hanging indent. */
  private wrapped(rendered: string): string {
    const columns = this.columns;
    return rendered
      .split('\n')
      .flatMap((row) => wrapRow(row, columns, hangingIndent(stripStyles(row), this.widthOf), this.widthOf))
      .join('\n');
  }

  /** Erases the prompt and what is typed (it may wrap over several rows), leaving the cursor where it began. */
  private erasePrompt(rl: readline.Interface): void {
    const out = this.io.output;
    readline.moveCursor(out, 0, -rl.getCursorPos().rows);
    readline.cursorTo(out, 0);
    readline.clearScreenDown(out);
  }

  /**
   * Draws queued lines above the input line: erase the prompt and what is typed, print, then let readline
   * redraw the prompt (status line included) with the half-typed text and cursor where they were.
   */
  private flush(): void {
    this.flushScheduled = false;
    const lines = this.pending;
    this.pending = [];
    const rl = this.rl;
    const out = this.io.output;
    const bell = this.ringBell ? BELL : '';
    this.ringBell = false;
    if (rl === undefined) {
      if (lines.length > 0) out.write(lines.map((line) => this.wrapped(line)).join('\n') + '\n');
      return;
    }
    if (lines.length > 0) {
      this.erasePrompt(rl);
      out.write(lines.map((line) => this.wrapped(line)).join('\n') + '\n' + bell);
      // readline would move up by the rows it drew last time; the input now starts on this fresh row.
      (rl as unknown as { prevRows: number }).prevRows = 0;
    } else if (bell) {
      out.write(bell);
    }
    rl.setPrompt(this.promptText());
    rl.prompt(true);
  }

  // ---- windows ----

  /** Shows `window`: the screen is cleared and redrawn with its lines, those that arrived unseen marked. */
  private showWindow(window: ChatWindow | undefined): void {
    if (window === undefined) return;
    if (window === this.windows.status) {
      this.redraw(this.windows.switchTo(window));
      return;
    }
    const view = this.windows.switchTo(window);
    this.makeServerCurrent(window);
    this.redraw(view);
  }

  private redraw(view: WindowView): void {
    const rl = this.rl;
    const out = this.io.output;
    this.pending = [];
    const lines = [...view.lines];
    if (view.missed > 0 || view.forgotten > 0) {
      const counts = view.unread > 0 ? [`${view.unread} ${view.unread === 1 ? 'message' : 'messages'}`] : [`${view.missed} ${view.missed === 1 ? 'line' : 'lines'}`];
      if (view.mentions > 0) counts.push(`${view.mentions} for you`);
      const forgotten = view.forgotten > 0 ? ` (${view.forgotten} older lines not kept)` : '';
      const marker = paint(this.colour, `--- missed in ${view.window.name}: ${counts.join(', ')}${forgotten} ---`, STYLES.yellow);
      lines.splice(lines.length - view.missed, 0, marker);
    }
    if (rl !== undefined) this.erasePrompt(rl);
    out.write(CLEAR_SCREEN);
    if (lines.length > 0) out.write(lines.map((line) => this.wrapped(line)).join('\n') + '\n');
    if (rl !== undefined) {
      (rl as unknown as { prevRows: number }).prevRows = 0;
      rl.setPrompt(this.promptText());
      rl.prompt(true);
    }
  }

  /**
   * Plain lines go to the server's current room, so showing a room's window makes it current there too:
   * re-joining a room one is in only does that. Its replies are not shown.
   */
  private makeServerCurrent(window: ChatWindow): void {
    if (window.kind !== 'room' || this.link === undefined || !this.state.registered || this.saved !== undefined) return;
    const current = this.state.currentRoom;
    if (current !== undefined && foldName(current) === foldName(window.name)) return;
    const key = foldName(window.name);
    this.silentJoins.set(key, (this.silentJoins.get(key) ?? 0) + 1);
    this.link.send(`/join ${window.name}`);
  }

  private onKey(event: KeyEvent): void {
    if (event.kind === 'interrupt') {
      this.onInterrupt();
      return;
    }
    this.interrupted = false;
    if (event.kind === 'window') {
      const window = this.windows.byNumber(event.number);
      if (window === undefined) this.notice(`There is no window ${event.number}.`);
      else this.showWindow(window);
    } else {
      this.showWindow(this.windows.neighbour(event.kind === 'next' ? 1 : -1));
    }
  }

  /** Ctrl-C: clears a typed line; on an empty line it says how to leave, and a second one leaves. */
  private onInterrupt(): void {
    const rl = this.rl;
    if (rl === undefined) return;
    if (rl.line.length > 0) {
      rl.write(null, { ctrl: true, name: 'e' });
      rl.write(null, { ctrl: true, name: 'u' });
      this.interrupted = true;
      return;
    }
    if (this.interrupted) {
      this.quit('/quit');
      return;
    }
    this.interrupted = true;
    this.notice('Press Ctrl-C again to quit (or type /quit).');
  }

  /** /window: switch by number or name, or list the windows. */
  private onWindowCommand(arg: string): void {
    if (arg.length === 0) {
      const list = this.windows.all().map((w, i) => `${i + 1}:${w.name}`);
      this.notice(list.length > 0 ? `Windows: ${list.join(' ')} (/window N, Alt-1…9, Ctrl-N/Ctrl-P switch).` : 'No windows yet: /join a room.');
      return;
    }
    const window = /^\d+$/.test(arg)
      ? this.windows.byNumber(Number(arg))
      : this.windows.find('room', arg.startsWith('#') ? arg : '#' + arg) ?? this.windows.find('private', arg);
    if (window === undefined) this.notice(`There is no window ${arg}; /window lists them.`);
    else this.showWindow(window);
  }

  // ---- typed lines ----

  private onTyped(typed: string): void {
    const rl = this.rl;
    if (rl !== undefined && this.state.registered) {
      // readline left the finished input line on the screen; take it away: what was said is shown like
      // everyone else's lines, and commands show their replies.
      const rows = displayPos(rl.getPrompt() + typed, this.columns, this.widthOf).rows + 1;
      readline.moveCursor(this.io.output, 0, -rows);
      readline.cursorTo(this.io.output, 0);
      readline.clearScreenDown(this.io.output);
    }
    const action = interpretInput(typed);
    switch (action.kind) {
      case 'none':
        break;
      case 'clear':
        this.windows.clearCurrent();
        this.io.output.write(CLEAR_SCREEN);
        break;
      case 'local':
        this.notice(action.text);
        break;
      case 'window':
        this.onWindowCommand(action.arg);
        break;
      case 'topic': {
        const window = this.windows.current;
        if (window.kind === 'room' && window !== this.windows.status) this.sendLine(`/topic ${window.name}`);
        else this.notice('Usage: /topic #ROOM [TEXT] (this window is not a room).');
        break;
      }
      case 'quit':
        this.quit(action.line);
        return;
      case 'send':
        if (this.link === undefined) this.notice('Not connected, so that line was not sent; reconnecting…');
        else this.sendLine(action.line);
        break;
    }
    this.rl?.setPrompt(this.promptText());
    this.rl?.prompt();
  }

  /**
   * Sends a typed line the way the current window means it: in a private window plain text goes to that
   * person; own messages are shown like everyone else's (the server does not echo them).
   */
  private sendLine(line: string): void {
    if (!this.state.registered) {
      this.sendTyped(line);
      return;
    }
    const window = this.windows.current;
    const parsed = parseInput(line);
    const ctx = { ...this.context(), ownNick: '' };
    const own = { message: true, mention: false };
    if (parsed?.kind === 'text') {
      if (window.kind === 'private') {
        this.sendTyped(`/msg ${window.name} ${parsed.text}`);
        if (this.sentPrivate.length < MAX_HELD_LINES) this.sentPrivate.push({ window, opened: false });
        this.place(window, renderServerLine(formatLine('PRIVMSG', [this.state.nick], parsed.text), ctx), own, true);
        return;
      }
      this.sendTyped(line);
      const room = this.windowRoom();
      if (room !== undefined && this.paste === undefined) this.place(window, renderServerLine(formatLine('MSG', [room, this.state.nick], parsed.text), ctx), own, true);
      return;
    }
    if (parsed?.kind === 'command') {
      const { word, rest } = splitWord(parsed.args);
      if ((parsed.name === 'me' || parsed.name === 'action') && parsed.args.length > 0) {
        if (window.kind === 'private') {
          this.notice('/me works in rooms only; this window is a private conversation.');
          return;
        }
        this.sendTyped(line);
        const room = this.windowRoom();
        if (room !== undefined && this.paste === undefined) this.place(window, renderServerLine(formatLine('ACTION', [room, this.state.nick], parsed.args), ctx), own, true);
        return;
      }
      if ((parsed.name === 'msg' || parsed.name === 'm' || parsed.name === 'tell') && word.length > 0 && rest.length > 0 && !word.startsWith('#')) {
        this.sendTyped(line);
        const opened = this.windows.find('private', word) === undefined;
        const target = this.windows.open('private', word);
        this.place(target, renderServerLine(formatLine('PRIVMSG', [this.state.nick], rest), ctx), own, true);
        if (this.sentPrivate.length < MAX_HELD_LINES) this.sentPrivate.push({ window: target, opened });
        return;
      }
      if ((parsed.name === 'join' || parsed.name === 'j') && word.length > 0) {
        // Joining a room one has a window for only switches to it.
        const window = this.windows.find('room', word);
        if (window !== undefined) {
          this.showWindow(window);
          return;
        }
      }
    }
    this.sendTyped(line);
  }

  /** The room of the current window (where plain lines go: switching windows makes it the server's current room). */
  private windowRoom(): string | undefined {
    const window = this.windows.current;
    return window.kind === 'room' && window !== this.windows.status ? window.name : undefined;
  }

  /** Sends a line the user typed, or holds it while a paste is being started, so it cannot land inside the block. */
  private sendTyped(line: string): void {
    if (this.paste === undefined) {
      this.link?.send(line);
    } else if (this.held.length < MAX_HELD_LINES) {
      this.held.push(line);
    } else {
      this.notice('Still waiting for the server to take the paste, so that line was not sent.');
    }
  }

  // ---- pastes ----

  /**
   * A paste from the terminal. One line goes into the input line, like typing. Several lines go to the
   * current window's room as one /paste block; the client first waits for the server to accept the
   * /paste, so a refused block is never taken for ordinary lines (and commands).
   */
  private onPaste(text: string, overflow: boolean): void {
    const lines = pasteLines(text);
    if (!overflow && lines.length <= 1) {
      this.rl?.write(neutralise(lines[0] ?? ''));
      return;
    }
    const problem = pasteProblem(lines, overflow);
    const link = this.link;
    const window = this.windows.current;
    if (problem !== undefined) this.notice(problem);
    else if (link === undefined || !this.state.registered) this.notice('Not connected, so that paste was not sent.');
    else if (window.kind !== 'room' || window === this.windows.status) this.notice('Pastes go to rooms, so that paste was not sent: switch to a room\'s window (or /join #ROOM) first.');
    else if (this.paste !== undefined) this.notice('The previous paste is still on its way, so that one was not sent; paste it again in a moment.');
    else {
      this.paste = { token: internalToken('paste'), ponged: false, lines };
      // A keep-alive /ping sent after /paste would become a line of the block.
      link.postponeKeepalive();
      link.send(`/ping ${this.paste.token}`);
      link.send(`/paste ${window.name}`);
    }
  }

  /**
   * Follows the answer to a pending paste's /paste: on OK sends the block and shows it as sent, on ERR
   * drops it. Returns true when the line is the client's own business and is not shown.
   */
  private onPasteAnswer(line: ServerLine): boolean {
    const paste = this.paste;
    if (paste === undefined) return false;
    if (!paste.ponged) {
      if (line.keyword === 'PONG' && line.text === paste.token) paste.ponged = true;
      return false;
    }
    if (line.keyword === 'OK' && line.fields[0] === 'PASTE') {
      this.paste = undefined;
      for (const text of pasteBlock(paste.lines).slice(1)) this.link?.send(text);
      const room = line.fields[1] ?? '';
      const ctx = { ...this.context(), ownNick: '' };
      const window = this.windows.find('room', room);
      paste.lines.forEach((text, i) =>
        this.place(window, renderServerLine(formatLine('PASTE', [room, this.state.nick, '0', `${i + 1}/${paste.lines.length}`], text), ctx), { message: i === 0, mention: false }, true),
      );
      this.releaseHeld();
      return true;
    }
    if (line.keyword === 'ERR') {
      this.paste = undefined;
      setImmediate(() => this.notice(`The paste of ${paste.lines.length} lines was not sent.`));
      this.releaseHeld();
    }
    return false;
  }

  private releaseHeld(): void {
    const held = this.held;
    this.held = [];
    for (const line of held) this.link?.send(line);
  }

  // ---- connection ----

  private async connect(plan: RegistrationPlan): Promise<void> {
    let link: ServerLink | undefined = undefined;
    const opened = await ServerLink.open(this.options.host, this.options.port, {
      line: (line) => this.onServerLine(line),
      close: (reason) => this.onClose(link, reason),
    }, CONNECT_TIMEOUT_MS, this.options.tls);
    link = opened;
    this.link = opened;
    this.byeText = undefined;
    this.serverFull = false;
    this.greeted = false;
    this.silentJoins.clear();
    this.sentPrivate.length = 0;
    this.joinBuffer = undefined;
    this.registration = new Registration(plan);
    opened.startKeepalive(KEEPALIVE_IDLE_MS, KEEPALIVE_TIMEOUT_MS);
    this.helloTimer = setTimeout(() => opened.destroy('no greeting from the server; is it a mychat server?'), HELLO_TIMEOUT_MS);
  }

  private onServerLine(raw: string): void {
    if (this.finished) return;
    const line = parseServerLine(raw);
    if (line === undefined) {
      this.show(renderServerLine(raw, this.context()));
      return;
    }
    const hidden = this.onPasteAnswer(line) || isInternalPong(line) || this.state.isSeenReplay(line);
    this.state.apply(line);
    if (line.keyword === 'HELLO' && this.registration?.plan.nick) {
      // The greeting asks for a nickname, but the client is already sending one: do not confuse the user.
      if (this.saved === undefined) this.notice(`Connected to ${this.where} (${line.fields[0] ?? 'unknown server'}).`);
    } else {
      this.route(line, raw, hidden);
    }
    this.afterLine(line);
    for (const event of this.registration?.handle(line) ?? []) this.onRegistration(event);
  }

  /**
   * Puts a server line in its window. Events (messages, joins, parts, topics) go to their room's window
   * or the private conversation's; replies to commands go to the window the user is looking at, except
   * those of a join, which go to the joined room's window (held until its OK JOIN opens it). While the
   * client restores its place after a reconnection, the replies of re-registering are not shown.
   */
  private route(line: ServerLine, raw: string, hidden: boolean): void {
    const [a = '', b = ''] = line.fields;
    const restoring = this.saved !== undefined;
    const weight = lineWeight(line, this.state.nick);
    // Membership first, so that QUIT and NICK know where they belong even when not shown.
    if (line.keyword === 'NAMES' && a !== '*') this.windows.setMembers(a, line.text.split(' ').filter((n) => n.length > 0));
    if (line.keyword === 'JOIN') this.windows.member(a, b, true);
    if (line.keyword === 'PART') this.windows.member(a, b, false);
    const silent = this.silentJoins.has(foldName(a)) || this.silentJoins.has(foldName(b));
    if (line.keyword === 'OK' && a === 'JOIN') {
      this.onJoined(b, raw, restoring || hidden);
      return;
    }
    if (line.keyword === 'OK' && a === 'PART') {
      this.onParted(b, raw, restoring || hidden);
      return;
    }
    // A goodbye the user did not ask for is told once, by the status line and then the reconnection's line.
    if (hidden || (line.keyword === 'BYE' && !this.quitting)) return;
    if ((line.keyword === 'ROOM' || line.keyword === 'NAMES') && (silent || restoring)) return;
    if (restoring && (line.keyword === 'OK' || RESTORE_CHATTER.has(line.keyword) || (line.keyword === 'ERR' && a === 'NICK_IN_USE'))) return;
    const rendered = renderServerLine(raw, this.context());
    switch (line.keyword) {
      case 'MSG':
      case 'ACTION':
      case 'PASTE':
      case 'TOPIC':
      case 'JOIN':
      case 'PART':
        this.place(this.windows.find('room', a), rendered, weight);
        return;
      case 'PRIVMSG':
        this.place(this.windows.open('private', a), rendered, weight);
        return;
      case 'QUIT':
      case 'NICK': {
        const own = line.keyword === 'NICK' && foldName(a) === foldName(this.state.nick);
        const windows = own ? [] : this.windows.windowsOf(a, line.keyword === 'NICK' ? b : undefined);
        if (line.keyword === 'QUIT') this.windows.forgetMember(a);
        if (windows.length === 0) this.show(rendered);
        for (const window of windows) this.place(window, rendered, weight);
        return;
      }
      case 'ROOM':
      case 'NAMES':
      case 'HISTORY':
      case 'HISTEND':
        if (this.holdForJoin(a, line.keyword, rendered, weight)) return;
        if (restoring && (line.keyword === 'HISTORY' || line.keyword === 'HISTEND')) {
          // What was said while the connection was down goes to its room's window, counted as missed.
          this.place(this.windows.find('room', a), rendered, weight);
          return;
        }
        break;
      case 'OK':
        if (a === 'MSG') {
          this.sentPrivate.shift();
          if (this.windows.current.kind === 'private' && foldName(this.windows.current.name) === foldName(b)) return;
        }
        break;
      case 'ERR':
        if (a === 'NO_SUCH_NICK') {
          // A /msg to no one: the window it opened holds only the line that was not delivered.
          const sent = this.sentPrivate.shift();
          if (sent?.opened === true && sent.window !== this.windows.current && sent.window.lines.length <= 1) this.windows.close(sent.window);
        }
        break;
      default:
        break;
    }
    this.releaseJoinBuffer();
    this.show(rendered);
  }

  /**
   * Holds the replies of a join to a room that has no window yet (ROOM, NAMES, replayed history) until
   * the OK JOIN opens its window. Returns false when the line is not one of those.
   */
  private holdForJoin(room: string, keyword: string, rendered: string, weight: LineWeight): boolean {
    const buffer = this.joinBuffer;
    if (buffer !== undefined && foldName(buffer.room) === foldName(room) && buffer.lines.length < MAX_JOIN_BUFFER) {
      buffer.lines.push({ rendered, weight });
      return true;
    }
    // A join's replies start with ROOM; any other reply (a /rooms list, /topic of another room) ends the hold.
    this.releaseJoinBuffer();
    if (keyword !== 'ROOM' || this.windows.find('room', room) !== undefined) return false;
    this.joinBuffer = { room, lines: [{ rendered, weight }] };
    return true;
  }

  /** Shows held lines in the current window: they were not a join's after all. */
  private releaseJoinBuffer(): void {
    const buffer = this.joinBuffer;
    this.joinBuffer = undefined;
    for (const held of buffer?.lines ?? []) this.show(held.rendered);
  }

  /** OK JOIN: a room's window opens (and is shown, when the user joined it), or a silent re-join ends. */
  private onJoined(room: string, raw: string, quiet: boolean): void {
    const key = foldName(room);
    const silent = this.silentJoins.get(key);
    if (silent !== undefined) {
      if (silent <= 1) this.silentJoins.delete(key);
      else this.silentJoins.set(key, silent - 1);
      return;
    }
    const buffer = this.joinBuffer !== undefined && foldName(this.joinBuffer.room) === key ? this.joinBuffer : undefined;
    if (buffer === undefined) this.releaseJoinBuffer();
    this.joinBuffer = undefined;
    const first = this.windows.all().length === 0;
    const window = this.windows.open('room', room);
    // What was said before the first room (the welcome) stays on the screen: it moves into that window.
    if (first) this.windows.adoptStatus(window);
    for (const held of buffer?.lines ?? []) this.windows.add(window, held.rendered, { message: false, mention: false });
    if (!quiet) this.windows.add(window, renderServerLine(raw, this.context()), { message: false, mention: false });
    // The join's own replies are what the window opens with, not something missed.
    window.missed = 0;
    if (!quiet) this.showWindow(window);
  }

  /** OK PART: the room's window closes and the server's new current room is shown. */
  private onParted(room: string, raw: string, quiet: boolean): void {
    this.releaseJoinBuffer();
    const window = this.windows.find('room', room);
    const wasCurrent = window !== undefined && window === this.windows.current;
    if (window !== undefined) this.windows.close(window);
    if (quiet) return;
    const rendered = renderServerLine(raw, this.context());
    if (!wasCurrent) {
      this.show(rendered);
      return;
    }
    const next = this.state.currentRoom === undefined ? undefined : this.windows.find('room', this.state.currentRoom);
    const target = next ?? this.windows.current;
    this.windows.add(target, rendered, { message: false, mention: false });
    this.showWindow(target);
  }

  private afterLine(line: ServerLine): void {
    const [a = '', b = ''] = line.fields;
    if (line.keyword === 'OK' && a === 'HELP' && b === '*') this.notice(CLIENT_HELP_SUMMARY);
    if (line.keyword === 'ERR' && a === 'SERVER_FULL') this.serverFull = true;
    if (line.keyword === 'ERR') this.silentJoins.clear();
    if (line.keyword === 'HELLO') {
      this.greeted = true;
      clearTimeout(this.helloTimer);
    }
    if (line.keyword === 'BYE') this.byeText = line.text;
  }

  private onRegistration(event: RegistrationEvent): void {
    switch (event.kind) {
      case 'send':
        this.link?.send(event.line);
        break;
      case 'nick-taken':
        this.notice(`The nickname ${event.nick} is taken; trying ${event.next}.`);
        break;
      case 'nick-refused':
        this.wantedNick = '';
        this.notice(`Type a nickname and press Enter.`);
        break;
      case 'registered':
        if (this.saved !== undefined && foldName(event.nick) !== foldName(this.saved.nick)) {
          this.notice(`${this.saved.nick} was taken, so you are ${event.nick} now (/nick ${this.saved.nick} to try again later).`);
        }
        break;
      case 'join-refused':
        break;
      case 'ready':
        if (this.saved !== undefined) {
          const rooms = this.state.rooms.length > 0 ? `back in ${this.state.rooms.join(', ')}` : 'in no room';
          const lost = this.lost;
          const away = lost === undefined ? '' : ` after ${formatDelay(Math.max(0, Date.now() - lost.at))} (${lost.why})`;
          this.saved = undefined;
          this.lost = undefined;
          this.notice(`Reconnected to ${this.where}${away} as ${event.nick}, ${rooms}.`);
          // Windows of rooms the server did not take the user back into are closed.
          for (const window of [...this.windows.all()]) {
            if (window.kind === 'room' && !this.state.rooms.some((r) => foldName(r) === foldName(window.name))) this.windows.close(window);
          }
          this.makeServerCurrent(this.windows.current);
        }
        this.failures = 0;
        break;
    }
  }

  private onClose(link: ServerLink | undefined, reason: string): void {
    if (link !== undefined && link !== this.link) return; // a connection we already gave up on
    this.link = undefined;
    if (this.paste !== undefined || this.held.length > 0) {
      if (!this.quitting) this.notice(this.paste !== undefined ? 'The connection dropped before the paste was sent; it was not sent.' : 'Lines typed while the paste was being sent were not sent.');
      this.paste = undefined;
      this.held = [];
    }
    this.registration = undefined;
    clearTimeout(this.helloTimer);
    if (this.finished) return;
    if (this.quitting) {
      this.finish(EXIT.ok);
      return;
    }
    const why = this.byeText !== undefined ? `the server said "${this.byeText}"` : reason;
    const reconnecting = this.saved !== undefined;
    if (!reconnecting && (this.serverFull || !this.greeted)) {
      // The first connection never got going: this is not a server to keep knocking on.
      this.notice(this.serverFull ? `${this.where} is full; try again later.` : `${this.where} closed the connection without greeting: ${why}.`);
      this.finish(EXIT.unreachable);
      return;
    }
    if (this.state.nick.length === 0) {
      // Never registered (e.g. no nickname typed in time): coming back would only repeat that.
      this.notice(`Disconnected from ${this.where}: ${why}.`);
      this.finish(EXIT.connectionLost);
      return;
    }
    void this.reconnect(why);
  }

  /**
   * Reconnects with backoff until it works or the user quits, then registers the same nickname (or a
   * variant if it is taken) and re-joins the rooms the user was in, in the same order. Meanwhile the
   * status line says what is happening; once back, one line tells what happened.
   */
  private async reconnect(why: string): Promise<void> {
    // A connection that drops again before the rooms are back: aim for the place from before the first drop.
    const lost = this.state.connectionLost(Date.now());
    const place = this.saved ?? lost;
    this.saved = place;
    this.lost ??= { why, at: Date.now() };
    // Re-joining in the old order restores the current room. Every room is re-joined, the server's automatic
    // one too (re-joining a room one is in just makes it current): the server may join no room, or another.
    const plan: RegistrationPlan = {
      nick: place.nick,
      rooms: place.rooms,
      partLobby: true,
      nickVariants: NICK_VARIANTS,
      readyToken: internalToken('ready'),
    };
    let delay = backoffDelay(this.failures++);
    this.retryText = `reconnecting in ${formatDelay(delay)}`;
    this.scheduleFlush();
    while (!this.quitting && !this.finished) {
      await this.sleep(delay);
      if (this.quitting || this.finished) return;
      try {
        this.retryText = 'reconnecting…';
        this.scheduleFlush();
        await this.connect(plan);
        return;
      } catch (error) {
        if (!(error instanceof ConnectError)) throw error;
        delay = backoffDelay(this.failures++);
        this.retryText = `reconnecting in ${formatDelay(delay)}, try ${this.failures}`;
        this.scheduleFlush();
      }
    }
  }

  /** Waits `ms`, or less if the user quits meanwhile. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }

  // ---- leaving ----

  /** Sends `line` (a /quit) and waits briefly for the server's BYE and close; quits at once when offline. */
  private quit(line: string): void {
    if (this.quitting || this.finished) return;
    this.quitting = true;
    this.wake?.();
    const link = this.link;
    if (link === undefined || link.closed) {
      this.finish(EXIT.ok);
      return;
    }
    this.sendTyped(line);
    this.quitTimer = setTimeout(() => link.destroy('no goodbye from the server'), QUIT_WAIT_MS);
  }

  private finish(code: number): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.quitTimer);
    clearTimeout(this.helloTimer);
    this.wake?.();
    for (const [signal, handler] of this.signalHandlers) process.off(signal, handler);
    this.flushScheduled = false;
    const rl = this.rl;
    this.rl = undefined;
    if (rl !== undefined) {
      // Take the prompt off the screen so the shell's prompt follows the last chat line.
      this.erasePrompt(rl);
      rl.close();
    }
    this.releaseTerminal?.();
    this.releaseTerminal = undefined;
    this.flush();
    this.link?.destroy();
    this.resolveExit(code);
  }
}

/**
 * Makes readline measure the prompt and the typed text by grapheme clusters (text-width.ts), so CJK and
 * emoji joined with ZWJ put the cursor where the terminal does: Node's readline counts each code point
 * of a ZWJ sequence. readline keeps this in a method under a private symbol; when a Node version names
 * it differently, readline's own measure stays.
 */
function measureWithGraphemes(rl: readline.Interface, widthOf: WidthOf): void {
  let proto: object | null = rl;
  while (proto !== null) {
    const symbol = Object.getOwnPropertySymbols(proto).find((s) => s.description === '_getDisplayPos');
    if (symbol !== undefined) {
      Object.defineProperty(rl, symbol, {
        value: (text: string) => displayPos(text, (rl as unknown as { columns: number }).columns, widthOf),
        configurable: true,
        writable: true,
      });
      return;
    }
    proto = Object.getPrototypeOf(proto) as object | null;
  }
}

/** Runs the interactive client on a terminal until the user quits; resolves with the exit status. */
export async function runInteractive(options: ClientOptions, io: TerminalIO): Promise<number> {
  const widthOf = await loadTerminalWidth();
  return new InteractiveClient(options, io, widthOf).run();
}
