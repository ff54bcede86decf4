import test from 'ava';
import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { register, type TestClient } from '../helpers/client';
import { DAEMON_JS, startDaemon } from '../helpers/daemon';
import { copyRuntime } from '../helpers/runtime';

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mychat-history-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const HISTORY_LINE = /^HISTORY (#\S+) (\d+) (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) (\S+) (MSG|ACTION|TOPIC) ?(.*)$/;

/** Joins a room and returns the replayed HISTORY lines, checking they end with HISTEND before OK JOIN. */
async function joinAndCollect(c: TestClient, room: string): Promise<string[]> {
  const start = c.lines.length;
  c.send(`/join ${room}`);
  await c.waitForLine(`OK JOIN ${room} Now talking in ${room}.`);
  const reply = c.lines.slice(start);
  const histend = reply.findIndex((line) => line.startsWith(`HISTEND ${room} `));
  const history = reply.filter((line) => line.startsWith('HISTORY '));
  if (history.length > 0) {
    if (histend < 0 || reply.findIndex((l) => l.startsWith('HISTORY ')) > histend) throw new Error(`no HISTEND after history: ${JSON.stringify(reply)}`);
  }
  return history;
}

test('rooms, topics and history survive a restart; joining replays the last N, marked as history', async (t) => {
  const dataDir = tempDir(t);
  const first = await startDaemon(['--data-dir', dataDir, '--history-replay', '3']);
  const a = await register(first.port, 'histA');
  a.send('/join #keep');
  await a.waitForLine(/^OK JOIN #keep/);
  a.send('/topic #keep Persistent topic');
  await a.waitForLine(/^OK TOPIC/);
  for (let i = 1; i <= 5; i++) a.send(`message ${i}`);
  a.send('/me waves goodbye');
  await a.sync();
  a.send('/part #keep');
  await a.waitForLine(/^OK PART/);
  a.send('/join #quiet');
  await a.waitForLine(/^OK JOIN #quiet/);
  a.send('/part #quiet');
  await a.waitForLine(/^OK PART #quiet/);
  a.send('/rooms');
  t.is(await a.waitForLine(/^ROOM #keep/), 'ROOM #keep 0 Persistent topic', 'an empty room with history is still listed');
  a.end();
  t.is(await first.stop(), 0);

  const second = await startDaemon(['--data-dir', dataDir, '--history-replay', '3']);
  const b = await register(second.port, 'histB');
  b.send('/rooms');
  t.is(await b.waitForLine(/^ROOM #keep/), 'ROOM #keep 0 Persistent topic');
  t.is(await b.waitForLine(/^ROOM #quiet/), 'ROOM #quiet 0', 'a room nobody spoke in persists too');
  const replay = await joinAndCollect(b, '#keep');
  t.is(replay.length, 3);
  const parsed = replay.map((line) => HISTORY_LINE.exec(line)!);
  t.true(parsed.every(Boolean), replay.join('\n'));
  t.deepEqual(parsed.map((m) => [m[1], m[4], m[5], m[6]]), [
    ['#keep', 'histA', 'MSG', 'message 4'],
    ['#keep', 'histA', 'MSG', 'message 5'],
    ['#keep', 'histA', 'ACTION', 'waves goodbye'],
  ]);
  t.true(Math.abs(Date.parse(parsed[0]![3]!) - Date.now()) < 120_000, 'original UTC time');
  t.true(Number(parsed[0]![2]) < Number(parsed[1]![2]), 'ids increase');
  b.send('live now');
  await b.sync();
  t.deepEqual(b.all(/^MSG /), [], 'history never arrives as MSG lines');
  b.end();
  await second.stop();
});

test('/history pages back with "before", /search finds words newest first, /replay off stops replay', async (t) => {
  const dataDir = tempDir(t);
  const d = await startDaemon(['--data-dir', dataDir]);
  const a = await register(d.port, 'pagerA');
  a.send('/join #pages');
  await a.waitForLine(/^OK JOIN #pages/);
  for (let i = 0; i < 30; i++) a.send(i % 10 === 0 ? `release notes ${i}` : `chatter ${i}`);
  await a.sync();
  a.send('/history #pages 10');
  await a.waitForLine(/^OK HISTORY #pages/);
  const page1 = a.all(/^HISTORY #pages/).map((l) => HISTORY_LINE.exec(l)!);
  t.deepEqual(page1.map((m) => m[6]), Array.from({ length: 10 }, (_, i) => `chatter ${20 + i}`.replace('chatter 20', 'release notes 20')));
  const histend = a.all(/^HISTEND #pages/)[0]!;
  t.regex(histend, new RegExp(`^HISTEND #pages 10 Older: /history #pages 10 before ${page1[0]![2]}$`));
  const before = a.lines.length;
  a.send(`/history #pages 10 before ${page1[0]![2]}`);
  await a.waitForLine(/^OK HISTORY #pages/);
  const page2 = a.lines.slice(before).filter((l) => l.startsWith('HISTORY ')).map((l) => HISTORY_LINE.exec(l)![6]);
  t.deepEqual(page2, Array.from({ length: 10 }, (_, i) => (i === 0 ? 'release notes 10' : `chatter ${10 + i}`)));

  const beforeSearch = a.lines.length;
  a.send('/search #pages RELEASE not');
  await a.waitForLine(/^OK SEARCH #pages 3/);
  const found = a.lines.slice(beforeSearch).filter((l) => l.startsWith('HISTORY ')).map((l) => HISTORY_LINE.exec(l)![6]);
  t.deepEqual(found, ['release notes 20', 'release notes 10', 'release notes 0']);
  a.send('/search #pages !!!');
  t.regex(await a.waitForLine(/^ERR/), /^ERR BAD_ARGS /);
  a.send('/history #pages 0');
  t.regex(await a.waitForLine(/^ERR/), /^ERR BAD_ARGS /);
  a.send('/history #pages 5 after 3');
  t.is(await a.waitForLine(/^ERR/), 'ERR BAD_ARGS Usage: /history [#ROOM] [N] [before ID]');
  a.send('/history #nosuchroom');
  t.regex(await a.waitForLine(/^ERR/), /^ERR NO_SUCH_ROOM /);

  const b = await register(d.port, 'pagerB');
  b.send('/replay off');
  t.is(await b.waitForLine(/^OK REPLAY/), 'OK REPLAY off Joining a room replays no history.');
  t.deepEqual(await joinAndCollect(b, '#pages'), []);
  t.deepEqual(b.all(/^HISTEND/), []);
  a.end();
  b.end();
  await d.stop();
});

test('--history-replay 0 turns replay off; retention keeps the newest --history-max-messages per room', async (t) => {
  const dataDir = tempDir(t);
  const d = await startDaemon(['--data-dir', dataDir, '--history-replay', '0']);
  const a = await register(d.port, 'retainA');
  a.send('/join #retain');
  await a.waitForLine(/^OK JOIN #retain/);
  for (let i = 0; i < 25; i++) a.send(`r${i}`);
  await a.sync();
  const b = await register(d.port, 'retainB');
  t.deepEqual(await joinAndCollect(b, '#retain'), []);
  a.end();
  b.end();
  await d.stop();

  // Retention runs at start-up (and every few minutes after).
  const again = await startDaemon(['--data-dir', dataDir, '--history-max-messages', '10']);
  const c = await register(again.port, 'retainC');
  const replay = await joinAndCollect(c, '#retain');
  t.deepEqual(replay.map((l) => HISTORY_LINE.exec(l)![6]), Array.from({ length: 10 }, (_, i) => `r${15 + i}`));
  c.send('/history #retain 50');
  await c.waitForLine(/^OK HISTORY #retain/);
  t.regex(c.all(/^HISTEND #retain/).pop()!, /^HISTEND #retain 10 Start of history\.$/);
  c.end();
  await again.stop();
});

test('kill -9 during a stream of messages: after restart the history is an exact, ordered prefix with nothing acknowledged missing', async (t) => {
  const dataDir = tempDir(t);
  const d = await startDaemon(['--data-dir', dataDir]);
  const a = await register(d.port, 'crashA');
  a.send('/join #crash');
  await a.waitForLine(/^OK JOIN #crash/);
  let acknowledged = -1;
  let sent = 0;
  let midStream: () => void = () => undefined;
  const twoBatchesIn = new Promise<void>((resolve) => (midStream = resolve));
  // Stream numbered messages; every 50 a /ping whose PONG proves the ones before it were handled.
  const streaming = (async () => {
    for (let batch = 0; batch < 200; batch++) {
      let chunk = '';
      for (let k = 0; k < 50; k++) chunk += `seq ${sent++}\r\n`;
      a.sendRaw(chunk);
      const last = sent - 1;
      try {
        await a.sync();
      } catch {
        return;
      }
      acknowledged = last;
      if (batch === 1) midStream();
    }
  })();
  // Kill it in the middle of the stream: once two batches were acknowledged and the third is on its way.
  await twoBatchesIn;
  d.proc.kill('SIGKILL');
  await d.exited;
  await streaming;
  t.true(acknowledged >= 0, 'some messages were acknowledged before the kill');

  const db = new Database(path.join(dataDir, 'history.sqlite3'), { readonly: true, fileMustExist: true });
  t.is(db.pragma('integrity_check', { simple: true }), 'ok');
  db.close();
  const again = await startDaemon(['--data-dir', dataDir]);
  const check = new Database(path.join(dataDir, 'history.sqlite3'), { readonly: true });
  const texts = check.prepare('SELECT text FROM messages ORDER BY id').pluck().all() as string[];
  check.close();
  const numbers = texts.map((text) => Number(text.split(' ')[1]));
  t.deepEqual(numbers, Array.from({ length: numbers.length }, (_, i) => i), 'an exact prefix: in order, no gaps, no duplicates');
  t.true(numbers.length - 1 >= acknowledged, `every acknowledged message is stored (${numbers.length} stored, ${acknowledged} acknowledged)`);
  await again.stop();
});

// The tests below block this process with spawnSync (and a copy of the runtime): serial tests run
// before the concurrent ones, so they never hold up another test's daemon start.
test.serial('a data directory that cannot be written is a clear error at start', (t) => {
  const dir = tempDir(t);
  writeFileSync(path.join(dir, 'a-file'), '');
  const result = spawnSync(process.execPath, [DAEMON_JS, '--port', '0', '--data-dir', path.join(dir, 'a-file', 'data')], { encoding: 'utf8', timeout: 10_000 });
  t.is(result.status, 1);
  t.regex(result.stderr, /data directory .*a-file\/data is not writable/);

  // The same as an unprivileged user facing a read-only directory (root could write anywhere). That user
  // runs a copy of the daemon in a world-readable folder: it may not be able to enter the checkout's.
  const readOnly = path.join(dir, 'read-only');
  mkdirSync(readOnly);
  chmodSync(dir, 0o755);
  chmodSync(readOnly, 0o555);
  const runtime = copyRuntime(tempDir(t));
  const asNobody = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, runtime.daemon, '--port', '0', '--data-dir', readOnly], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  t.is(asNobody.status, 1, asNobody.stderr);
  t.regex(asNobody.stderr, /mychatd: data directory .*read-only is not writable: EACCES/);
});

test.serial('a data directory under /proc is refused at once with status 1, naming it (Node 20 recursive mkdir would loop there)', (t) => {
  const started = Date.now();
  const result = spawnSync(process.execPath, [DAEMON_JS, '--port', '0', '--data-dir', '/proc/nope/data'], { encoding: 'utf8', timeout: 10_000 });
  t.is(result.signal, null, `still running after ${Date.now() - started} ms: killed by the test's timeout`);
  t.is(result.status, 1);
  t.regex(result.stderr, /mychatd: data directory \/proc\/nope\/data is not writable: .*\/proc\/nope/);
});

test.serial('a corrupt database is refused with a message naming the file, and left untouched', (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'history.sqlite3');
  const garbage = Buffer.alloc(8192, 0x5a);
  writeFileSync(file, garbage);
  const result = spawnSync(process.execPath, [DAEMON_JS, '--port', '0', '--data-dir', dir], { encoding: 'utf8', timeout: 10_000 });
  t.is(result.status, 1);
  t.true(result.stderr.includes(file), result.stderr);
  t.regex(result.stderr, /move it aside|backup/);
  t.true(readFileSync(file).equals(garbage), 'the file is not replaced');
});
