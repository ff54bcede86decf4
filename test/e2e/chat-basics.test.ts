import test from 'ava';
import { connect, register } from '../helpers/client';
import { startDaemon, type Daemon } from '../helpers/daemon';

let daemon: Daemon;
test.before(async () => {
  daemon = await startDaemon();
});
test.after.always(async () => {
  await daemon?.stop();
});

test('a newcomer is greeted, picks a nickname with a plain line, and lands in #lobby', async (t) => {
  const c = await connect(daemon.port);
  t.regex(c.lines[0]!, /^HELLO mychatd\/\d+\.\d+\.\d+ .*nickname/);
  c.send('Newcomer1');
  t.is(await c.waitForLine(/^OK NICK/), 'OK NICK Newcomer1 Welcome, Newcomer1! Type /help for commands; plain lines go to your current room.');
  await c.waitForLine(/^ROOM #lobby \d+/);
  t.true((await c.waitForLine(/^NAMES #lobby /)).split(' ').includes('Newcomer1'));
  await c.waitForLine('OK JOIN #lobby Now talking in #lobby.');
  c.end();
});

test('room messages reach the other members live, not the sender', async (t) => {
  const a = await register(daemon.port, 'msgA');
  const b = await register(daemon.port, 'msgB');
  a.send('/join #msgroom');
  await a.waitForLine('OK JOIN #msgroom Now talking in #msgroom.');
  b.send('/join #msgroom');
  await a.waitForLine('JOIN #msgroom msgB');
  b.send('hello from b');
  t.is(await a.waitForLine(/^MSG #msgroom/), 'MSG #msgroom msgB hello from b');
  await b.sync();
  t.deepEqual(b.all(/^MSG /), []);
  a.end();
  b.end();
});
