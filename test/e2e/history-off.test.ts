import Database from 'better-sqlite3';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { register, type TestClient } from '../helpers/client';
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

/** The texts of every stored message, read from the database file as an administrator would. */
function storedTexts(dataDir: string): string[] {
  const db = new Database(path.join(dataDir, 'history.sqlite3'), { readonly: true });
  try {
    return db.prepare('SELECT text FROM messages ORDER BY id').pluck().all() as string[];
  } finally {
    db.close();
  }
}

/** Sends `command` and returns the ERR or OK line that answers it. */
async function answer(client: TestClient, command: string): Promise<string> {
  client.send(command);
  return client.waitForLine(/^(ERR|OK) /);
}

test('--history-off-rooms: a listed room (matched by room key) stores and replays nothing and /history and /search say NO_HISTORY; others keep theirs; SIGHUP changes the list', async (t) => {
  const dataDir = scratchDir();
  const config = path.join(scratchDir(), 'mychatd.conf');
  writeFileSync(config, 'history-off-rooms = #Bots, #firehose\n');
  const daemon = await startDaemon(['--config', config, '--data-dir', dataDir]);
  t.teardown(() => daemon.stop());
  const alice = await register(daemon.port, 'offroomA');
  const bob = await register(daemon.port, 'offroomB');
  const noHistory = (room: string) => `ERR NO_HISTORY Nothing said in ${room} is stored on this server, so it has no history to show or search.`;

  // Created as #BOTS: the key is the same as that of #Bots in the list.
  alice.send('/join #BOTS');
  await alice.waitForLine('OK JOIN #BOTS Now talking in #BOTS.');
  alice.send('beep unkept');
  alice.send('/topic #BOTS unkept topic');
  await alice.waitForLine(/^OK TOPIC/);
  t.is(await answer(alice, '/history #BOTS'), noHistory('#BOTS'));
  t.is(await answer(alice, '/search #bots beep'), noHistory('#BOTS'));
  alice.send('/join #kept');
  await alice.waitForLine('OK JOIN #kept Now talking in #kept.');
  alice.send('kept words');
  t.is(await answer(alice, '/history #kept'), 'OK HISTORY #kept 1 stored message.');
  t.deepEqual(storedTexts(dataDir), ['kept words'], 'nothing said in #BOTS reached the database, not even its topic');

  bob.send('/join #bots');
  await bob.waitForLine('OK JOIN #BOTS Now talking in #BOTS.');
  t.deepEqual(bob.all(/^HIST/), [], 'joining #BOTS replays nothing');
  bob.send('/join #kept');
  await bob.waitForLine('OK JOIN #kept Now talking in #kept.');
  t.deepEqual(bob.all(/^HISTORY /).map((line) => line.replace(/^(HISTORY #kept )\d+ \S+ /, '$1')), ['HISTORY #kept offroomA MSG kept words']);

  // The list changes on SIGHUP: #kept is now off (what it stored stays in the file but is not shown), #BOTS on.
  writeFileSync(config, 'history-off-rooms = #kept\n');
  daemon.proc.kill('SIGHUP');
  await daemon.waitForLog(/info reloaded changed=history-off-rooms /);
  t.is(await answer(alice, '/history #kept'), noHistory('#kept'));
  alice.send('/join #BOTS');
  await alice.waitForLine(/^OK JOIN #BOTS/);
  alice.send('beep kept now');
  t.is(await answer(alice, '/search #BOTS beep'), 'OK SEARCH #BOTS 1 match.');
  t.deepEqual(alice.all(/^HISTORY #BOTS /).map((line) => line.split(' ').slice(4).join(' ')), ['offroomA MSG beep kept now']);
  bob.send('said after the reload');
  t.is(await alice.waitForLine(/^MSG #kept /), 'MSG #kept offroomB said after the reload', 'live chat in an off room is unchanged');
  await bob.sync();
  t.deepEqual(storedTexts(dataDir), ['kept words', 'beep kept now']);
  alice.end();
  bob.end();
});

test('--history-off-rooms refuses a name that is not a room', async (t) => {
  await t.throwsAsync(startDaemon(['--history-off-rooms', '#ok,lobby']), { message: /exited \(2\)[^]*history-off-rooms[^]*"lobby", which is not a valid room name/ });
});
