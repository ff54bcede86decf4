import readline from 'node:readline';
import { PassThrough } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { formatLine, parseServerLine, type ServerLine } from '../protocol/server-lines';
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
import { renderClientNotice, renderServerLine, type RenderContext } from './render';
import { colourWanted, nickColour, paint, STYLES } from './style';
import { CLIENT_HELP_SUMMARY, interpretInput } from './user-input';

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

/** Erases the screen and its scrollback and homes the cursor, for /clear. */
const CLEAR_SCREEN = '\x1b[H\x1b[2J\x1b[3J';

/** Lines of input history readline keeps (Up/Down). */
const INPUT_HISTORY = 1000;

/** How long input that may begin a paste marker (a lone ESC) is held back before readline gets it. */
const MARKER_WAIT_MS = 50;

/** Most typed lines held back while a paste is being started; more are not sent. */
const MAX_HELD_LINES = 100;

/** A multi-line paste waiting for the server's answer to its /paste. */
interface PendingPaste {
  /** The token of the /ping sent just before /paste: the first OK or ERR after its PONG answers /paste. */
  token: string;
  ponged: boolean;
  lines: string[];
}

class InteractiveClient {
  private readonly state = new ClientState();
  private readonly colour: boolean;
  private readonly where: string;
  private rl: readline.Interface | undefined;
  private link: ServerLink | undefined;
  private registration: Registration | undefined;
  /** Where the user was when the connection dropped, while reconnecting; undefined otherwise. */
  private saved: { nick: string; rooms: string[] } | undefined;
  private pending: string[] = [];
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

