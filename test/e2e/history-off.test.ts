import { existsSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { register } from '../helpers/client';
import { scratchDir, startDaemon } from '../helpers/daemon';

test('--history off: chat works, nothing is stored or replayed, /history and /search say NO_HISTORY, and no database is created', async (t) => {
  const dataDir = path.join(scratchDir(), 'never-created');
  const daemon = await startDaemon(['--history', 'off', '--data-dir', dataDir]);
  try {
    const alice = await register(daemon.port, 'offalice');
    const bob = await register(daemon.port, 'offbob');
    alice.send('/join #off');
    await alice.waitForLine('OK JOIN #off Now talking in #off.');
    alice.send('said once');
    alice.send('/history #off');
    t.is(await alice.waitForLine(/^ERR /), 'ERR NO_HISTORY This server keeps no history.');
    alice.send('/search #off said');
    t.is(await alice.waitForLine(/^ERR /), 'ERR NO_HISTORY This server keeps no history.');
    bob.send('/join #off');
    await bob.waitForLine('OK JOIN #off Now talking in #off.');
    t.deepEqual(bob.all(/^HISTORY /), [], 'joining replays nothing');
    bob.send('live now');
    t.is(await alice.waitForLine(/^MSG #off offbob/), 'MSG #off offbob live now');
    t.false(existsSync(dataDir), 'no data directory or database was created');
    alice.end();
    bob.end();
  } finally {
    await daemon.stop();
  }
});

test('--history accepts only on or off', async (t) => {
  await t.throwsAsync(startDaemon(['--history', 'maybe']), { message: /exited \(2\)[^]*history[^]*"on", "off"/ });
});
