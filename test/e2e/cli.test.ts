import test from 'ava';
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import { register } from '../helpers/client';
import { DAEMON_JS, scratchDir, startDaemon } from '../helpers/daemon';
import { packageVersion } from '../../lib/version';

function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [DAEMON_JS, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH, MYCHATD_DATA_DIR: scratchDir(), ...env }, timeout: 10_000 });
}

// Tests that block this process with spawnSync run serially (before the concurrent ones), so they never
// hold up another test's daemon start on a busy machine.
test.serial('--help lists every option with its environment variable and exits 0', (t) => {
  const result = run(['--help']);
  t.is(result.status, 0);
  for (const option of ['--host', '--port', '--max-clients', '--motd', '--log-level', '--nick-timeout', '--max-send-queue', '--flood-burst', '--flood-rate', '--help', '--version']) {
    t.true(result.stdout.includes(option), `help mentions ${option}`);
  }
  t.true(result.stdout.includes('MYCHATD_PORT'));
});

test.serial('--version prints the package version', (t) => {
  const result = run(['--version']);
  t.is(result.status, 0);
  t.is(result.stdout.trim(), packageVersion());
});

test.serial('invalid options get a clear message on stderr and exit status 2', (t) => {
  for (const [args, pattern] of [
    [['--port', 'seven'], /--port must be a whole number/],
    [['--port', '70000'], /--port must be a whole number from 0 to 65535/],
    [['--max-clients', '0'], /--max-clients/],
    [['--log-level', 'loud'], /log-level/],
    [['--auto-join', 'lobby'], /--auto-join must be empty \(no automatic join\) or a room name: a room name starts with #/],
    [['--large-room', '-1'], /--large-room must be a whole number from 0/],
    [['--colour'], /Unknown argument/i],
    [['stray'], /unexpected argument|Unknown argument/i],
  ] as const) {
    const result = run([...args]);
    t.is(result.status, 2, args.join(' '));
    t.regex(result.stderr, pattern);
    t.is(result.stdout, '');
  }
});

test.serial('an invalid environment variable is rejected like the option', (t) => {
  const result = run([], { MYCHATD_PORT: 'abc' });
  t.is(result.status, 2);
  t.regex(result.stderr, /--port must be a whole number/);
});

test('options can come from MYCHATD_* environment variables', async (t) => {
  const daemon = await startDaemon([], { MYCHATD_MOTD: 'Hello from the environment' });
  const c = await register(daemon.port, 'envUser');
  t.truthy(c.all('NOTICE Hello from the environment')[0]);
  c.end();
  await daemon.stop();
});

test.serial('a port already in use is a clear error and exit status 1', async (t) => {
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const port = (blocker.address() as net.AddressInfo).port;
  const result = run(['--host', '127.0.0.1', '--port', String(port)]);
  blocker.close();
  t.is(result.status, 1);
  t.regex(result.stderr, /listen-failed .*EADDRINUSE/);
});
