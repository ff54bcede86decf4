import test from 'ava';
import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DAEMON_JS, startDaemon } from '../helpers/daemon';
import { register } from '../helpers/client';
import { copyRuntime } from '../helpers/runtime';
import { historyScenarios } from '../helpers/history-scenarios';

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mychat-history-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// Replay, /history, /search and retention, run here against SQLite and in history-postgres.test.ts against PostgreSQL.
historyScenarios('sqlite', (t) => Promise.resolve(['--data-dir', tempDir(t)]));

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

test('a database locked by another process does not hold up chat: lines flow while the writer waits, and everything is stored once the lock is gone', async (t) => {
  const dataDir = tempDir(t);
  const d = await startDaemon(['--data-dir', dataDir]);
  t.teardown(() => d.stop());
  const a = await register(d.port, 'lockA');
  const b = await register(d.port, 'lockB');
  a.send('/join #lock');
  await a.waitForLine(/^OK JOIN #lock/);
  b.send('/join #lock');
  await b.waitForLine(/^OK JOIN #lock/);
  a.send('before the lock');
  await a.sync();
  // Another process takes the database's write lock (as a backup tool or a stuck sqlite3 shell would).
  const blocker = new Database(path.join(dataDir, 'history.sqlite3'));
  t.teardown(() => blocker.open && blocker.close());
  blocker.exec('BEGIN IMMEDIATE');
  for (let i = 0; i < 20; i++) a.send(`while locked ${i}`);
  // Delivered while the lock is still held: the event loop does not wait for the database.
  await b.waitForLine('MSG #lock lockA while locked 19');
  blocker.exec('COMMIT');
  blocker.close();
  await a.sync();
  b.send('/history #lock 30');
  await b.waitForLine(/^HISTEND #lock/);
  const stored = b.lines.filter((line) => line.startsWith('HISTORY #lock')).map((line) => line.split(' ').slice(6).join(' '));
  t.deepEqual(stored, ['before the lock', ...Array.from({ length: 20 }, (_, i) => `while locked ${i}`)]);
  t.notRegex(d.stderr(), /history-write-failed/, 'a lock held for a moment is not an outage');
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
