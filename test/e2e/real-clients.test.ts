import { spawn, type ChildProcess } from 'node:child_process';
import test, { type ExecutionContext } from 'ava';
import { register, type TestClient } from '../helpers/client';
import { startDaemon, type Daemon } from '../helpers/daemon';
import { hex, pollUntil, RecordingProxy, requireBinaries, TERMINAL_TIMEOUT_MS, TmuxTerminal } from '../helpers/terminal';

/*
 * The product promise is "any nc or telnet session is a full client", so these tests drive the real
 * binaries (OpenBSD netcat; telnet inside a tmux-provided terminal) against a real daemon on 127.0.0.1.
 * A missing binary fails the test with a clear message; nothing here is ever skipped.
 */

/** Generous per-step bound: a loaded 2-core CI box can be slow, but nothing here may hang. */
const T = TERMINAL_TIMEOUT_MS;

let daemon: Daemon;
const children: ChildProcess[] = [];
const terminals: TmuxTerminal[] = [];
const proxies: RecordingProxy[] = [];
const clients: TestClient[] = [];

test.before(async () => {
  daemon = await startDaemon();
});

test.after.always(async () => {
  await Promise.all(terminals.map((term) => term.kill()));
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const client of clients) client.socket.destroy();
  await Promise.all(proxies.map((proxy) => proxy.close()));
  await daemon?.stop();
});

async function watcher(nick: string): Promise<TestClient> {
  const client = await register(daemon.port, nick);
  clients.push(client);
  return client;
}

/** Asserts a relayed line carries no trace of telnet negotiation: no U+FFFD, control pictures or controls. */
function assertClean(t: ExecutionContext, line: string): void {
  t.notRegex(line, /[\uFFFD\u2400-\u2426]/u, `replacement character or control picture in ${JSON.stringify(line)}`);
  // eslint-disable-next-line no-control-regex
  t.notRegex(line, /[\u0000-\u001f\u007f-\u009f]/u, `control character in ${JSON.stringify(line)}`);
}

// ---------------------------------------------------------------- nc

/** A real `nc -N` process: piped stdin (bare LF lines, as nc sends them), recorded stdout. */
interface Netcat {
  proc: ChildProcess;
  /** Everything nc printed so far (what the daemon sent), decoded as UTF-8. */
  out(): string;
  /** Writes raw text to nc's stdin. */
  write(text: string): void;
  /** Waits until nc's stdout contains a CRLF-terminated line matching `matcher`. */
  waitForLine(matcher: string | RegExp): Promise<string>;
  /** Resolves with nc's exit code (or signal). */
  exited: Promise<number | string>;
}

