import test, { type ExecutionContext } from 'ava';
import { register, type TestClient } from './client';
import { startDaemon } from './daemon';

/*
 * The end-to-end history scenarios (replay after a restart, /history paging, /search, /replay off,
 * retention), registered once per store: test/e2e/history.test.ts runs them on SQLite and
 * history-postgres.test.ts on PostgreSQL. `storageArgs` gives the daemon options naming fresh storage for
 * one test; every daemon of that test gets the same ones.
 */
export type StorageArgs = (t: ExecutionContext) => Promise<string[]>;

/** A HISTORY line: room, id, time, sender, kind, text. */
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

/** Registers the scenarios; `title` prefixes each test's title. */
export function historyScenarios(title: string, storageArgs: StorageArgs): void {
  test(`${title}: rooms, topics and history survive a restart; joining replays the last N, marked as history`, async (t) => {
    const storage = await storageArgs(t);
    const first = await startDaemon([...storage, '--history-replay', '3']);
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

    const second = await startDaemon([...storage, '--history-replay', '3']);
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

  test(`${title}: /history pages back with "before", /search finds words newest first, /replay off stops replay`, async (t) => {
    const storage = await storageArgs(t);
    const d = await startDaemon(storage);
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

  test(`${title}: --history-replay 0 turns replay off; retention keeps the newest --history-max-messages per room`, async (t) => {
    const storage = await storageArgs(t);
    const d = await startDaemon([...storage, '--history-replay', '0']);
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
    const again = await startDaemon([...storage, '--history-max-messages', '10']);
    // Retention runs at start; a store that prunes asynchronously may finish it just after listening.
    await again.waitForLog(/history-pruned messages=15/, 0, 10_000);
    const c = await register(again.port, 'retainC');
    const replay = await joinAndCollect(c, '#retain');
    t.deepEqual(replay.map((l) => HISTORY_LINE.exec(l)![6]), Array.from({ length: 10 }, (_, i) => `r${15 + i}`));
    c.send('/history #retain 50');
    await c.waitForLine(/^OK HISTORY #retain/);
    t.regex(c.all(/^HISTEND #retain/).pop()!, /^HISTEND #retain 10 Start of history\.$/);
    c.end();
    await again.stop();
  });
}
