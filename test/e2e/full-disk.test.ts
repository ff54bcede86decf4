import test, { type ExecutionContext } from 'ava';
import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { register, type TestClient } from '../helpers/client';
import { startDaemon, type Daemon } from '../helpers/daemon';

/*
 * A real full disk: the data directory is a 3 MiB tmpfs that 4 KB messages fill. Mounting needs root
 * (CI runs the tests as root); elsewhere, as another user, these tests are not run and their titles say so.
 */

const CAN_MOUNT = process.getuid?.() === 0 || process.env.CI === 'true';
const run = CAN_MOUNT ? test : test.skip;
const NOT_ROOT = CAN_MOUNT ? '' : ' (not run: mounting a tmpfs needs root)';

/** Messages of about 4 KB, numbered so the stored order can be checked. */
const FILL_TEXT = 'x'.repeat(4000);
/** More messages than a 3 MiB tmpfs can hold: the loop that fills the disk ends by this bound at the latest. */
const MAX_FILL_MESSAGES = 1500;
/** Bound on how long a recovery may take: the retry waits up to 30 s between attempts. */
const RECOVERY_TIMEOUT_MS = 45_000;

/** Mounts a tmpfs of `size` on a new directory; unmounted (after `stopFirst`) and removed in teardown. */
function mountTmpfs(t: ExecutionContext, size: string, stopFirst: () => Promise<unknown>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mychat-tmpfs-'));
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { encoding: 'utf8', timeout: 10_000 });
  if (mounted.status !== 0) {
    rmdirSync(dir);
    throw new Error(`mount -t tmpfs failed (${mounted.status}): ${mounted.stderr}${mounted.error?.message ?? ''}`);
  }
  t.teardown(async () => {
    // The daemon holds files open there: stop it before unmounting.
    await stopFirst();
    const unmounted = spawnSync('umount', [dir], { encoding: 'utf8', timeout: 10_000 });
    if (unmounted.status !== 0) spawnSync('umount', ['-l', dir], { timeout: 10_000 });
    rmdirSync(dir);
  });
  return dir;
}

/** Fills the disk from `writer` (in #fill) until the daemon logs that a history write failed; returns how many it sent. */
async function fillUntilWritesFail(daemon: Daemon, writer: TestClient): Promise<number> {
  let sent = 0;
  while (!daemon.stderr().includes('history-write-failed')) {
    if (sent >= MAX_FILL_MESSAGES) throw new Error(`no write failed after ${sent} messages of 4 KB`);
    for (let i = 0; i < 10; i++) writer.send(`fill ${sent++} ${FILL_TEXT}`);
    await writer.sync();
  }
  return sent;
}

/** The numbers of the stored #fill messages, in id order. */
function storedFillNumbers(file: string): number[] {
  const db = new Database(file, { readonly: true });
  try {
    const texts = db
      .prepare(`SELECT m.text FROM messages m JOIN rooms r ON r.id = m.room_id WHERE r.key = '#fill' ORDER BY m.id`)
      .pluck()
      .all() as string[];
    return texts.map((text) => Number(/^fill (\d+) /.exec(text)![1]));
  } finally {
    db.close();
  }
}

