/*
 * History reader benchmark (not part of npm test): a room of 200,000 messages, the /search query of
 * issue 8 ("a e i o u b c d f g") and 3-letter prefixes, timed on the old path (every word a prefix,
 * synchronous on the event loop), with the new word rules on the event loop, and through
 * WorkerHistoryReader; then the event loop's delay while clients keep costly searches in flight, for
 * pool sizes 1 and 2. Run: npm run build && node -r ts-node/register bench/history-reader-bench.ts
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { WorkerHistoryReader } from '../lib/history/history-reader';
import { DATABASE_FILE, SqliteHistoryStore } from '../lib/history/sqlite-history-store';
import { silentLogger } from '../lib/log';

const MESSAGES = Number(process.env.BENCH_READER_MESSAGES ?? 200_000);
const SAMPLES = Number(process.env.BENCH_READER_SAMPLES ?? 20);

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}
const random = rng(7);
const COMMON = 'the to and a of i is it you that in we for on be this with are have not do at but can so just what was if me my no get go all up out will there about like one now from how see know think time'.split(' ');
const LETTERS = 'bcdefghjklmnpqrstuvwxyz'.split('');
const SYLLABLES = 'ka ri to mo an el un de sa pe li ro cha str pre con ing ter ver lo mi'.split(' ');
const RARE = Array.from({ length: 20_000 }, () => Array.from({ length: 1 + Math.floor(random() * 3) }, () => SYLLABLES[Math.floor(random() * SYLLABLES.length)]).join(''));
/** Common English words first, then single letters, then made-up words: a Zipf-like choice favours the first. */
const VOCABULARY = [...COMMON, ...LETTERS, ...RARE];
function sentence(): string {
  const n = 4 + Math.floor(random() * 12);
  return Array.from({ length: n }, () => VOCABULARY[Math.floor(VOCABULARY.length * random() ** 2)]).join(' ');
}

function stats(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
  return `p50 ${at(0.5).toFixed(1)} ms, max ${sorted[sorted.length - 1]!.toFixed(1)} ms`;
}

function time(run: () => unknown): number {
  const started = process.hrtime.bigint();
  run();
  return Number(process.hrtime.bigint() - started) / 1e6;
}

async function timeAsync(run: () => Promise<unknown>): Promise<number> {
  const started = process.hrtime.bigint();
  await run();
  return Number(process.hrtime.bigint() - started) / 1e6;
}

/** The query the old code built: every word an FTS prefix term. */
function oldMatch(roomId: number, words: string[]): string {
  return `room : "r${roomId}" AND text : (${words.map((w) => `"${w}"*`).join(' AND ')})`;
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'mychat-reader-bench-'));
  try {
    const store = new SqliteHistoryStore({ dataDir, sync: 'normal', log: silentLogger });
    let started = Date.now();
    // 100 messages per commit, as a busy daemon writes them: the full-text index then has the many
    // segments of a real history (one big transaction would leave it perfectly merged, and fast).
    for (let i = 0; i < MESSAGES; i++) {
      store.append({ roomKey: '#lobby', roomName: '#lobby', at: Date.now(), nick: `user${i % 50}`, kind: 'MSG', text: sentence() });
      if (i % 100 === 99) store.commit();
    }
    store.commit();
    console.log(`history reader benchmark  ${MESSAGES.toLocaleString('en')} messages in #lobby (stored in ${Date.now() - started} ms)`);

    const raw = new Database(path.join(dataDir, DATABASE_FILE), { readonly: true });
    const roomId = raw.prepare('SELECT id FROM rooms WHERE key = ?').pluck().get('#lobby') as number;
    const oldSearch = raw.prepare('SELECT rowid FROM messages_fts WHERE messages_fts MATCH ? ORDER BY rowid DESC LIMIT 50');
    const queries: Array<[string, string[]]> = [
      ['a e i o u b c d f g', 'a e i o u b c d f g'.split(' ')],
      ['a', ['a']],
      ['str', ['str']],
      ['pre con', ['pre', 'con']],
      ['the and you', ['the', 'and', 'you']],
    ];
    const reader = new WorkerHistoryReader({ dataDir, log: silentLogger, timeoutMs: 10_000 });
    await reader.ready();
    for (const [label, words] of queries) {
      const old = Array.from({ length: SAMPLES }, () => time(() => oldSearch.all(oldMatch(roomId, words))));
      const sync = Array.from({ length: SAMPLES }, () => time(() => store.search('#lobby', words, 50)));
      const viaReader: number[] = [];
      for (let i = 0; i < SAMPLES; i++) viaReader.push(await timeAsync(() => reader.search('#lobby', words, 50)));
      console.log(`search "${label}"`);
      console.log(`  old rule (all prefixes), event loop   ${stats(old)}`);
      console.log(`  new rule, event loop                  ${stats(sync)}`);
      console.log(`  new rule, worker reader (round trip)  ${stats(viaReader)}`);
    }
    await reader.close();
    raw.close();

    // Costly queries kept in flight by `clients` callers for 3 s: how late does the event loop run, and how many answers come back?
    const costly = ['the', 'and', 'you', 'str', 'pre', 'con'];
    for (const poolSize of [1, 2]) {
      const pool = new WorkerHistoryReader({ dataDir, log: silentLogger, poolSize, timeoutMs: 10_000 });
      await pool.ready();
      const delay = monitorEventLoopDelay({ resolution: 1 });
      delay.enable();
      let answered = 0;
      const until = Date.now() + 3000;
      started = Date.now();
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (Date.now() < until) {
            await pool.search('#lobby', costly, 50);
            answered++;
          }
        }),
      );
      delay.disable();
      const seconds = (Date.now() - started) / 1000;
      console.log(
        `pool ${poolSize}, 8 callers looping a 6-word search: ${(answered / seconds).toFixed(0)} answers/s, event-loop delay p99 ${(delay.percentile(99) / 1e6).toFixed(1)} ms, max ${(delay.max / 1e6).toFixed(1)} ms`,
      );
      await pool.close();
    }
    store.close();
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

void main();