function spawnNc(port: number): Netcat {
  // -N: shut down the sending side of the socket on EOF from stdin. Without it OpenBSD nc keeps the
  // connection open after stdin ends (it only stops reading stdin), so Ctrl-D would not leave the chat.
  const proc = spawn('nc', ['-N', '127.0.0.1', String(port)], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(proc);
  let out = '';
  let err = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  proc.stdin!.on('error', () => undefined);
  const exited = new Promise<number | string>((resolve) => proc.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  return {
    proc,
    out: () => out,
    write: (text) => proc.stdin!.write(text),
    waitForLine: (matcher) =>
      pollUntil(
        () => out.split('\r\n').slice(0, -1).find((line) => (typeof matcher === 'string' ? line === matcher : matcher.test(line))),
        () => `nc never printed a line matching ${String(matcher)}; stdout: ${JSON.stringify(out)} stderr: ${JSON.stringify(err)}`,
      ),
    exited,
  };
}

function withinDeadline<V>(promise: Promise<V>, what: string): Promise<V> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<V>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${T} ms: ${what}`)), T);
    }),
  ]);
}

test('nc: registers with a bare-LF line, chats both ways, and EOF on stdin (Ctrl-D) leaves with QUIT', async (t) => {
  requireBinaries('nc');
  const watch = await watcher('ncwatch');
  const nc = spawnNc(daemon.port);

  t.regex(await nc.waitForLine(/^HELLO /), /^HELLO mychatd\/\d+\.\d+\.\d+ Welcome to .*nickname/);
  t.true(nc.out().startsWith('HELLO '), 'the greeting is the very first thing nc prints');

  nc.write('ncuser\n');
  t.is(await nc.waitForLine(/^OK NICK /), 'OK NICK ncuser Welcome, ncuser! Type /help for commands; plain lines go to your current room.');
  await nc.waitForLine('OK JOIN #lobby Now talking in #lobby.');
  await watch.waitForLine('JOIN #lobby ncuser', T);

  nc.write('hello from plain nc\n');
  t.is(await watch.waitForLine(/^MSG #lobby ncuser /, T), 'MSG #lobby ncuser hello from plain nc');

  watch.send('hi nc, from the raw client');
  t.is(await nc.waitForLine(/^MSG #lobby ncwatch /), 'MSG #lobby ncwatch hi nc, from the raw client');

  nc.proc.stdin!.end(); // what Ctrl-D does in an interactive nc
  t.is(await watch.waitForLine(/^QUIT ncuser /, T), 'QUIT ncuser Connection closed');
  // The daemon closes its side too, so nc exits by itself.
  t.is(await withinDeadline(nc.exited, `nc did not exit after EOF; stdout: ${JSON.stringify(nc.out())}`), 0);
  t.false(nc.out().includes('\uFFFD'));
  watch.end();
});

test('nc: a whole script piped in at once (stdin ends immediately) is handled in order before the QUIT', async (t) => {
  requireBinaries('nc');
  const watch = await watcher('batchwatch');
  const nc = spawnNc(daemon.port);
  nc.write('ncbatch\nfirst piped line\nsecond piped line\n');
  nc.proc.stdin!.end();

  await watch.waitForLine('JOIN #lobby ncbatch', T);
  await watch.waitForLine('MSG #lobby ncbatch first piped line', T);
  await watch.waitForLine('MSG #lobby ncbatch second piped line', T);
  await watch.waitForLine('QUIT ncbatch Connection closed', T);
  t.is(await withinDeadline(nc.exited, `nc did not exit; stdout: ${JSON.stringify(nc.out())}`), 0);
  t.regex(nc.out(), /^HELLO mychatd\/.*\r\nOK NICK ncbatch Welcome, ncbatch!/);
  t.true(nc.out().includes('OK JOIN #lobby Now talking in #lobby.\r\n'));
  watch.end();
});

// ---------------------------------------------------------------- telnet

/** Starts a real telnet in a tmux terminal, connected to `port`, and waits for the greeting on screen. */
async function startTelnet(port: number): Promise<TmuxTerminal> {
  const term = await TmuxTerminal.start(`exec telnet 127.0.0.1 ${port}`);
  terminals.push(term);
  await term.waitForRow(/^HELLO mychatd\/\d+\.\d+\.\d+ Welcome/);
  return term;
}

async function registerOnTelnet(term: TmuxTerminal, watch: TestClient, nick: string): Promise<void> {
  await term.typeLine(nick);
  await term.waitForRow(`OK NICK ${nick} Welcome, ${nick}! Type /help for commands; plain lines go to your current room.`);
  await term.waitForRow('OK JOIN #lobby Now talking in #lobby.');
  await watch.waitForLine(`JOIN #lobby ${nick}`, T);
}

test('telnet in a real terminal: register, chat both ways with no telnet bytes leaking, /quit', async (t) => {
  requireBinaries('telnet', 'tmux');
  const watch = await watcher('tnwatch');
  const term = await startTelnet(daemon.port);
  await registerOnTelnet(term, watch, 'tnuser');

  // Non-ASCII whose UTF-8 continuation bytes are all in 0xA0-0xBF: telnet passes these through intact
  // (see the Ctrl-C test for characters it does not).
  const text = 'hello from telnet: héllo wörld ñ ä ü';
  await term.typeLine(text);
  const relayed = await watch.waitForLine(/^MSG #lobby tnuser /, T);
  t.is(relayed, `MSG #lobby tnuser ${text}`);
  assertClean(t, relayed);

  watch.send('hi telnet, from the raw client ✓');
  await term.waitForRow('MSG #lobby tnwatch hi telnet, from the raw client ✓');

  await term.typeLine('/quit bye');
  t.is(await watch.waitForLine(/^QUIT tnuser /, T), 'QUIT tnuser Quit: bye');
  await term.waitForRow('BYE Goodbye!');
  // The server closed the connection, so telnet exits on its own.
  await pollUntil(
    async () => ((await term.paneDead()) ? true : undefined),
    () => 'telnet did not exit after BYE',
  );
  watch.end();
});

test('telnet: Ctrl-C (IAC IP + IAC DO TIMING-MARK) is answered, the screen does not freeze, chat goes on', async (t) => {
  requireBinaries('telnet', 'tmux');
  const watch = await watcher('intwatch');
  // A transparent recorder between telnet and the daemon, to show the negotiation byte for byte.
  const proxy = await RecordingProxy.start(daemon.port);
  proxies.push(proxy);
  const term = await startTelnet(proxy.port);
  const tap = await proxy.tap();
  await registerOnTelnet(term, watch, 'tnint');

  // In its default line-by-line mode telnet keeps the tty in cooked mode with ISIG, so Ctrl-C raises
  // SIGINT in telnet, which sends IAC IP followed by IAC DO TIMING-MARK and then discards all output
  // until the server answers WILL or WONT TIMING-MARK. (The tty echoes "^C"; it is not sent.)
  await term.press('C-c');
  const interrupt = Buffer.from([0xff, 0xf4, 0xff, 0xfd, 0x06]);
  await pollUntil(
    () => (tap.up().includes(interrupt) ? true : undefined),
    () => `telnet did not send IAC IP IAC DO TM for Ctrl-C; it sent ${hex(tap.up())}; screen may have changed`,
  );
  const wontTimingMark = Buffer.from([0xff, 0xfc, 0x06]);
  await pollUntil(
    () => (tap.down().includes(wontTimingMark) ? true : undefined),
    () => `daemon never answered IAC DO TIMING-MARK with IAC WONT TIMING-MARK; it sent ${hex(tap.down().subarray(-64))} (last 64 bytes)`,
  );

  // The freeze check: without that answer telnet would swallow everything the server sends from now on.
  // The row starts with the tty's "^C" echo, as the cursor was still on that row.
  watch.send('can you still see me after ctrl-c');
  await term.waitForRow(/^(\^C)?MSG #lobby intwatch can you still see me after ctrl-c$/);

  // And the session still accepts input, with nothing of the interrupt leaking into the next line.
  await term.typeLine('still here after ctrl-c');
  const relayed = await watch.waitForLine(/^MSG #lobby tnint /, T);
  t.is(relayed, 'MSG #lobby tnint still here after ctrl-c');
  assertClean(t, relayed);

  // Observed with inetutils telnet (also BSD/netkit telnet): outside binary mode it compares each typed
  // byte with its high bit stripped against the tty's special characters, so the UTF-8 byte 0x9C of "✓"
  // (E2 9C 93) is taken for ^\ (quit) and replaced by IAC BRK IAC DO TM. Whatever telnet does to such a
  // line, the daemon must relay it exactly or not at all (never U+FFFD / control pictures), answer the
  // TIMING-MARK again, and keep the session usable.
  const upBefore = tap.up().length;
  const from = watch.lines.length;
  await term.typeLine('tick ✓ done');
  await term.typeLine('line after the tick');
  await watch.waitForLine('MSG #lobby tnint line after the tick', T);
  const tickLines = watch.lines.slice(from).filter((line) => line.startsWith('MSG #lobby tnint ') && !line.endsWith(' line after the tick'));
  for (const line of tickLines) t.is(line, 'MSG #lobby tnint tick ✓ done', 'a line telnet mangled must not be relayed in mangled form');
  const sent = tap.up().subarray(upBefore);
  t.log(`telnet sent for "tick ✓ done": ${hex(sent.subarray(0, sent.indexOf('\r\n') + 2))}`);
  t.log(tickLines.length === 0 ? 'daemon relayed nothing for it (telnet mangled it)' : 'daemon relayed it intact');
  const screen = await term.screen();
  const err = screen.find((row) => row.startsWith('ERR '));
  if (err) t.log(`telnet screen shows: ${err}`);
  watch.send('output still flows after the mangled line');
  await term.waitForRow('MSG #lobby intwatch output still flows after the mangled line');

  await term.typeLine('/quit bye');
  t.is(await watch.waitForLine(/^QUIT tnint /, T), 'QUIT tnint Quit: bye');
  watch.end();
});
