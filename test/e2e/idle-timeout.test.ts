import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { register, type TestClient } from '../helpers/client';
import { scratchDir, startDaemon } from '../helpers/daemon';

/**
 * The idle timeout the tests use: long enough that the active user's pings, 100 ms apart, never leave a
 * gap that long even on a loaded machine, short enough for a quick test.
 */
const TIMEOUT_S = 4;

/** Keeps `client` active with /ping, 100 ms apart, until `done()` (at most `max` pings), as a user who is there would be. */
async function pingUntil(client: TestClient, done: () => boolean, max = 150): Promise<number> {
  let sent = 0;
  while (!done() && sent < max) {
    client.send(`/ping keep${sent}`);
    await client.waitForLine(`PONG keep${sent}`);
    sent++;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return sent;
}

test('--idle-timeout disconnects a silent registered user with BYE, others see QUIT Idle timeout, and a user who pings stays', async (t) => {
  const daemon = await startDaemon(['--idle-timeout', String(TIMEOUT_S)]);
  t.teardown(() => void daemon.stop('SIGKILL'));
  const quiet = await register(daemon.port, 'quiet');
  const active = await register(daemon.port, 'active');
  // The QUIT may come before or after a PONG, so look at every line, not just those after the cursor.
  await pingUntil(active, () => active.all('QUIT quiet Idle timeout').length > 0);
  t.deepEqual(active.all(/^QUIT /), ['QUIT quiet Idle timeout']);
  await quiet.waitClosed();
  t.is(quiet.all(/^BYE /)[0], `BYE Idle timeout: nothing received from you for ${TIMEOUT_S} seconds.`);
  await active.sync();
  t.false(active.closed, 'pinging every 100 ms kept the other user connected');
  await daemon.waitForLog(/disconnect .*nick=quiet reason="Idle timeout"/);
  active.end();
});

test('SIGHUP turns the idle timeout on for users already connected', async (t) => {
  const dir = scratchDir();
  const file = path.join(dir, 'mychatd.conf');
  fs.writeFileSync(file, 'idle-timeout = 0\n');
  const daemon = await startDaemon(['--config', file]);
  t.teardown(() => void daemon.stop('SIGKILL'));
  const early = await register(daemon.port, 'early');
  const active = await register(daemon.port, 'active');
  // The active user keeps talking from before the reload, so only the silent one can time out.
  const pinging = pingUntil(active, () => active.all('QUIT early Idle timeout').length > 0);
  fs.writeFileSync(file, `idle-timeout = ${TIMEOUT_S}\n`);
  daemon.proc.kill('SIGHUP');
  await daemon.waitForLog(/info reloaded changed=idle-timeout /);
  await pinging;
  t.deepEqual(active.all(/^QUIT /), ['QUIT early Idle timeout']);
  await early.waitClosed();
  t.is(early.all(/^BYE /)[0], `BYE Idle timeout: nothing received from you for ${TIMEOUT_S} seconds.`);
  await active.sync();
  t.false(active.closed);
  active.end();
});
