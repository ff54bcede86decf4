import type { Transform } from 'node:stream';
import split2 from 'split2';
import { parseServerLine } from '../protocol/server-lines';
import { neutralise } from '../protocol/text-hygiene';
import { CONNECT_TIMEOUT_MS, ConnectError, ServerLink } from './connection';
import { EXIT } from './exit-codes';
import { displayAddress, type ClientOptions } from './options';
import { internalToken, isInternalPong, Registration, type RegistrationEvent } from './registration';
import { isQuitLine } from './user-input';

/*
 * Pipe mode, for scripts: stdin lines go to the server as typed, and the server's lines come out on
 * stdout unchanged (LF-terminated, no colour). With --nick it registers and joins the --join rooms before
 * sending anything from stdin; after stdin ends it sends /ping and exits once the PONG shows that the
 * server has handled every line. The exit status says how it went (see exit-codes.ts).
 */

/** How long to wait for the server's greeting after connecting. */
export const HELLO_TIMEOUT_MS = 10_000;

/** How long to wait for BYE after sending /quit before closing anyway. */
export const QUIT_WAIT_MS = 2000;

/** Keepalive: ping after this long without a line from the server... */
export const KEEPALIVE_IDLE_MS = 60_000;

/** ...and count the connection lost if nothing arrives within this long after the ping. */
export const KEEPALIVE_TIMEOUT_MS = 20_000;

/** The streams pipe mode works with (the process's own, or a test's). */
export interface PipeIO {
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

/** Runs pipe mode until done; resolves with the exit status. */
export function runPipeMode(options: ClientOptions, io: PipeIO): Promise<number> {
  return new Promise((resolveExit) => {
    const where = displayAddress(options.host, options.port);
    let link: ServerLink | undefined;
    let finished = false;
    let greeted = false;
    let refusal: string | undefined;
    let byeText: string | undefined;
    /** Set once we are leaving on purpose: the exit status and message to use when the connection closes. */
    let leaving: { code: number; message?: string } | undefined;
    let helloTimer: NodeJS.Timeout | undefined;
    let quitTimer: NodeJS.Timeout | undefined;
    let input: Transform | undefined;
    const doneToken = internalToken('done');
    const registration =
      options.nick.length > 0
        ? new Registration({ nick: options.nick, rooms: options.rooms, partLobby: false, nickVariants: 0, readyToken: internalToken('ready') })
        : undefined;

    const finish = (code: number, message?: string): void => {
      if (finished) return;
      finished = true;
      clearTimeout(helloTimer);
      clearTimeout(quitTimer);
      if (input !== undefined) {
        io.stdin.unpipe(input);
        io.stdin.pause();
        input.destroy();
      }
      link?.destroy();
      for (const [signal, handler] of signalHandlers) process.off(signal, handler);
      if (message !== undefined) io.stderr.write(`mychat: ${message}\n`);
      resolveExit(code);
    };

    /** Leaves politely: /quit, then wait (bounded) for the server to close the connection. */
    const leave = (code: number, message?: string): void => {
      if (leaving !== undefined || finished) return;
      leaving = { code, message };
      if (link === undefined || link.closed) {
        finish(code, message);
        return;
      }
      link.send('/quit');
      quitTimer = setTimeout(() => finish(code, message), QUIT_WAIT_MS);
    };

    const startInput = (): void => {
      if (options.listen) return; // --listen: print until killed or disconnected
      // split2 splits stdin at LF or CRLF and decodes UTF-8 across reads; for-await gives backpressure.
      const lines = split2();
      input = lines;
      io.stdin.once('error', (error: Error) => lines.destroy(error));
      io.stdin.pipe(lines);
      void (async () => {
        try {
          for await (const line of lines as AsyncIterable<string>) {
            if (finished || leaving !== undefined || link === undefined) return;
            if (!link.send(line)) await link.drained();
            if (isQuitLine(line)) {
              // The user's own /quit: the server says BYE and closes, which is success.
              leaving = { code: EXIT.ok };
              return;
            }
          }
        } catch {
          // An unreadable stdin (e.g. nohup's) ends the input like EOF does.
        }
        if (finished || leaving !== undefined) return;
        // Replies come in order, so this PONG confirms every line before it was handled.
        link?.send(`/ping ${doneToken}`);
      })();
    };

    const onEvent = (event: RegistrationEvent): void => {
      switch (event.kind) {
        case 'send':
          link?.send(event.line);
          break;
        case 'nick-refused':
          leave(EXIT.nickRefused, `the server refused the nickname ${event.nick}: ${event.text} [${event.code}]`);
          break;
        case 'join-refused':
          leave(EXIT.joinRefused, `the server refused to join a room: ${event.text} [${event.code}]`);
          break;
        case 'ready':
          startInput();
          break;
        default:
          break;
      }
    };

    const onLine = (raw: string): void => {
      if (finished) return;
      const parsed = parseServerLine(raw);
      if (parsed === undefined || !isInternalPong(parsed)) io.stdout.write(neutralise(raw) + '\n');
      if (parsed === undefined) return;
      if (parsed.keyword === 'HELLO' && !greeted) {
        greeted = true;
        clearTimeout(helloTimer);
        if (registration === undefined) startInput();
      }
      if (parsed.keyword === 'ERR' && parsed.fields[0] === 'SERVER_FULL') refusal = 'the server is full; try again later';
      if (parsed.keyword === 'BYE') byeText = parsed.text;
      if (parsed.keyword === 'PONG' && parsed.text === doneToken) leave(EXIT.ok);
      if (registration !== undefined && leaving === undefined) for (const event of registration.handle(parsed)) onEvent(event);
    };

    const onClose = (reason: string): void => {
      if (finished) return;
      if (leaving !== undefined) finish(leaving.code, leaving.message);
      else if (refusal !== undefined) finish(EXIT.unreachable, `${where}: ${refusal}`);
      else if (!greeted) finish(EXIT.unreachable, `${where} closed the connection without greeting; is it a mychat server?`);
      else finish(EXIT.connectionLost, `connection to ${where} lost: ${byeText !== undefined ? `the server said "${byeText}"` : reason}`);
    };

    const signalHandlers: Array<[NodeJS.Signals, () => void]> = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((signal) => [
      signal,
      // The first signal leaves politely; a second one does not wait.
      () => (leaving === undefined ? leave(EXIT.ok) : finish(leaving.code, leaving.message)),
    ]);
    for (const [signal, handler] of signalHandlers) process.on(signal, handler);

    io.stdout.on('error', () => finish(EXIT.ok)); // the reader went away (e.g. `| head`): nothing left to do

    ServerLink.open(options.host, options.port, { line: onLine, close: onClose }, CONNECT_TIMEOUT_MS, options.tls).then(
      (opened) => {
        link = opened;
        if (finished) {
          opened.destroy();
          return;
        }
        link.startKeepalive(KEEPALIVE_IDLE_MS, KEEPALIVE_TIMEOUT_MS);
        helloTimer = setTimeout(() => {
          refusal = 'no greeting from the server; is it a mychat server?';
          link?.destroy();
        }, HELLO_TIMEOUT_MS);
      },
      (error: unknown) => {
        if (!(error instanceof ConnectError)) throw error;
        finish(EXIT.unreachable, `cannot reach ${where}: ${error.message}`);
      },
    );
  });
}
