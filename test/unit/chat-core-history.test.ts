import test from 'ava';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ChatCore } from '../../lib/core/chat-core';
import type { Session } from '../../lib/core/session';
import type { ClientSink } from '../../lib/core/sink';
import { silentLogger } from '../../lib/log';
import { SqliteHistoryStore } from '../../lib/history/sqlite-history-store';

/** A sink that records lines as strings. */
class RecordingSink implements ClientSink {
  lines: string[] = [];
  send(line: Buffer): void {
    this.lines.push(line.toString('utf8').replace(/\r\n$/, ''));
  }
  close(): void {}
  take(): string[] {
    const out = this.lines;
    this.lines = [];
    return out;
  }
}

function setup(t: { teardown(fn: () => void): void }) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mychat-core-history-'));
  // onOutage runs only after an append, by which time `core` exists.
  const store = new SqliteHistoryStore({ dataDir: dir, sync: 'normal', log: silentLogger, onOutage: (unsaved) => core.historyOutage(unsaved) });
  const core = new ChatCore({ history: store, historyReplay: 3 });
  t.teardown(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const user = (nick: string) => {
    const sink = new RecordingSink();
    const session = core.connect(sink, `192.0.2.${nick.length}`) as Session;
    core.handleInput(session, { ok: true, text: nick });
    sink.take();
    return { sink, say: (text: string) => core.handleInput(session, { ok: true, text }) };
  };
  return { core, store, user };
}

test('joining an existing room replays its last N as HISTORY lines, then HISTEND, then OK JOIN; a new room replays nothing', (t) => {
  const { user } = setup(t);
  const alice = user('alice');
  alice.say('/join #r');
  t.false(alice.sink.take().some((l) => l.startsWith('HIST')), 'a room that did not exist has nothing to replay');
  for (const text of ['one', 'two', 'three', 'four']) alice.say(text);
  alice.say('/me nods');
  const bob = user('bob');
  bob.say('/join #r');
  const reply = bob.sink.take();
  const kinds = reply.map((l) => l.split(' ')[0]);
  t.deepEqual(kinds, ['ROOM', 'NAMES', 'HISTORY', 'HISTORY', 'HISTORY', 'HISTEND', 'OK'], reply.join('\n'));
  t.deepEqual(reply.filter((l) => l.startsWith('HISTORY')).map((l) => l.split(' ').slice(4).join(' ')), ['alice MSG three', 'alice MSG four', 'alice ACTION nods']);
  t.regex(reply[reply.length - 2]!, /^HISTEND #r 3 Replayed the last 3; \/history #r for more\.$/);
});

test('/replay off stops replay for that connection only', (t) => {
  const { user } = setup(t);
  const alice = user('alice');
  alice.say('/join #r');
  alice.say('hello');
  const bob = user('bob');
  bob.say('/replay off');
  t.deepEqual(bob.sink.take(), ['OK REPLAY off Joining a room replays no history.']);
  bob.say('/join #r');
  t.false(bob.sink.take().some((l) => l.startsWith('HIST')));
  const carol = user('carol');
  carol.say('/join #r');
  t.true(carol.sink.take().some((l) => l.startsWith('HISTORY #r')));
});

test('during a storage outage chat goes on, each sender is told once, and nothing queued is lost', async (t) => {
  const { store, user } = setup(t);
  const alice = user('alice');
  const bob = user('bob');
  alice.say('/join #r');
  bob.say('/join #r');
  alice.say('before the outage');
  store.commit();
  bob.sink.take();
  alice.sink.take();
  const db = (store as unknown as { db: Database.Database }).db;
  db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`);
  const big = 'x'.repeat(3000);
  for (let i = 0; i < 20; i++) {
    alice.say(`${i} ${big}`);
    store.commit();
  }
  t.is(bob.sink.take().filter((l) => l.startsWith('MSG #r alice')).length, 20, 'live delivery goes on');
  const notices = alice.sink.take().filter((l) => l.startsWith('NOTICE'));
  t.deepEqual(notices, ['NOTICE History cannot be saved right now (storage error): your messages are delivered live but may not be kept.']);
  bob.say('me too');
  t.is(bob.sink.take().filter((l) => l.startsWith('NOTICE')).length, 1, 'another sender during the outage is told too, once');
  bob.say('again');
  t.is(bob.sink.take().filter((l) => l.startsWith('NOTICE')).length, 0);
  db.pragma('max_page_count = 1073741823');
  // The store retries on its own timer (the first retry comes a second after the failure).
  const deadline = Date.now() + 5000;
  while (!store.healthy && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  t.true(store.healthy);
  t.is(store.recent('#r', 100).length, 23, 'every message of the outage was written once the disk recovered');
});
