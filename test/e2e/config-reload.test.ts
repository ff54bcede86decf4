import test, { type ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { connect, register, TestClient } from '../helpers/client';
import { DAEMON_JS, daemonEnv, startDaemon, type Daemon } from '../helpers/daemon';

/** A fresh directory for one test's files, removed afterwards. */
function tempDir(t: ExecutionContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mychat-config-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes a configuration file and returns its path. */
function writeConfig(dir: string, text: string, name = 'mychatd.conf'): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

/** Runs the daemon to completion (for start-up errors), with the test environment plus `env`. */
function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [DAEMON_JS, '--host', '127.0.0.1', '--port', '0', ...args], {
    encoding: 'utf8',
    env: daemonEnv(env),
    timeout: 10_000,
  });
}

/** The NOTICE lines (the MOTD) a newly registered client gets. */
async function motdSeenBy(daemon: Daemon, nick: string): Promise<string[]> {
  const client = await register(daemon.port, nick);
  const notices = client.all(/^NOTICE /);
  client.end();
  return notices;
}

/** Opens a connection without waiting for HELLO: a full server answers ERR SERVER_FULL instead. */
async function connectRaw(port: number): Promise<TestClient> {
  const socket = net.connect({ port, host: '127.0.0.1' });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  return new TestClient(socket);
}

