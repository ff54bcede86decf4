import test, { type ExecutionContext } from 'ava';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { connect, register } from '../helpers/client';
import { DAEMON_JS, daemonEnv, scratchDir, startDaemon, waitForText } from '../helpers/daemon';
import { findBinary } from '../helpers/terminal';

/*
 * The daemon as a systemd service, without systemd as PID 1: the shipped units are checked with
 * systemd-analyze, socket activation runs through systemd-socket-activate, and a python3 datagram socket
 * stands in for systemd's notification socket.
 */

const UNIT_DIR = path.join(__dirname, '..', '..', 'systemd');

/** Where the shipped unit expects the globally installed daemon. */
const INSTALLED_MYCHATD = '/usr/bin/mychatd';

/** Fails the test (never skips it) when a tool is missing; .ci/run installs them on Debian. */
function requireTools(...names: string[]): void {
  const missing = names.filter((name) => findBinary(name) === undefined);
  if (missing.length > 0) {
    throw new Error(`needs ${missing.join(', ')} on PATH (${process.env.CI ? 'CI' : 'local run'}): install the Debian packages systemd and python3`);
  }
}

function tempDir(t: ExecutionContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mychat-systemd-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Kills a helper process when the test ends, if it is still running. */
function killAtEnd(t: ExecutionContext, proc: ChildProcess): void {
  t.teardown(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  });
}

/** The `Key=value` settings of a unit file, in order (a key may repeat). */
function unitSettings(file: string): Array<[string, string]> {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => /^[A-Za-z]+=/.test(line))
    .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]);
}

/**
 * Copies the units to `dir` with ExecStart pointing at an executable that exists here, since verify checks
 * that the command exists and mychatd is not installed globally on a test machine. Nothing else changes.
 */
