import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connect, register, type TestClient } from '../helpers/client';
import { startDaemon, type Daemon } from '../helpers/daemon';

/*
 * Large rooms (--large-room) and the automatic join (--auto-join) against a real daemon over TCP.
 */

/** Starts a daemon for one test, stopped when it ends. */
async function started(t: ExecutionContext, args: string[]): Promise<Daemon> {
  const daemon = await startDaemon(args);
  t.teardown(() => void daemon.stop('SIGKILL'));
  return daemon;
}

/** Connects and sends `nick`, waiting for OK NICK and then for everything registration sent (a /ping round trip). */
async function registerOnly(port: number, nick: string): Promise<TestClient> {
  const client = await connect(port);
  client.send(nick);
  await client.waitForLine(new RegExp(`^OK NICK ${nick} `));
  await client.sync();
  return client;
}

test('--large-room 3: the 4th joiner gets ROOM and a NOTICE instead of NAMES, nobody sees its JOIN, PART or QUIT; back at 3 a PART is shown', async (t) => {
  const daemon = await started(t, ['--large-room', '3']);
  const a = await register(daemon.port, 'alice');
  const b = await register(daemon.port, 'bob');
  const c = await register(daemon.port, 'carol');
  await a.waitForLine('JOIN #lobby carol');
  await b.waitForLine('JOIN #lobby carol');

  const d = await register(daemon.port, 'dave');
  t.deepEqual(d.all(/^ROOM /), ['ROOM #lobby 4']);
  t.deepEqual(d.all(/^NAMES /), [], 'no NAMES for a large room');
  t.deepEqual(d.all(/^NOTICE /), [
    'NOTICE #lobby is a large room (4 members, more than 3): joins, parts, quits and nickname changes are not shown in it, and /who #lobby lists its members, 200 at a time.',
  ]);
  d.send('/part #lobby');
  await d.waitForLine(/^OK PART #lobby /);
  d.send('/join #lobby');
  await d.waitForLine('OK JOIN #lobby Now talking in #lobby.');
  d.send('/quit bye');
  await d.waitClosed();
  // dave's departure is handled before the pings that follow; nothing about dave reached the others.
  for (const member of [a, b, c]) {
    await member.sync();
    t.deepEqual(member.all(/dave/), [], 'no JOIN, PART or QUIT of dave');
  }

  // A message still reaches everyone.
  a.send('hello large room');
  await c.waitForLine('MSG #lobby alice hello large room');

  a.send('/who #lobby');
  t.is(await a.waitForLine(/^NAMES #lobby /), 'NAMES #lobby alice bob carol');
  t.is(await a.waitForLine(/^OK WHO /), 'OK WHO #lobby 3 in #lobby.');
  // At 3 members the room is not large: a part is shown again.
  c.send('/part #lobby later');
  t.is(await a.waitForLine(/^PART /), 'PART #lobby carol later');
  for (const client of [a, b, c]) client.end();
});

test('--auto-join "": registering answers OK NICK and joins no room', async (t) => {
  const daemon = await started(t, ['--auto-join', '']);
  const alone = await registerOnly(daemon.port, 'alone');
  t.deepEqual(alone.all(/^(ROOM|NAMES|JOIN|OK JOIN) /), []);
  alone.send('anyone?');
  t.regex(await alone.waitForLine(/^ERR /), /^ERR NO_CURRENT_ROOM /);
  alone.send('/join #lobby');
  await alone.waitForLine('OK JOIN #lobby Now talking in #lobby.');
  alone.end();
});

test('--auto-join #start: everyone registers into #start, which exists before anyone is in it', async (t) => {
  const daemon = await started(t, ['--auto-join', '#start']);
  const first = await registerOnly(daemon.port, 'first');
  t.true(first.all(/^OK JOIN /).includes('OK JOIN #start Now talking in #start.'));
  t.deepEqual(first.all(/#lobby/), [], 'no #lobby');
  const second = await registerOnly(daemon.port, 'second');
  t.deepEqual(second.all(/^NAMES /), ['NAMES #start first second']);
  await first.waitForLine('JOIN #start second');
  first.end();
  second.end();
});

test('SIGHUP applies a new large-room size from the configuration file at once', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mychat-large-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'mychatd.conf');
  fs.writeFileSync(file, 'large-room = 1\n');
  const daemon = await started(t, ['--config', file]);
  const a = await register(daemon.port, 'alice');
  const b = await register(daemon.port, 'bob');
  t.deepEqual(b.all(/^NAMES /), [], '2 members > 1: large');
  await a.sync();
  t.deepEqual(a.all(/bob/), []);

  fs.writeFileSync(file, 'large-room = 0\n');
  daemon.proc.kill('SIGHUP');
  await daemon.waitForLog(/info reloaded changed=large-room /);
  const c = await register(daemon.port, 'carol');
  t.deepEqual(c.all(/^NAMES /), ['NAMES #lobby alice bob carol']);
  await a.waitForLine('JOIN #lobby carol');
  for (const client of [a, b, c]) client.end();
});
