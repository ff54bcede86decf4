import test from 'ava';
import { register, type TestClient } from '../helpers/client';
import { startDaemon, type Daemon } from '../helpers/daemon';
import { freePort, killClients, removeTempDirs, runClient, runShell, tempDir, within, type PipedClient } from '../helpers/mychat-client';
import { TERMINAL_TIMEOUT_MS } from '../helpers/terminal';
import { packageVersion } from '../../lib/version';

/*
 * The client in pipe mode (stdin or stdout not a terminal), as scripts use it, against a real daemon on
 * 127.0.0.1: what reaches the room, what comes out on stdout, and the documented exit statuses.
 */

const T = TERMINAL_TIMEOUT_MS;

let daemon: Daemon;
const daemons: Daemon[] = [];
const clients: TestClient[] = [];

test.before(async () => {
  daemon = await startDaemon(['--data-dir', tempDir()]);
  daemons.push(daemon);
});

test.after.always(async () => {
  killClients();
  for (const client of clients) client.socket.destroy();
  await Promise.all(daemons.map((d) => d.stop()));
  removeTempDirs();
});

/** A raw protocol client registered as `nick` and in `room`. */
async function watcher(nick: string, room?: string): Promise<TestClient> {
  const client = await register(daemon.port, nick);
  clients.push(client);
  if (room !== undefined) {
    client.send(`/join ${room}`);
    await client.waitForLine(`OK JOIN ${room} Now talking in ${room}.`);
  }
  return client;
}

function exitOf(client: PipedClient): Promise<number | string> {
  return within(client.exited, T, () => `client did not exit; stdout: ${JSON.stringify(client.stdout())} stderr: ${JSON.stringify(client.stderr())}`);
}

const ADDRESS = () => ['127.0.0.1', String(daemon.port)];

test('echo hello | mychat --nick bot --join #ops HOST PORT: registers, joins, posts, and exits 0 once confirmed', async (t) => {
  const ops = await watcher('opswatch', '#ops');
  const run = runShell(`echo hello | mychat --nick bot --join '#ops' 127.0.0.1 ${daemon.port}`);
  t.is(await exitOf(run), 0, run.stderr());
  // The watcher saw the bot arrive, speak and leave, in that order.
  await ops.waitForLine('JOIN #ops bot', T);
  await ops.waitForLine('MSG #ops bot hello', T);
  t.is(await ops.waitForLine(/^QUIT bot /, T), 'QUIT bot Quit');
  // Stdout is the protocol itself, plain, one LF-terminated line each, ready for grep and cut.
  const out = run.stdout();
  t.regex(out, /^HELLO mychatd\/\S+ /);
  t.true(out.includes('\nOK NICK bot Welcome, bot!'));
  t.true(out.includes('\nOK JOIN #ops Now talking in #ops.\n'));
  t.true(out.endsWith('BYE Goodbye!\n'));
  t.false(out.includes('\r'));
  t.false(out.includes('\x1b'));
  t.false(out.includes('PONG'), 'the client\'s own confirmation ping is not part of the output');
  t.is(run.stderr(), '');
});