function unitsForVerify(dir: string): string[] {
  const bin = path.join(dir, 'mychatd');
  fs.writeFileSync(bin, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(DAEMON_JS)} "$@"\n`, { mode: 0o755 });
  const service = fs.readFileSync(path.join(UNIT_DIR, 'mychatd.service'), 'utf8');
  const rewritten = service.replace(`ExecStart=${INSTALLED_MYCHATD}\n`, `ExecStart=${bin}\n`);
  if (rewritten === service) throw new Error(`mychatd.service no longer starts ${INSTALLED_MYCHATD}`);
  fs.writeFileSync(path.join(dir, 'mychatd.service'), rewritten);
  fs.copyFileSync(path.join(UNIT_DIR, 'mychatd.socket'), path.join(dir, 'mychatd.socket'));
  return [path.join(dir, 'mychatd.service'), path.join(dir, 'mychatd.socket')];
}

// Tests that block this process with spawnSync run serially (before the concurrent ones), so they never
// hold up another test's daemon start on a busy machine.
test.serial('the shipped units pass systemd-analyze verify without a single warning', (t) => {
  requireTools('systemd-analyze');
  const units = unitsForVerify(tempDir(t));
  const result = spawnSync('systemd-analyze', ['verify', '--man=no', ...units], { encoding: 'utf8', timeout: 30_000 });
  t.is(result.stderr, '', 'verify prints nothing (unknown keys only warn, so any output counts)');
  t.is(result.status, 0);
});

test.serial('the service is hardened: systemd-analyze security exposure is at most 1.5', (t) => {
  requireTools('systemd-analyze');
  const [service] = unitsForVerify(tempDir(t));
  const result = spawnSync('systemd-analyze', ['security', '--offline=true', '--threshold=15', '--no-pager', service!], { encoding: 'utf8', timeout: 30_000 });
  const score = /Overall exposure level for mychatd\.service: (\d+\.\d)/.exec(result.stdout);
  t.truthy(score, result.stdout + result.stderr);
  t.log(`exposure ${score![1]} (a bare unit scores 9.6)`);
  t.true(Number(score![1]) <= 1.5);
  t.is(result.status, 0, 'under the threshold');
});

test.serial('the service unit runs mychatd the way the daemon expects', (t) => {
  const settings = unitSettings(path.join(UNIT_DIR, 'mychatd.service'));
  const get = (key: string): string[] => settings.filter(([k]) => k === key).map(([, v]) => v);
  t.deepEqual(get('ExecStart'), [INSTALLED_MYCHATD]);
  // Readiness comes from a child (systemd-notify) once the port is open; reload is our SIGHUP handler.
  t.deepEqual(get('Type'), ['notify']);
  t.deepEqual(get('NotifyAccess'), ['all']);
  t.deepEqual(get('ExecReload'), ['kill -HUP $MAINPID']);
  // $STATE_DIRECTORY and $CONFIGURATION_DIRECTORY are what --data-dir and --config default to.
  t.deepEqual(get('StateDirectory'), ['mychat']);
  t.deepEqual(get('ConfigurationDirectory'), ['mychat']);
  t.deepEqual(get('DynamicUser'), ['yes']);
  t.deepEqual(get('Restart'), ['on-failure']);
  t.true(Number(get('LimitNOFILE')[0]) >= 50_000, 'room for tens of thousands of clients');
  t.deepEqual(get('MemoryDenyWriteExecute'), [], 'V8 needs writable executable memory');
  t.deepEqual(unitSettings(path.join(UNIT_DIR, 'mychatd.socket')).filter(([k]) => k === 'ListenStream'), [['ListenStream', '7777']]);
});

/** Ports that were free a moment ago (systemd-socket-activate cannot listen on port 0). */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<net.Server>((resolve) => {
      const server = net.createServer();
      server.listen(0, '127.0.0.1', () => resolve(server));
    })),
  );
  const ports = servers.map((server) => (server.address() as net.AddressInfo).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

/** systemd-socket-activate listening on two ports, waiting to start the daemon on the first connection. */
async function activate(t: ExecutionContext): Promise<{ proc: ChildProcess; ports: number[]; stderr: () => string }> {
  // Another process may take a port between freePorts and the bind; a few fresh attempts settle that.
  for (let attempt = 1; ; attempt++) {
    const ports = await freePorts(2);
    const proc = spawn(
      'systemd-socket-activate',
      [...ports.flatMap((port) => ['-l', `127.0.0.1:${port}`]), process.execPath, DAEMON_JS, '--config', '', '--flood-rate', '0', '--data-dir', scratchDir()],
      { env: daemonEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    killAtEnd(t, proc);
    let err = '';
    proc.stderr!.setEncoding('utf8').on('data', (text: string) => (err += text));
    const exited = new Promise<string>((resolve) => proc.on('exit', (code) => resolve(`exited with ${code}`)));
    const outcome = await Promise.race([waitForText(() => err, new RegExp(`Listening on 127\\.0\\.0\\.1:${ports[1]} as 4`)).then(() => 'ready'), exited]);
    if (outcome === 'ready') return { proc, ports, stderr: () => err };
    if (attempt === 3) throw new Error(`systemd-socket-activate failed: ${err}`);
  }
}

test('socket activation: the first connection starts the daemon, which serves every socket systemd passed', async (t) => {
  requireTools('systemd-socket-activate');
  const { proc, ports, stderr } = await activate(t);
  // Nothing runs mychatd yet: this connection waits in the kernel's queue until the daemon takes it.
  const alice = await register(ports[0]!, 'alice');
  const bob = await register(ports[1]!, 'bob');
  await alice.waitForLine('JOIN #lobby bob');
  bob.send('hello over the second socket');
  await alice.waitForLine('MSG #lobby bob hello over the second socket');
  alice.send('/msg bob and over the first');
  await bob.waitForLine('PRIVMSG alice and over the first');

  const first = await waitForText(stderr, new RegExp(`listening host=127\\.0\\.0\\.1 port=${ports[0]} fd=3 activation=systemd`));
  t.truthy(first);
  t.truthy(await waitForText(stderr, new RegExp(`listening host=127\\.0\\.0\\.1 port=${ports[1]} fd=4 activation=systemd`)));

  const exited = new Promise((resolve) => proc.on('exit', (code) => resolve(code)));
  proc.kill('SIGTERM');
  await alice.waitForLine('BYE Server shutting down');
  await bob.waitForLine('BYE Server shutting down');
  t.is(await exited, 0);
});

test('LISTEN_FDS meant for another process is ignored: the daemon binds its own port', async (t) => {
  const daemon = await startDaemon([], { LISTEN_FDS: '1', LISTEN_PID: '1' });
  t.teardown(() => void daemon.stop('SIGKILL'));
  t.notRegex(daemon.stderr(), /activation=systemd/);
  const carol = await register(daemon.port, 'carol');
  carol.end();
});

/** A python3 one-liner standing in for systemd's notification socket: prints each datagram as JSON. */
const NOTIFY_RECEIVER = [
  'import json, socket, sys',
  's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
  's.bind(sys.argv[1])',
  's.settimeout(30)',
  "print('bound', flush=True)",
  // recv() takes no ancillary data, so the kernel closes the fd systemd-notify's BARRIER=1 passes, as systemd does.
  'for _ in range(50): print(json.dumps(s.recv(65536).decode()), flush=True)',
].join('\n');

test('readiness: with NOTIFY_SOCKET set, READY=1 arrives once the port accepts clients', async (t) => {
  requireTools('systemd-notify', 'python3');
  const dir = tempDir(t);
  const socketPath = path.join(dir, 'notify.sock');
  const receiver = spawn('python3', ['-c', NOTIFY_RECEIVER, socketPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  killAtEnd(t, receiver);
  let received = '';
  receiver.stdout!.setEncoding('utf8').on('data', (text: string) => (received += text));
  receiver.stderr!.setEncoding('utf8').on('data', (text: string) => (received += text));
  await waitForText(() => received, /^bound$/);

  const starting = startDaemon([], { NOTIFY_SOCKET: socketPath });
  const ready = await waitForText(() => received, /READY=1/, 0, 10_000);
  const message = JSON.parse(ready.line) as string;
  const port = /STATUS=Listening on port (\d+)/.exec(message);
  t.truthy(port, message);
  // What systemd's ordering promises units started after us: the port works the moment READY=1 arrives.
  const dave = await register(Number(port![1]), 'dave');
  dave.end();

  const daemon = await starting;
  t.is(daemon.port, Number(port![1]));
  await daemon.stop();
  t.notRegex(daemon.stderr(), /notify-failed/);
  t.is(daemon.stdout(), '');
});

test('logging: with stderr on the journal, lines carry <N> priorities and no timestamp of our own', async (t) => {
  const dir = tempDir(t);
  const logFile = path.join(dir, 'stderr.log');
  const fd = fs.openSync(logFile, 'w');
  const stat = fs.fstatSync(fd, { bigint: true });
  const proc = spawn(process.execPath, [DAEMON_JS, '--host', '127.0.0.1', '--port', '0', '--max-clients', '1'], {
    env: daemonEnv({ JOURNAL_STREAM: `${stat.dev}:${stat.ino}` }),
    stdio: ['ignore', 'ignore', fd],
  });
  fs.closeSync(fd);
  killAtEnd(t, proc);
  const read = (): string => fs.readFileSync(logFile, 'utf8');
  const listening = await waitForText(read, /^<6>listening .*port=(\d+)/);
  const port = Number(listening.match[1]);

  const erin = await register(port, 'erin');
  const refused = net.connect({ port, host: '127.0.0.1' });
  t.teardown(() => refused.destroy());
  await waitForText(read, /^<4>refused .*reason="server full"/);
  erin.end();
  await waitForText(read, /^<6>disconnect /);

  const lines = read().trimEnd().split('\n');
  for (const line of lines) {
    // journalctl -p warning shows <4> and more severe; journald stamps the time itself.
    t.regex(line, /^<[3467]>[a-z-]+( |$)/);
    t.notRegex(line, /\d{4}-\d\d-\d\dT\d\d:/);
  }
});

test('logging: elsewhere, lines start with a timestamp and the level, even if JOURNAL_STREAM was inherited', async (t) => {
  // The variable names a stream that is not our stderr, as in a shell started from a service.
  const daemon = await startDaemon([], { JOURNAL_STREAM: '8:123456' });
  t.teardown(() => void daemon.stop('SIGKILL'));
  const client = await connect(daemon.port);
  client.end();
  await daemon.stop();
  const lines = daemon.stderr().trimEnd().split('\n');
  t.true(lines.length >= 3);
  for (const line of lines) t.regex(line, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (error|warn|info|debug) [a-z-]+/);
});
