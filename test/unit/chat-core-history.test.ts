import { MYCHAT_CODEC } from '../../lib/codec/mychat-codec';
import type { ChatEvent } from '../../lib/core/events';
import test from 'ava';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ChatCore } from '../../lib/core/chat-core';
import type { Session } from '../../lib/core/session';
import type { ClientSink } from '../../lib/core/ports/client-sink';
import { silentLogger } from '../../lib/log';
import { inlineQueries } from '../../lib/history/history-reader';
import { SqliteHistoryStore } from '../../lib/history/sqlite-history-store';

/** A sink that records lines as strings. */
class RecordingSink implements ClientSink {
  lines: string[] = [];
  deliver(event: ChatEvent): void {
    const text = MYCHAT_CODEC.encode(event).toString('utf8');
    for (const line of text.split(/(?<=\r\n)/)) this.send(Buffer.from(line, 'utf8'));
  }

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
  const core = new ChatCore({ history: store, historyQueries: inlineQueries(store), historyReplay: 3 });
  t.teardown(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  // Replay is read asynchronously: each helper waits for the command to finish, as a connection does.
  const user = async (nick: string) => {
    const sink = new RecordingSink();
    const session = core.connect(sink, `192.0.2.${nick.length}`) as Session;
    await core.handleInput(session, { ok: true, text: nick });
    sink.take();
    return { sink, session, say: async (text: string) => await core.handleInput(session, { ok: true, text }) };
  };
  return { core, store, user };
}

test('joining an existing room replays its last N as HISTORY lines, then HISTEND, then OK JOIN; a new room replays nothing', async (t) => {
  const { user } = setup(t);
  const alice = await user('alice');
  await alice.say('/join #r');
  t.false(alice.sink.take().some((l) => l.startsWith('HIST')), 'a room that did not exist has nothing to replay');
  for (const text of ['one', 'two', 'three', 'four']) alice.say(text);
  await alice.say('/me nods');
  const bob = await user('bob');
  await bob.say('/join #r');
  const reply = bob.sink.take();
  const kinds = reply.map((l) => l.split(' ')[0]);
  t.deepEqual(kinds, ['ROOM', 'NAMES', 'HISTORY', 'HISTORY', 'HISTORY', 'HISTEND', 'OK'], reply.join('\n'));
  t.deepEqual(reply.filter((l) => l.startsWith('HISTORY')).map((l) => l.split(' ').slice(4).join(' ')), ['alice MSG three', 'alice MSG four', 'alice ACTION nods']);
  t.regex(reply[reply.length - 2]!, /^HISTEND #r 3 Replayed the last 3; \/history #r for more\.$/);
});

test('/replay off stops replay for that connection only', async (t) => {
  const { user } = setup(t);
  const alice = await user('alice');
  await alice.say('/join #r');
  await alice.say('hello');
  const bob = await user('bob');
  await bob.say('/replay off');
  t.deepEqual(bob.sink.take(), ['OK REPLAY off Joining a room replays no history.']);
  await bob.say('/join #r');
  t.false(bob.sink.take().some((l) => l.startsWith('HIST')));
  const carol = await user('carol');
  await carol.say('/join #r');
  t.true(carol.sink.take().some((l) => l.startsWith('HISTORY #r')));
});

test('during a storage outage chat goes on, each sender is told once, and nothing queued is lost', async (t) => {
  const { store, user } = setup(t);
  const alice = await user('alice');
  const bob = await user('bob');
  await alice.say('/join #r');
  await bob.say('/join #r');
  await alice.say('before the outage');
  store.commit();
  bob.sink.take();
  alice.sink.take();
  const db = (store as unknown as { db: Database.Database }).db;
  db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`);
  const big = 'x'.repeat(3000);
  for (let i = 0; i < 20; i++) {
    await alice.say(`${i} ${big}`);
    store.commit();
  }
  t.is(bob.sink.take().filter((l) => l.startsWith('MSG #r alice')).length, 20, 'live delivery goes on');
  const notices = alice.sink.take().filter((l) => l.startsWith('NOTICE'));
  t.deepEqual(notices, ['NOTICE History cannot be saved right now (storage error): your messages are delivered live but may not be kept.']);
  await bob.say('me too');
  t.is(bob.sink.take().filter((l) => l.startsWith('NOTICE')).length, 1, 'another sender during the outage is told too, once');
  await bob.say('again');
  t.is(bob.sink.take().filter((l) => l.startsWith('NOTICE')).length, 0);
  db.pragma('max_page_count = 1073741823');
  // The store retries on its own timer (the first retry comes a second after the failure).
  const deadline = Date.now() + 5000;
  while (!store.healthy && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  t.true(store.healthy);
  t.is(store.recent('#r', 100).length, 23, 'every message of the outage was written once the disk recovered');
});

test('live lines that arrive while a join replay is being read come after the replay and OK JOIN, never before or twice', async (t) => {
  const { core, store, user } = setup(t);
  const alice = await user('alice');
  await alice.say('/join #r');
  for (const text of ['one', 'two']) await alice.say(text);
  // A reader whose answer the test releases by hand, as a slow worker would answer.
  const real = inlineQueries(store);
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));
  (core.options as { historyQueries: unknown }).historyQueries = { ...real, recent: async (...args: Parameters<typeof real.recent>) => { await gate; return real.recent(...args); } };
  // #lobby has no history, so bob's registration replays nothing and does not wait for the gate.
  const bob = await user('bob');
  const joining = bob.say('/join #r');
  await alice.say('said during the replay');
  store.commit();
  t.deepEqual(bob.sink.lines.filter((l) => l.startsWith('MSG')), [], 'held back while the replay is read');
  release();
  await joining;
  const lines = bob.sink.take();
  const order = lines.map((l) => l.split(' ')[0]);
  t.deepEqual(order.slice(-3), ['HISTEND', 'OK', 'MSG']);
  t.is(lines.filter((l) => l.includes('said during the replay')).length, 1, 'the live line is not also replayed');
  t.true(lines.indexOf('MSG #r alice said during the replay') > lines.findIndex((l) => l.startsWith('OK JOIN #r')));
  t.deepEqual(lines.filter((l) => l.startsWith('HISTORY')).map((l) => l.split(' ').slice(5).join(' ')), ['MSG one', 'MSG two']);
});

test('a /history page is cut at the reply size limit, keeping the newest, and says how to page back', async (t) => {
  const { user } = setup(t);
  const alice = await user('alice');
  await alice.say('/join #big');
  for (let i = 0; i < 60; i++) await alice.say(`${i} ${'y'.repeat(3000)}`);
  alice.sink.take();
  await alice.say('/history #big 60');
  const lines = alice.sink.take();
  const history = lines.filter((l) => l.startsWith('HISTORY'));
  const bytes = history.reduce((n, l) => n + Buffer.byteLength(l) + 2, 0);
  t.true(bytes <= 64 * 1024, `${bytes} bytes`);
  t.true(history.length >= 15 && history.length < 60);
  t.true(history[history.length - 1]!.includes(' 59 '), 'the newest entry is shown');
  const end = lines.find((l) => l.startsWith('HISTEND'))!;
  const oldestId = history[0]!.split(' ')[2];
  t.regex(end, new RegExp(`^HISTEND #big ${history.length} Reply size limit reached \\(64 KiB\\)\\. Older: /history #big 60 before ${oldestId}$`));
});

test('a storm of joins into one room shares one replay read; a room with nothing said needs none', async (t) => {
  const { core, store, user } = setup(t);
  const alice = await user('alice');
  await alice.say('/join #busy');
  await alice.say('hello');
  await alice.say('/join #quiet');
  await alice.say('/topic #quiet only a topic here');
  const real = inlineQueries(store);
  const asked: string[] = [];
  (core.options as { historyQueries: unknown }).historyQueries = {
    ...real,
    recent: (...args: Parameters<typeof real.recent>) => {
      asked.push(args[0]);
      return real.recent(...args);
    },
  };
  const joiners = await Promise.all(['b1', 'b2', 'b3', 'b4', 'b5'].map((nick) => user(nick)));
  await Promise.all(joiners.map((j) => j.say('/join #busy')));
  t.deepEqual(asked, ['#busy'], 'five joins in one turn, one read');
  for (const j of joiners) t.true(j.sink.take().includes('HISTEND #busy 1 Replayed the last 1; /history #busy for more.'));
  await joiners[0]!.say('/join #quiet');
  t.deepEqual(asked, ['#busy'], 'no read for a room where only a topic was set');
  t.true(joiners[0]!.sink.take().some((l) => l.startsWith('OK JOIN #quiet')));
});
