import test from 'ava';
import { register } from '../helpers/client';
import { startDaemon } from '../helpers/daemon';

/*
 * Commands that cost the server more than a line: their queries run off the event loop (see
 * test/unit/history-reader.test.ts for the time budget), their words are bounded, their replies are capped
 * in bytes, and they cost more of the flood budget.
 */

test('search words of one or two letters match whole words only; longer words also match as prefixes', async (t) => {
  const daemon = await startDaemon();
  t.teardown(() => daemon.stop());
  const a = await register(daemon.port, 'wordsA');
  a.send('/join #words');
  await a.waitForLine(/^OK JOIN #words/);
  for (const text of ['a cat sat', 'apple pie', 'category theory', 'an ox']) a.send(text);
  await a.sync();
  a.send('/search #words a');
  t.deepEqual(await historyTexts(a), ['a cat sat'], 'a one-letter word is not a prefix of apple, an, category');
  a.send('/search #words an');
  t.deepEqual(await historyTexts(a), ['an ox']);
  a.send('/search #words cat');
  t.deepEqual(await historyTexts(a), ['category theory', 'a cat sat'], 'three letters match as a prefix, newest first');
  a.end();
});

/** Texts of the HISTORY lines of the next search reply, up to its OK SEARCH. */
async function historyTexts(client: Awaited<ReturnType<typeof register>>): Promise<string[]> {
  const texts: string[] = [];
  for (;;) {
    const line = await client.waitForLine(/^(HISTORY|OK SEARCH|ERR)/);
    if (!line.startsWith('HISTORY')) return texts;
    texts.push(line.split(' ').slice(6).join(' '));
  }
}

test('a /history page of long messages is cut at 64 KiB, keeping the newest, with the command to see older ones', async (t) => {
  const daemon = await startDaemon();
  t.teardown(() => daemon.stop());
  const a = await register(daemon.port, 'pagerA');
  a.send('/join #long');
  await a.waitForLine(/^OK JOIN #long/);
  for (let i = 0; i < 100; i++) a.send(`${i} ${'z'.repeat(3500)}`);
  await a.sync();
  a.send('/history #long 200');
  const end = await a.waitForLine(/^HISTEND #long /);
  const history = a.all(/^HISTORY #long /);
  const bytes = history.reduce((n, line) => n + Buffer.byteLength(line) + 2, 0);
  t.true(bytes <= 64 * 1024, `${bytes} bytes in one reply`);
  t.true(history.length >= 15 && history.length < 100, `${history.length} entries`);
  t.regex(history[history.length - 1]!, / MSG 99 z+$/, 'the newest entry is in the reply');
  const oldest = history[0]!.split(' ')[2]!;
  t.is(end, `HISTEND #long ${history.length} Reply size limit reached (64 KiB). Older: /history #long 200 before ${oldest}`);
  t.regex(await a.waitForLine(/^OK HISTORY/), new RegExp(`^OK HISTORY #long ${history.length} stored messages\\.$`));
  a.end();
});

test('a /search costs ten lines of the flood budget: a burst of searches is paced, and each is still answered in order', async (t) => {
  const daemon = await startDaemon(['--flood-burst', '20', '--flood-rate', '20']);
  t.teardown(() => daemon.stop());
  const a = await register(daemon.port, 'searcher');
  a.send('hello world');
  for (let i = 0; i < 4; i++) a.send(`/search #lobby hello${i === 3 ? '' : ' world'}`);
  for (let i = 0; i < 4; i++) t.regex(await a.waitForLine(/^OK SEARCH/), /^OK SEARCH #lobby 1 match\.$/);
  // The line and the first search fit the burst of 20; the second needed the budget to refill.
  const notices = a.all(/^NOTICE Flood control/);
  t.is(notices.length, 1);
  t.regex(notices[0]!, /faster than 20 lines a second/);
  t.true(a.lines.indexOf(notices[0]!) > a.lines.findIndex((l) => l.startsWith('OK SEARCH')));
  a.end();
});