/** Starts a daemon and stops it when the test ends. */
async function started(t: ExecutionContext, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Daemon> {
  const daemon = await startDaemon(args, env);
  t.teardown(() => void daemon.stop('SIGKILL'));
  return daemon;
}

test('precedence: command line over MYCHATD_* environment over the config file over the defaults, per key', async (t) => {
  const dir = tempDir(t);
  const file = writeConfig(dir, '# test configuration\nmotd = from the file\nmax-clients = 1\n');

  const none = await started(t, []);
  t.deepEqual(await motdSeenBy(none, 'plain'), [], 'defaults: no MOTD');

  const fromFile = await started(t, ['--config', file]);
  t.deepEqual(await motdSeenBy(fromFile, 'filer'), ['NOTICE from the file']);

  const fromEnv = await started(t, ['--config', file], { MYCHATD_MOTD: 'from the environment' });
  const first = await register(fromEnv.port, 'envUser');
  t.deepEqual(first.all(/^NOTICE /), ['NOTICE from the environment']);
  // max-clients still comes from the file: the environment only replaced the key it names.
  const refused = await connectRaw(fromEnv.port);
  await refused.waitForLine(/^ERR SERVER_FULL /);
  first.end();

  const fromCli = await started(t, ['--config', file, '--motd', 'from the command line'], { MYCHATD_MOTD: 'from the environment' });
  t.deepEqual(await motdSeenBy(fromCli, 'cliUser'), ['NOTICE from the command line']);
  t.regex(fromCli.stderr(), new RegExp(`listening .*config=${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`), 'the log names the file read');
});

test('the default file is $CONFIGURATION_DIRECTORY/mychatd.conf; a missing default file is fine', async (t) => {
  const dir = tempDir(t);
  writeConfig(dir, 'motd = from the configuration directory\n');
  const withFile = await started(t, [], { MYCHATD_CONFIG: undefined, CONFIGURATION_DIRECTORY: dir });
  t.deepEqual(await motdSeenBy(withFile, 'confdir'), ['NOTICE from the configuration directory']);

  const withoutFile = await started(t, [], { MYCHATD_CONFIG: undefined, CONFIGURATION_DIRECTORY: path.join(dir, 'absent') });
  t.deepEqual(await motdSeenBy(withoutFile, 'nofile'), []);
});

// Tests that block this process with spawnSync run serially (before the concurrent ones), so they never
// hold up another test's daemon start on a busy machine.
test.serial('a missing file named with --config or MYCHATD_CONFIG is an error with status 2', (t) => {
  const missing = path.join(tempDir(t), 'nope.conf');
  for (const [args, env] of [
    [['--config', missing], {}],
    [[], { MYCHATD_CONFIG: missing }],
  ] as const) {
    const result = run([...args], env);
    t.is(result.status, 2);
    t.true(result.stderr.includes(`cannot read configuration file ${missing}: ENOENT`), result.stderr);
    t.is(result.stdout, '');
  }
});

test.serial('an unknown key, a bad value or a malformed line is refused at start, naming the file, line and key', (t) => {
  const dir = tempDir(t);
  for (const [text, expected] of [
    ['port = 7777\n\n# colours!\ncolour = red\n', ':4: unknown key "colour"'],
    ['max-clients = lots\n', ':1: max-clients must be a whole number from 1 to 1000000 (got "lots")'],
    ['flood-rate = -1\n', ':1: flood-rate must be a whole number from 0 to 100000 (got "-1")'],
    ['log-level = loud\n', ':1: log-level must be one of error, warn, info, debug (got "loud")'],
    ['sync = sometimes\n', ':1: sync must be one of normal, full (got "sometimes")'],
    ['history-replay = 1001\n', ':1: history-replay must be a whole number from 0 to 1000 (got "1001")'],
    ['motd\n', ':1: expected "key = value"'],
    ['config = /etc/other.conf\n', ':1: "config" cannot be set inside a configuration file'],
  ] as const) {
    const file = writeConfig(dir, text);
    const result = run(['--config', file]);
    t.is(result.status, 2, text);
    t.true(result.stderr.startsWith(`mychatd: ${file}${expected}`), result.stderr);
    t.is(result.stdout, '');
  }
});

test.serial('history and data options are validated on the command line and in the environment too', (t) => {
  for (const [args, env, pattern] of [
    [['--history-replay', '-1'], {}, /--history-replay must be a whole number from 0 to 1000/],
    [['--history-max-messages', '0'], {}, /--history-max-messages must be a whole number from 1 to 100000000/],
    [[], { MYCHATD_HISTORY_MAX_DAYS: '36501' }, /--history-max-days must be a whole number from 1 to 36500/],
    [['--sync', 'fast'], {}, /sync/],
    [['--data-dir', ''], {}, /--data-dir must not be empty/],
  ] as const) {
    const result = run([...args], env);
    t.is(result.status, 2, args.join(' '));
    t.regex(result.stderr, pattern);
  }
});

test.serial('--motd-file shows a file as the MOTD; it cannot be combined with --motd', async (t) => {
  const dir = tempDir(t);
  const motd = path.join(dir, 'motd.txt');
  fs.writeFileSync(motd, 'Welcome to the lab server.\nBe nice.\n');
  const daemon = await started(t, ['--motd-file', motd]);
  t.deepEqual(await motdSeenBy(daemon, 'reader'), ['NOTICE Welcome to the lab server.', 'NOTICE Be nice.']);

  const both = run(['--motd-file', motd, '--motd', 'hi']);
  t.is(both.status, 2);
  t.regex(both.stderr, /--motd and --motd-file cannot both be set/);
  const missing = run(['--motd-file', path.join(dir, 'absent.txt')]);
  t.is(missing.status, 2);
  t.regex(missing.stderr, /cannot read --motd-file .*absent\.txt: ENOENT/);
});

test('a relative motd-file in the config file is read from the config file\'s directory', async (t) => {
  const dir = tempDir(t);
  fs.writeFileSync(path.join(dir, 'motd'), 'Relative MOTD\n');
  const file = writeConfig(dir, 'motd-file = motd\n');
  const daemon = await started(t, ['--config', file]);
  t.deepEqual(await motdSeenBy(daemon, 'relative'), ['NOTICE Relative MOTD']);
});

test('SIGHUP reloads the MOTD and limits without dropping anyone; restart-only changes are logged as such', async (t) => {
  const dir = tempDir(t);
  const file = writeConfig(dir, 'motd = first MOTD\nmax-clients = 10\n');
  const daemon = await started(t, ['--config', file]);
  const alice = await register(daemon.port, 'alice');
  t.deepEqual(alice.all(/^NOTICE /), ['NOTICE first MOTD']);

  // The port in the file is overridden by the helper's --port 0 (the command line wins), so it changes nothing.
  writeConfig(dir, 'motd = second MOTD\nmax-clients = 2\nport = 7000\nhistory-replay = 5\nsync = full\n');
  daemon.proc.kill('SIGHUP');
  const warned = await daemon.waitForLog(/warn restart-needed /);
  t.regex(warned.line, /options=history-replay,sync /);
  await daemon.waitForLog(/info reloaded changed=max-clients,motd /, warned.next);

  const bob = await register(daemon.port, 'bob');
  t.deepEqual(bob.all(/^NOTICE /), ['NOTICE second MOTD'], 'a new client sees the new MOTD');
  await alice.waitForLine('JOIN #lobby bob');
  await alice.sync();
  t.false(alice.closed, 'the client from before the reload is still connected');
  bob.send('hello alice');
  await alice.waitForLine('MSG #lobby bob hello alice');

  // The new max-clients applies to the next connection: two are connected, so a third is refused.
  const third = await connectRaw(daemon.port);
  await third.waitForLine(/^ERR SERVER_FULL /);
  alice.end();
  bob.end();
});

test('SIGHUP with a broken file logs the error and keeps the running configuration', async (t) => {
  const dir = tempDir(t);
  const file = writeConfig(dir, 'motd = good MOTD\n');
  const daemon = await started(t, ['--config', file]);
  const alice = await register(daemon.port, 'alice');

  writeConfig(dir, 'motd = broken MOTD\ncolour = red\n');
  daemon.proc.kill('SIGHUP');
  const failed = await daemon.waitForLog(/error reload-failed /);
  t.true(failed.line.includes(`${file}:2: unknown key`), failed.line);
  t.regex(failed.line, /colour/);
  t.deepEqual(await motdSeenBy(daemon, 'bob'), ['NOTICE good MOTD'], 'the old MOTD is still in force');
  await alice.sync();
  t.false(alice.closed);

  // Once the file is fixed, the next reload applies it.
  writeConfig(dir, 'motd = fixed MOTD\n');
  daemon.proc.kill('SIGHUP');
  await daemon.waitForLog(/info reloaded changed=motd /, failed.next);
  t.deepEqual(await motdSeenBy(daemon, 'carol'), ['NOTICE fixed MOTD']);
  t.is(daemon.proc.exitCode, null, 'the daemon kept running throughout');
  alice.end();
});

test('SIGHUP re-reads --motd-file and applies a new nick-timeout to new connections only', async (t) => {
  const dir = tempDir(t);
  const motd = path.join(dir, 'motd.txt');
  fs.writeFileSync(motd, 'Monday notice\n');
  const file = writeConfig(dir, `motd-file = ${motd}\nnick-timeout = 60\n`);
  const daemon = await started(t, ['--config', file]);
  t.deepEqual(await motdSeenBy(daemon, 'early'), ['NOTICE Monday notice']);
  const waiting = await connect(daemon.port); // has not picked a nickname yet

  fs.writeFileSync(motd, 'Tuesday notice\n');
  writeConfig(dir, `motd-file = ${motd}\nnick-timeout = 1\n`);
  daemon.proc.kill('SIGHUP');
  await daemon.waitForLog(/info reloaded changed=motd,nick-timeout /);
  t.deepEqual(await motdSeenBy(daemon, 'late'), ['NOTICE Tuesday notice']);

  const slow = await connect(daemon.port);
  await slow.waitForLine(/^BYE /, 4000);
  await slow.waitClosed();
  t.false(waiting.closed, 'a connection made before the reload keeps the timeout it started with');
  waiting.send('patient');
  await waiting.waitForLine(/^OK NICK patient /);
  waiting.end();
});

test('SIGHUP applies a new log level', async (t) => {
  const dir = tempDir(t);
  const file = writeConfig(dir, 'log-level = info\n');
  const daemon = await started(t, ['--config', file]);
  (await register(daemon.port, 'before')).end();
  await daemon.waitForLog(/info register .*nick=before/);

  writeConfig(dir, 'log-level = warn\n');
  daemon.proc.kill('SIGHUP');
  const reloaded = await daemon.waitForLog(/info reloaded changed=log-level /);
  const after = await register(daemon.port, 'after');
  await after.sync();
  after.end();
  const later = daemon.stderr().slice(reloaded.next);
  t.notRegex(later, /info (connect|register) /, 'info events are no longer logged');
});