run(`a full disk: live chat goes on, every message is delivered, and the backlog is written in order once space returns${NOT_ROOT}`, async (t) => {
  t.timeout(120_000);
  const started: { daemon?: Daemon } = {};
  const dir = mountTmpfs(t, '3M', async () => started.daemon?.stop('SIGKILL'));
  // Space that the test gives back later, as an operator deleting a file would.
  const filler = path.join(dir, 'filler');
  writeFileSync(filler, Buffer.alloc(1024 * 1024, 1));
  const daemon = (started.daemon = await startDaemon(['--data-dir', dir]));
  const writer = await register(daemon.port, 'writer');
  const alice = await register(daemon.port, 'alice');
  const bob = await register(daemon.port, 'bob');
  writer.send('/join #fill');
  await writer.waitForLine(/^OK JOIN #fill/);

  let sent = await fillUntilWritesFail(daemon, writer);
  t.log(`writes failed after ${sent} messages of 4 KB`);
  t.is(writer.all(/^NOTICE History cannot be saved right now/).length, 1, "the writer is told its messages may not be kept");

  // A backlog of about 1.2 MB: more than one transaction can write in the space freed below, so only
  // chunks, with the WAL checkpointed and truncated between them, get it all on disk.
  for (let i = 0; i < 300; i++) writer.send(`fill ${sent++} ${FILL_TEXT}`);
  // During the outage: the writer keeps filling, and two others chat; each of their lines arrives.
  for (let i = 0; i < 20; i++) {
    writer.send(`fill ${sent++} ${FILL_TEXT}`);
    alice.send(`from alice ${i}`);
    t.is(await bob.waitForLine(/^MSG #lobby alice /), `MSG #lobby alice from alice ${i}`);
    bob.send(`from bob ${i}`);
    t.is(await alice.waitForLine(/^MSG #lobby bob /), `MSG #lobby bob from bob ${i}`);
  }
  await writer.sync();
  t.is(alice.all(/^NOTICE History cannot be saved/).length, 1, 'alice is told once that her messages may not be kept');
  t.is(bob.all(/^NOTICE History cannot be saved/).length, 1);
  t.true(daemon.stderr().split('\n').filter((l) => l.includes('history-write-failed')).length === 1, 'the outage is logged once');

  const freedAt = daemon.stderr().length;
  rmSync(filler);
  const recovered = await daemon.waitForLog(/history-write-recovered written=(\d+) lost=(\d+)/, freedAt, RECOVERY_TIMEOUT_MS);
  t.is(recovered.match[2], '0', 'nothing was lost');

  // Written in order: every #fill message is there exactly once, in the order sent, and so is the chat.
  const file = path.join(dir, 'history.sqlite3');
  t.deepEqual(storedFillNumbers(file), Array.from({ length: sent }, (_, i) => i));
  const db = new Database(file, { readonly: true });
  const lobby = db.prepare(`SELECT m.nick || ' ' || m.text FROM messages m JOIN rooms r ON r.id = m.room_id WHERE r.key = '#lobby' ORDER BY m.id`).pluck().all();
  db.close();
  t.deepEqual(
    lobby,
    Array.from({ length: 20 }, (_, i) => [`alice from alice ${i}`, `bob from bob ${i}`]).flat(),
  );

  // Healthy again: a new message is stored before it is seen.
  alice.send('after recovery');
  await bob.waitForLine('MSG #lobby alice after recovery');
  t.is(await daemon.stop(), 0);
  t.log(daemon.stderr().split('\n').filter((l) => l.includes('history')).join('\n'));
  t.regex(daemon.stderr(), /info history-closed notKept=0/);
});

run(`SIGTERM during a full-disk outage logs exactly how many messages were not kept${NOT_ROOT}`, async (t) => {
  t.timeout(120_000);
  const started: { daemon?: Daemon } = {};
  const dir = mountTmpfs(t, '3M', async () => started.daemon?.stop('SIGKILL'));
  const daemon = (started.daemon = await startDaemon(['--data-dir', dir]));
  const writer = await register(daemon.port, 'writer');
  writer.send('/join #fill');
  await writer.waitForLine(/^OK JOIN #fill/);
  let sent = await fillUntilWritesFail(daemon, writer);
  for (let i = 0; i < 100; i++) writer.send(`fill ${sent++} ${FILL_TEXT}`);
  await writer.sync();

  t.is(await daemon.stop('SIGTERM'), 0);
  t.log(daemon.stderr().split('\n').filter((l) => l.includes('history')).join('\n'));
  const closed = /error history-closed notKept=(\d+) /.exec(daemon.stderr());
  t.truthy(closed, daemon.stderr());
  const stored = storedFillNumbers(path.join(dir, 'history.sqlite3'));
  t.is(Number(closed![1]), sent - stored.length, 'the log counts exactly the messages missing from the database');
  t.true(sent - stored.length > 0, 'the disk was still full: some were not kept');
  t.deepEqual(stored, Array.from({ length: stored.length }, (_, i) => i), 'what was kept is the oldest part, in order, without gaps');
});