test('stdin lines are sent as typed and in order, commands included, only after the joins are confirmed', async (t) => {
  const room = await watcher('orderwatch', '#order');
  const run = runShell(`printf 'first line\\n/me waves\\n//starts with a slash\\n/topic #order Set by a script\\nlast line\\n' | mychat --nick orderbot --join order 127.0.0.1 ${daemon.port}`);
  t.is(await exitOf(run), 0, run.stderr());
  t.is(await room.waitForLine(/^(JOIN|MSG|ACTION|TOPIC) #order /, T), 'JOIN #order orderbot', 'it joined before it said anything');
  t.is(await room.waitForLine(/^(MSG|ACTION|TOPIC) #order /, T), 'MSG #order orderbot first line');
  t.is(await room.waitForLine(/^(MSG|ACTION|TOPIC) #order /, T), 'ACTION #order orderbot waves');
  t.is(await room.waitForLine(/^(MSG|ACTION|TOPIC) #order /, T), 'MSG #order orderbot /starts with a slash');
  t.is(await room.waitForLine(/^(MSG|ACTION|TOPIC) #order /, T), 'TOPIC #order orderbot Set by a script');
  t.is(await room.waitForLine(/^(MSG|ACTION|TOPIC) #order /, T), 'MSG #order orderbot last line');
  t.true(run.stdout().includes('OK TOPIC #order Topic of #order changed.\n'), 'replies to commands come out on stdout');
});

test('a /quit in stdin ends the session there, with exit status 0', async (t) => {
  const lobby = await watcher('quitwatch');
  const run = runShell(`printf 'before\\n/quit done here\\nafter\\n' | mychat --nick quitbot 127.0.0.1 ${daemon.port}`);
  t.is(await exitOf(run), 0, run.stderr());
  await lobby.waitForLine('MSG #lobby quitbot before', T);
  t.is(await lobby.waitForLine(/^QUIT quitbot /, T), 'QUIT quitbot Quit: done here');
  await lobby.sync();
  t.deepEqual(lobby.all('MSG #lobby quitbot after'), []);
});

test('without --nick the first stdin line is the nickname, as with nc', async (t) => {
  const lobby = await watcher('rawwatch');
  const run = runShell(`printf 'rawbot\\nhi from a raw script\\n' | mychat 127.0.0.1 ${daemon.port}`);
  t.is(await exitOf(run), 0, run.stderr());
  await lobby.waitForLine('MSG #lobby rawbot hi from a raw script', T);
});

test('MYCHAT_HOST, MYCHAT_PORT and MYCHAT_NICK are used when the command line says nothing', async (t) => {
  const lobby = await watcher('envwatch');
  const run = runShell('echo from the environment | mychat', { MYCHAT_HOST: '127.0.0.1', MYCHAT_PORT: String(daemon.port), MYCHAT_NICK: 'envbot' });
  t.is(await exitOf(run), 0, run.stderr());
  await lobby.waitForLine('MSG #lobby envbot from the environment', T);
});

test('with stdout redirected and stdin left open, it records the room until killed, then says goodbye', async (t) => {
  const poster = await watcher('poster', '#logged');
  const logger = runClient(['--nick', 'logger', '--join', '#logged', ...ADDRESS()], {}, 'pipe'); // stdin stays open, like a terminal
  await poster.waitForLine('JOIN #logged logger', T);
  poster.send('first thing to record');
  poster.send('/me records too');
  t.is(await logger.waitForLine(/^MSG #logged /), 'MSG #logged poster first thing to record');
  t.is(await logger.waitForLine(/^ACTION #logged /), 'ACTION #logged poster records too');
  logger.proc.kill('SIGTERM');
  t.is(await exitOf(logger), 0, logger.stderr());
  t.is(await poster.waitForLine(/^QUIT logger /, T), 'QUIT logger Quit');
});

test('--listen ignores stdin; a lost connection in pipe mode is exit status 5 with the reason', async (t) => {
  const own = await startDaemon(['--data-dir', tempDir()]);
  daemons.push(own);
  const poster = await register(own.port, 'listenposter');
  clients.push(poster);
  const logger = runClient(['--listen', '--nick', 'listener', '127.0.0.1', String(own.port)], {}, 'ignore'); // stdin is /dev/null
  await poster.waitForLine('JOIN #lobby listener', T);
  poster.send('still listening?');
  await logger.waitForLine('MSG #lobby listenposter still listening?');
  await own.stop();
  t.is(await exitOf(logger), 5);
  t.regex(logger.stderr(), /^mychat: connection to 127\.0\.0\.1:\d+ lost: the server said "Server shutting down"\n$/);
  t.true(logger.stdout().endsWith('BYE Server shutting down\n'));
});

test('an unreachable server is exit status 3 with a clear message', async (t) => {
  const port = await freePort();
  const run = runShell(`echo hi | mychat --nick lost 127.0.0.1 ${port}`);
  t.is(await exitOf(run), 3);
  t.is(run.stderr(), `mychat: cannot reach 127.0.0.1:${port}: connection refused (is mychatd running there?)\n`);
  t.is(run.stdout(), '');
});

test('a nickname that is taken is exit status 4, and nothing from stdin is sent', async (t) => {
  const holder = await watcher('takenbot');
  const run = runShell(`echo should not be sent | mychat --nick TakenBot 127.0.0.1 ${daemon.port}`);
  t.is(await exitOf(run), 4);
  t.regex(run.stderr(), /^mychat: the server refused the nickname TakenBot: The nickname TakenBot is taken; pick another\. \[NICK_IN_USE\]\n$/);
  t.true(run.stdout().includes('ERR NICK_IN_USE '));
  await holder.sync();
  t.deepEqual(holder.all(/should not be sent/), []);
});

test('a --join the server refuses is exit status 6, and nothing from stdin is sent', async (t) => {
  const lobby = await watcher('joinwatch');
  // #lobby plus 50 more is one room over the server's limit of 50 per user.
  const rooms = Array.from({ length: 50 }, (_, i) => `#many${i}`).join(',');
  const run = runShell(`echo should not be sent either | mychat --nick joinbot --join '${rooms}' 127.0.0.1 ${daemon.port}`);
  t.is(await exitOf(run), 6);
  t.regex(run.stderr(), /^mychat: the server refused to join a room: .*\[TOO_MANY_ROOMS\]\n$/);
  await lobby.waitForLine(/^QUIT joinbot /, T);
  t.deepEqual(lobby.all(/should not be sent/), []);
});

test('invalid options are exit status 2, checked before connecting', async (t) => {
  const port = await freePort(); // nothing listens: a connection attempt would give 3, not 2
  for (const [args, message] of [
    [['--nick', '9lives', '127.0.0.1', String(port)], /invalid nickname "9lives": a nickname starts with a letter/],
    [['--join', '#no spaces', '--nick', 'x', '127.0.0.1', String(port)], /invalid room/],
    [['--join', '#ops', '127.0.0.1', String(port)], /--join needs --nick/],
    [['--frobnicate'], /Unknown argument: frobnicate/],
    [['127.0.0.1', 'port'], /PORT must be a port number/],
  ] as const) {
    const run = runClient([...args], {}, 'ignore');
    t.is(await exitOf(run), 2, args.join(' '));
    t.regex(run.stderr(), message);
    t.regex(run.stderr(), /Try 'mychat --help'|--join needs/);
  }
});

test('--help documents the options, environment and exit statuses; --version prints the version', async (t) => {
  const help = runClient(['--help'], {}, 'ignore');
  t.is(await exitOf(help), 0);
  for (const word of ['--nick', '--join', '--listen', '--help', '--version', 'MYCHAT_HOST', 'MYCHAT_PORT', 'MYCHAT_NICK', 'NO_COLOR', 'HOST:PORT']) {
    t.true(help.stdout().includes(word), word);
  }
  t.regex(help.stdout(), /3 +server unreachable/);
  t.regex(help.stdout(), /4 +nickname refused/);
  t.regex(help.stdout(), /5 +connection lost/);
  const version = runClient(['--version'], {}, 'ignore');
  t.is(await exitOf(version), 0);
  t.is(version.stdout().trim(), packageVersion());
});
