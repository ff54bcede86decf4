import test from 'ava';
import net from 'node:net';
import { ChatCore } from '../../lib/core/chat-core';
import { CommandTable } from '../../lib/core/command-table';
import { defaultCommands } from '../../lib/core/commands';
import { createLogger } from '../../lib/log';
import { ChatListener } from '../../lib/transport/tcp/tcp-listener';
import { connect, delay, register, TestClient } from '../helpers/client';
import { startDaemon, type Daemon } from '../helpers/daemon';

let daemon: Daemon;
test.before(async () => {
  daemon = await startDaemon(['--max-send-queue', '65536']);
});
test.after.always(async () => {
  await daemon?.stop();
});

test('two connections racing for one nickname: exactly one wins, the loser can pick another', async (t) => {
  for (let round = 0; round < 5; round++) {
    const [a, b] = await Promise.all([connect(daemon.port), connect(daemon.port)]);
    const nick = `Racer${round}`;
    a.send(nick);
    b.send(nick.toLowerCase());
    const [ra, rb] = await Promise.all([a.waitForLine(/^(OK NICK|ERR)/), b.waitForLine(/^(OK NICK|ERR)/)]);
    const outcomes = [ra, rb].map((line) => line.split(' ').slice(0, 2).join(' ')).sort();
    t.deepEqual(outcomes, ['ERR NICK_IN_USE', 'OK NICK']);
    const loser = ra.startsWith('ERR') ? a : b;
    loser.send(`${nick}x`);
    t.regex(await loser.waitForLine(/^OK NICK/), new RegExp(`^OK NICK ${nick}x `));
    a.end();
    b.end();
  }
});

