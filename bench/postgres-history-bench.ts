/*
 * PostgreSQL history benchmark (not part of npm run bench, which needs no database server): starts a
 * PostgreSQL 15 in a temporary directory (test/helpers/postgres.ts), writes MESSAGES messages through the
 * store as fast as its group commit takes them (the backlog is kept under half its bound, so nothing is
 * dropped), then times replay, paging and search reads over them. Run it with
 *   node -r ts-node/register bench/postgres-history-bench.ts [MESSAGES]
 * The figures are informational (no target in issue 10): the write rate is the per-node limit the README's
 * PostgreSQL section names. fsync is off in the test server, so the write rate is an upper bound.
 */
import { silentLogger } from '../lib/log';
import { PostgresHistoryQueries } from '../lib/history/postgres-history-queries';
import { PostgresHistoryStore } from '../lib/history/postgres-history-store';
import { startPostgres } from '../test/helpers/postgres';

const MESSAGES = Number(process.argv[2] ?? 200_000);
const SAMPLES = 100;
const VOCABULARY = Array.from({ length: 5000 }, (_, i) => `w${i.toString(36)}${'abcdefghij'[i % 10]}`);

/** A deterministic pseudo-random generator, so every run stores the same corpus. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

async function main(): Promise<void> {
  const random = rng(42);
  const server = await startPostgres();
  try {
    const url = await server.createDatabase();
    const log = silentLogger;
    const store = await PostgresHistoryStore.open({ url, log });
    const queries = new PostgresHistoryQueries({ url, log, store });
    const backlog = (): number => (store as unknown as { queue: unknown[] }).queue.length;
    const started = process.hrtime.bigint();
    for (let i = 0; i < MESSAGES; i++) {
      const words = Array.from({ length: 4 + Math.floor(random() * 10) }, () => VOCABULARY[Math.floor(random() * random() * VOCABULARY.length)]);
      // One busy room holds a tenth of the messages; the rest are spread over 100 rooms.
      const room = i % 10 === 0 ? '#big' : `#r${i % 100}`;
      store.append({ roomKey: room, roomName: room, at: Date.now(), nick: `u${i % 500}`, kind: 'MSG', text: words.join(' ') });
      if (i % 100 === 99) {
        await new Promise((resolve) => setImmediate(resolve));
        if (backlog() > 5000) await store.flushed();
      }
    }
    await store.flushed();
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const line = (figure: string, value: string): void => console.log(`${figure.padEnd(48)} ${value.padEnd(26)} target: none (informational)`);
    line(`write rate, ${MESSAGES} messages, turns of 100`, `${Math.round(MESSAGES / seconds)} messages/s`);
    const timed = async (figure: string, run: () => Promise<unknown>): Promise<void> => {
      const samples: number[] = [];
      for (let i = 0; i < SAMPLES; i++) {
        const t0 = process.hrtime.bigint();
        await run();
        samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
      samples.sort((a, b) => a - b);
      line(figure, `p50 ${samples[SAMPLES / 2]!.toFixed(1)} ms, p99 ${samples[SAMPLES - 1]!.toFixed(1)} ms`);
    };
    const newest = (await queries.recent('#big', 1)).entries[0]!.id;
    await timed('replay: newest 20 of #big', () => queries.recent('#big', 20));
    await timed('/history 50 before an id in the middle of #big', () => queries.before('#big', Math.floor(newest / 2), 50));
    await timed('/search one common word, 50 newest, #big', () => queries.search('#big', [VOCABULARY[1]!], 50));
    await timed('/search two words, #big', () => queries.search('#big', [VOCABULARY[2]!, VOCABULARY[3]!], 50));
    await timed('/search a e i o u b c d f g, #big', () => queries.search('#big', ['a', 'e', 'i', 'o', 'u', 'b', 'c', 'd', 'f', 'g'], 50));
    await queries.close();
    await store.close();
  } finally {
    server.destroy();
  }
}

void main();