  constructor(
    private readonly options: ClientOptions,
    private readonly io: TerminalIO,
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
   * characters as keys). Raw mode requests go through to the real terminal.
   */
  private typedKeys(): PassThrough {
    const input = this.io.input;
    const keys = new PassThrough();
    const reader = new BracketedPasteReader();
    const decoder = new StringDecoder('utf8');
    let wait: NodeJS.Timeout | undefined;
    const deliver = (items: TerminalInput[]): void => {
      for (const item of items) {
        if (item.kind === 'keys') keys.write(item.text);
        else this.onPaste(item.text, item.overflow);
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
    rl.setPrompt(this.promptText());
    rl.on('line', (typed) => this.onTyped(typed));
    rl.on('SIGINT', () => this.quit('/quit')); // Ctrl-C: the terminal is in raw mode, so readline reports it
    rl.on('close', () => {
      this.rl = undefined;
      this.quit('/quit'); // Ctrl-D on an empty line
    });
    this.flush();
    rl.prompt();
  }

  private promptText(): string {
    const c = this.colour;
    const connecting = !this.state.registered && this.wantedNick.length > 0;
    const status = this.link === undefined ? '(offline) ' : this.saved !== undefined ? '(reconnecting) ' : connecting ? '(connecting) ' : '';
    // While reconnecting, show where the user will be back, not the half-restored state.
    const nickName = this.saved?.nick ?? (this.state.registered ? this.state.nick : this.wantedNick);
    if (nickName.length === 0) return `${paint(c, status, STYLES.yellow)}nickname> `;
    const room = this.saved !== undefined ? this.saved.rooms[this.saved.rooms.length - 1] : this.state.currentRoom;
    const nick = paint(c, nickName, nickColour(nickName), STYLES.bold);
    return `${paint(c, status, STYLES.yellow)}${nick} ${room === undefined ? '(no room)' : paint(c, room, STYLES.cyan)}> `;
  }

  private context(): RenderContext {
    return { colour: this.colour, ownNick: this.state.nick, now: new Date() };
  }

  /** Queues a line for the screen; everything queued in one event-loop turn is drawn at once. */
  private show(text: string): void {
    this.pending.push(text);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  private notice(text: string): void {
    this.show(renderClientNotice(text, this.context()));
  }

  /**
   * Draws queued lines above the input line: erase the prompt and what is typed (it may wrap over several
   * rows), print, then let readline redraw the prompt with the half-typed text and cursor where they were.
   */
  private flush(): void {
    this.flushScheduled = false;
    const lines = this.pending;
    this.pending = [];
    const rl = this.rl;
    const out = this.io.output;
    if (rl === undefined) {
      if (lines.length > 0) out.write(lines.join('\n') + '\n');
      return;
    }
    if (lines.length > 0) {
      readline.moveCursor(out, 0, -rl.getCursorPos().rows);
      readline.cursorTo(out, 0);
      readline.clearScreenDown(out);
      out.write(lines.join('\n') + '\n');
      // readline would move up by the rows it drew last time; the input now starts on this fresh row.
      (rl as unknown as { prevRows: number }).prevRows = 0;
    }
    rl.setPrompt(this.promptText());
    rl.prompt(true);
  }

  private onTyped(typed: string): void {
    const action = interpretInput(typed);
    switch (action.kind) {
      case 'none':
        break;
      case 'clear':
        this.io.output.write(CLEAR_SCREEN);
        break;
      case 'local':
        this.notice(action.text);
        break;
      case 'quit':
        this.quit(action.line);
        return;
      case 'send':
        if (this.link === undefined) this.notice('Not connected, so that line was not sent; reconnecting…');
        else this.sendTyped(action.line);
        break;
    }
    this.rl?.setPrompt(this.promptText());
    this.rl?.prompt();
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
   * current room as one /paste block; the client first waits for the server to accept the /paste, so a
   * refused block is never taken for ordinary lines (and commands).
   */
  private onPaste(text: string, overflow: boolean): void {
    const lines = pasteLines(text);
    if (!overflow && lines.length <= 1) {
      this.rl?.write(neutralise(lines[0] ?? ''));
      return;
    }
    const problem = pasteProblem(lines, overflow);
    const link = this.link;
    if (problem !== undefined) this.notice(problem);
    else if (link === undefined || !this.state.registered) this.notice('Not connected, so that paste was not sent.');
    else if (this.state.currentRoom === undefined) this.notice('You are in no room, so that paste was not sent: /join #ROOM first.');
    else if (this.paste !== undefined) this.notice('The previous paste is still on its way, so that one was not sent; paste it again in a moment.');
    else {
      this.paste = { token: internalToken('paste'), ponged: false, lines };
      // A keep-alive /ping sent after /paste would become a line of the block.
      link.postponeKeepalive();
      link.send(`/ping ${this.paste.token}`);
      link.send('/paste');
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
      paste.lines.forEach((text, i) => this.show(renderServerLine(formatLine('PASTE', [room, this.state.nick, '0', `${i + 1}/${paste.lines.length}`], text), ctx)));
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
      this.notice(`Connected to ${this.where} (${line.fields[0] ?? 'unknown server'}).`);
    } else if (!hidden) {
      this.show(renderServerLine(raw, this.context()));
    }
    this.afterLine(line);
    for (const event of this.registration?.handle(line) ?? []) this.onRegistration(event);
  }

  private afterLine(line: ServerLine): void {
    const [a = '', b = ''] = line.fields;
    if (line.keyword === 'OK' && a === 'HELP' && b === '*') this.notice(CLIENT_HELP_SUMMARY);
    if (line.keyword === 'ERR' && a === 'SERVER_FULL') this.serverFull = true;
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
          this.notice(`Reconnected to ${this.where} as ${event.nick}, ${rooms}.`);
          this.saved = undefined;
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
   * variant if it is taken) and re-joins the rooms the user was in, in the same order.
   */
  private async reconnect(why: string): Promise<void> {
    // A connection that drops again before the rooms are back: aim for the place from before the first drop.
    const lost = this.state.connectionLost(Date.now());
    const place = this.saved ?? lost;
    this.saved = place;
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
    this.notice(`Connection to ${this.where} lost: ${why}. Reconnecting in ${formatDelay(delay)}…`);
    while (!this.quitting && !this.finished) {
      await this.sleep(delay);
      if (this.quitting || this.finished) return;
      try {
        await this.connect(plan);
        return;
      } catch (error) {
        if (!(error instanceof ConnectError)) throw error;
        delay = backoffDelay(this.failures++);
        this.notice(`Reconnecting failed: ${error.message}. Trying again in ${formatDelay(delay)}…`);
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
      readline.moveCursor(this.io.output, 0, -rl.getCursorPos().rows);
      readline.cursorTo(this.io.output, 0);
      readline.clearScreenDown(this.io.output);
      rl.close();
    }
    this.releaseTerminal?.();
    this.releaseTerminal = undefined;
    this.flush();
    this.link?.destroy();
    this.resolveExit(code);
  }
}

/** Runs the interactive client on a terminal until the user quits; resolves with the exit status. */
export function runInteractive(options: ClientOptions, io: TerminalIO): Promise<number> {
  return new InteractiveClient(options, io).run();
}