test('EOF (Ctrl-D) and a reset both clean up: others are told and the nickname is free at once', async (t) => {
  const watcher = await register(daemon.port, 'watcher');
  const eof = await register(daemon.port, 'eofUser');
  eof.sendRaw('last words without newline');
  eof.end();
  t.is(await watcher.waitForLine(/^MSG #lobby eofUser/), 'MSG #lobby eofUser last words without newline', 'an unterminated last line is not lost');
  t.is(await watcher.waitForLine(/^QUIT eofUser/), 'QUIT eofUser Connection closed');
  const rst = await register(daemon.port, 'rstUser');
  rst.reset();
  t.is(await watcher.waitForLine(/^QUIT rstUser/), 'QUIT rstUser Connection lost');
  const again = await register(daemon.port, 'rstUser');
  t.pass('the nickname of a reset connection is immediately free');
  again.end();
  watcher.end();
});

test('a client that stops reading is dropped at its send-queue cap; the room is unaffected', async (t) => {
  const talker = await register(daemon.port, 'floodTalker');
  const listener = await register(daemon.port, 'floodListener');
  const slow = await register(daemon.port, 'slowReader');
  for (const c of [talker, listener, slow]) {
    c.send('/join #flood');
    await c.waitForLine(/^OK JOIN #flood/);
  }
  slow.socket.pause(); // stop reading: the kernel buffers fill, then the daemon's queue
  const payload = 'p'.repeat(4000);
  let quitLine: string | undefined;
  // Bounded: at most 20 000 lines (about 80 MB); loopback buffers plus the 64 KiB cap fill long before.
  for (let i = 0; i < 20_000 && quitLine === undefined; i++) {
    talker.send(`${i} ${payload}`);
    if (i % 50 === 49) {
      await talker.sync();
      quitLine = listener.all(/^QUIT slowReader/)[0];
    }
  }
  quitLine ??= await listener.waitForLine(/^QUIT slowReader/, 10_000);
  t.is(quitLine, 'QUIT slowReader Send queue exceeded');
  // The listener kept up and got every message in order; the talker is still connected.
  talker.send('after the drop');
  await listener.waitForLine('MSG #flood floodTalker after the drop', 10_000);
  const numbers = listener.all(/^MSG #flood floodTalker \d+ /).map((line) => Number(line.split(' ')[3]));
  t.true(numbers.every((n, i) => n === i), 'no message lost or reordered for the reader that kept up');
  t.false(talker.closed);
  talker.end();
  listener.end();
  slow.reset();
});

test('SIGTERM: stop accepting, tell every client, close, exit 0 quickly; nothing on stdout', async (t) => {
  const own = await startDaemon();
  const a = await register(own.port, 'stayA');
  const b = await connect(own.port);
  const started = Date.now();
  const code = await own.stop('SIGTERM');
  t.is(code, 0);
  t.true(Date.now() - started < 5000);
  t.is(await a.waitForLine(/^BYE/), 'BYE Server shutting down');
  t.is(await b.waitForLine(/^BYE/), 'BYE Server shutting down');
  await a.waitClosed();
  await b.waitClosed();
  await t.throwsAsync(connect(own.port));
  t.is(own.stdout(), '', 'the daemon writes nothing to stdout');
  for (const line of own.stderr().trim().split('\n')) t.regex(line, /^\d{4}-\d\d-\d\dT[\d:.]+Z (error|warn|info|debug) \S+/);
});

test('SIGINT shuts down the same way', async (t) => {
  const own = await startDaemon();
  const a = await register(own.port, 'intA');
  t.is(await own.stop('SIGINT'), 0);
  t.is(await a.waitForLine(/^BYE/), 'BYE Server shutting down');
});

test('--max-clients refuses the connection over the limit with SERVER_FULL', async (t) => {
  const own = await startDaemon(['--max-clients', '2']);
  const a = await connect(own.port);
  const b = await connect(own.port);
  const socket = net.connect(own.port, '127.0.0.1');
  const c = new TestClient(socket);
  t.regex(await c.waitForLine(/^ERR/), /^ERR SERVER_FULL .*try again in a minute/, 'the refusal says when to retry');
  await c.waitClosed();
  a.end();
  await a.waitClosed().catch(() => undefined);
  await delay(100);
  const d = await connect(own.port);
  t.pass('a slot frees up when a client leaves');
  b.end();
  d.end();
  await own.stop();
});

test('--max-per-address refuses one address its next connection with TOO_MANY_CONNECTIONS', async (t) => {
  const own = await startDaemon(['--max-per-address', '2']);
  const a = await connect(own.port);
  const b = await connect(own.port);
  const c = new TestClient(net.connect(own.port, '127.0.0.1'));
  t.regex(await c.waitForLine(/^ERR/), /^ERR TOO_MANY_CONNECTIONS .*try again in a minute/, 'the refusal says when to retry');
  t.is(await c.waitForLine(/^BYE/), 'BYE Too many connections');
  await c.waitClosed();
  // Another loopback address is another host, with its own allowance.
  const other = new TestClient(net.connect({ port: own.port, host: '127.0.0.1', localAddress: '127.0.0.2' }));
  await other.waitForLine(/^HELLO /);
  a.end();
  await a.waitClosed().catch(() => undefined);
  await delay(100);
  const d = await connect(own.port);
  t.pass('a slot frees up when a connection from that address closes');
  for (const x of [b, d, other]) x.end();
  await own.stop();
});

test('flood control paces a fast sender without losing lines', async (t) => {
  const own = await startDaemon(['--flood-burst', '5', '--flood-rate', '20']);
  const a = await register(own.port, 'fastA');
  const b = await register(own.port, 'fastB');
  const started = Date.now();
  for (let i = 0; i < 25; i++) a.send(`line ${i}`);
  for (let i = 0; i < 25; i++) await b.waitForLine(`MSG #lobby fastA line ${i}`, 10_000);
  // 5 in the burst, 20 more at 20 per second: about a second, never instantly.
  t.true(Date.now() - started >= 700, `took ${Date.now() - started} ms`);
  a.end();
  b.end();
  await own.stop();
});

test('a fault while handling one connection drops only that connection', async (t) => {
  const log: string[] = [];
  const boom = { name: 'boom', args: [], help: 'Throws (test only).', states: ['registered' as const], run: () => { throw new TypeError('kaboom'); } };
  const core = new ChatCore({ log: createLogger('info', (line) => log.push(line), false) }, new CommandTable([...defaultCommands, boom]));
  const listener = new ChatListener(core, { maxSendQueueBytes: 1 << 20, floodBurst: 10, floodRate: 0, log: core.options.log });
  await new Promise<void>((resolve) => listener.server.listen(0, '127.0.0.1', resolve));
  const port = (listener.server.address() as net.AddressInfo).port;
  const a = await register(port, 'victim');
  const b = await register(port, 'bystander');
  a.send('/boom');
  t.is(await a.waitForLine(/^BYE/), 'BYE Internal error; sorry. Please reconnect.');
  t.is(await b.waitForLine(/^QUIT victim/), 'QUIT victim Internal error');
  b.send('/ping still-alive');
  t.is(await b.waitForLine(/^PONG/), 'PONG still-alive');
  t.true(log.some((line) => /handler-fault .*kaboom/.test(line)));
  b.end();
  await listener.stopAccepting().catch(() => undefined);
  core.shutdown();
  await listener.drain(1000);
});
