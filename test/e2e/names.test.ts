import test from 'ava';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { connect, register, TestClient } from '../helpers/client';
import { scratchDir, startDaemon, type Daemon } from '../helpers/daemon';

/*
 * Look-alike, invisible, reserved and held nicknames over real TCP. "Another address" is 127.0.0.2:
 * the whole of 127/8 is loopback on Linux, so a socket bound to it reaches the daemon on 127.0.0.1
 * and the daemon sees a different remote address.
 */

let daemon: Daemon;
test.before(async () => {
  daemon = await startDaemon();
});
test.after.always(async () => {
  await daemon?.stop();
});

/** Connects to the daemon from `localAddress` and waits for HELLO. */
async function connectFrom(port: number, localAddress: string): Promise<TestClient> {
  const socket = net.connect({ port, host: '127.0.0.1', localAddress });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const client = new TestClient(socket);
  await client.waitForLine(/^HELLO /);
  // The tests mean something only if the kernel really used the address asked for.
  if (socket.localAddress !== localAddress) throw new Error(`socket bound to ${String(socket.localAddress)}, not ${localAddress}`);
  return client;
}

/** Sends a proposed nickname and returns the server's answer to it. */
async function propose(client: TestClient, nick: string): Promise<string> {
  client.send(nick);
  return client.waitForLine(/^(OK NICK|ERR) /);
}

test('while alice is online, each look-alike is refused with NICK_IN_USE naming alice', async (t) => {
  const alice = await register(daemon.port, 'alice');
  const other = await connectFrom(daemon.port, '127.0.0.2');
  const lookAlikes: Record<string, string> = {
    'Cyrillic а': '\u0430lice',
    'Cyrillic е': 'alic\u0435',
    'Cyrillic і': 'al\u0456ce',
    'Greek Α': '\u0391lice',
    'Latin alpha ɑ': '\u0251lice',
    'capital I for l': 'aIice',
    'invisible U+034F': 'alice\u034f',
    'invisible U+FE0F': 'alice\ufe0f',
    'invisible U+180B': 'alice\u180b',
  };
  for (const [what, nick] of Object.entries(lookAlikes)) {
    t.is(await propose(other, nick), `ERR NICK_IN_USE The nickname ${nick} looks like alice, who is online; pick another.`, what);
  }
  t.is(
    await propose(other, '\u3164\u3164\u3164'),
    'ERR NICK_INVALID Invalid nickname: a nickname cannot contain invisible characters (it has U+3164).',
    'a name of Hangul fillers only shows as nothing',
  );
  t.regex(await propose(other, 'alicia'), /^OK NICK alicia /, 'the connection is still usable');
  alice.end();
  other.end();
});

test('reserved names and their look-alikes get NICK_RESERVED naming the reserved name', async (t) => {
  const c = await connect(daemon.port);
  t.is(await propose(c, 'admin'), 'ERR NICK_RESERVED The nickname admin is reserved; pick another.');
  t.is(await propose(c, 'R00T'), 'ERR NICK_RESERVED The nickname R00T looks like the reserved name root; pick another.');
  t.is(await propose(c, 'n\u0456ckserv'), 'ERR NICK_RESERVED The nickname n\u0456ckserv looks like the reserved name nickserv; pick another.');
  t.regex(await propose(c, 'adminfan'), /^OK NICK adminfan /);
  c.end();
});

test('after bob resets his connection his nickname is held: another address is told, his address gets bob back', async (t) => {
  const watcher = await register(daemon.port, 'holdWatcher');
  const bob = await register(daemon.port, 'bob');
  bob.reset();
  await watcher.waitForLine('QUIT bob Connection lost');
  const stranger = await connectFrom(daemon.port, '127.0.0.2');
  t.regex(
    await propose(stranger, 'bob'),
    /^ERR NICK_RESERVED The nickname bob is held for someone who just disconnected, for (60|59|58) more seconds; pick another\.$/,
  );
  t.regex(await propose(stranger, 'B\u043eb'), /^ERR NICK_RESERVED The nickname bob is held /, 'a look-alike is refused too');
  const back = await connect(daemon.port);
  t.regex(await propose(back, 'bob'), /^OK NICK bob /, 'the same address takes the nickname back');
  await watcher.waitForLine(/^JOIN #lobby bob$/);
  t.regex(await propose(stranger, 'bob'), /^ERR NICK_IN_USE The nickname bob is taken/);

  const carol = await register(daemon.port, 'carol');
  carol.send('/quit');
  await watcher.waitForLine(/^QUIT carol Quit/);
  t.regex(await propose(stranger, 'carol'), /^OK NICK carol /, 'after /quit the nickname is free for anyone at once');
  for (const c of [watcher, back, stranger]) c.end();
});

test('--reserved-nicks and --nick-hold come from the configuration and a SIGHUP changes them', async (t) => {
  const dir = scratchDir();
  const file = path.join(dir, 'mychatd.conf');
  fs.writeFileSync(file, 'reserved-nicks = boss, Chief\nnick-hold = 0\n');
  const d = await startDaemon(['--config', file]);
  t.teardown(() => d.stop());
  const c = await connect(d.port);
  t.is(await propose(c, 'b0ss'), 'ERR NICK_RESERVED The nickname b0ss looks like the reserved name boss; pick another.');
  const dave = await register(d.port, 'dave');
  dave.reset();
  const stranger = await connectFrom(d.port, '127.0.0.2');
  t.regex(await propose(stranger, 'dave'), /^OK NICK dave /, 'nick-hold 0 holds nothing');

  fs.writeFileSync(file, 'reserved-nicks = chief\nnick-hold = 30\n');
  const from = d.stderr().length;
  d.proc.kill('SIGHUP');
  await d.waitForLog(/info reloaded changed=reserved-nicks,nick-hold /, from);
  t.regex(await propose(c, 'admin'), /^OK NICK admin /, 'the defaults no longer apply: the file replaced the list');
  c.send('/nick boss');
  t.regex(await c.waitForLine(/^(OK NICK|ERR) /), /^OK NICK boss /, 'boss is free after the reload');
  const erin = await register(d.port, 'erin');
  erin.reset();
  const other = await connectFrom(d.port, '127.0.0.2');
  t.regex(await propose(other, 'erin'), /for (30|29|28) more seconds/, 'the new hold time applies to the next disconnect');
  t.is(await propose(other, 'CHIEF'), 'ERR NICK_RESERVED The nickname chief is reserved; pick another.');
  for (const x of [c, stranger, other]) x.end();
});
