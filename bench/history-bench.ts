/*
 * History benchmark (part of npm run bench): append throughput with the default durability, start-up
 * time, /join replay latency and /search latency over a room with 1,000,000 stored messages, RSS, and
 * retention bringing the room down to 100 000: the join latency meanwhile, its duration and its CPU.
 * Everything runs on this machine; the daemon is the compiled one, talked to over 127.0.0.1.
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { SqliteHistoryStore } from '../lib/history/sqlite-history-store';
import { silentLogger } from '../lib/log';
import { rssKiB, startBenchDaemon } from './bench-daemon';
import { cpuTicks } from './bench-client';

const MESSAGES = Number(process.env.BENCH_HISTORY_MESSAGES ?? 1_000_000);
const SAMPLES = 200;

/** A deterministic pseudo-random generator, so every run stores the same corpus. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const random = rng(42);
const VOCABULARY = Array.from({ length: 5000 }, (_, i) => `w${i.toString(36)}${'abcdefghij'[i % 10]}`);
function sentence(): string {
  const words: string[] = [];
  const n = 4 + Math.floor(random() * 10);
  // Zipf-like: low-numbered words are common, so searches range from frequent to rare words.
  for (let i = 0; i < n; i++) words.push(VOCABULARY[Math.floor(VOCABULARY.length * random() ** 3)]!);
  return words.join(' ');
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Appends `count` messages, `perTurn` per event-loop turn, and returns messages per second. */
async function appendThroughput(dataDir: string, count: number, perTurn: number): Promise<number> {
  const store = new SqliteHistoryStore({ dataDir, sync: 'normal', log: silentLogger });
  const started = process.hrtime.bigint();
  for (let i = 0; i < count; i += perTurn) {
    for (let k = i; k < Math.min(count, i + perTurn); k++) {
      store.append({ roomKey: '#big', roomName: '#big', at: Date.now(), nick: `user${k % 50}`, kind: 'MSG', text: sentence() });
    }
    // One turn ends: the store commits its batch in setImmediate, as in the daemon.
    await new Promise((resolve) => setImmediate(resolve));
  }
  store.commit();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  store.close();
  return count / seconds;
}

class Client {
  private buffer = '';
  private waiter: { needle: string; resolve: () => void } | undefined;
  constructor(readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      this.buffer += d;
      if (this.waiter && this.buffer.includes(this.waiter.needle)) {
        const w = this.waiter;
        this.waiter = undefined;
        this.buffer = '';
        w.resolve();
      } else if (this.buffer.length > 1 << 20) this.buffer = this.buffer.slice(-4096);
    });
  }
  request(line: string, needle: string): Promise<number> {
    const started = process.hrtime.bigint();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timeout: ${line}`)), 30_000);
      this.waiter = {
        needle,
        resolve: () => {
          clearTimeout(timer);
          resolve(Number(process.hrtime.bigint() - started) / 1e6);
        },
      };
      this.socket.write(line + '\r\n');
    });
  }
}

async function startDaemon(dataDir: string, extra: string[]) {
  // DAEMON=/path/to/dist/daemon/mychatd.js runs another build.
  const daemon = await startBenchDaemon(['--data-dir', dataDir, ...extra], process.env.DAEMON);
  const socket = net.connect(daemon.port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  const client = new Client(socket);
  await client.request('benchuser', 'OK JOIN #lobby');
  return { proc: daemon.proc, daemon, client, socket, startup: daemon.startupMs };
}

async function joinLatencies(client: Client, samples: number, spacingMs = 0): Promise<number[]> {
  const joins: number[] = [];
  for (let i = 0; i < samples; i++) {
    joins.push(await client.request('/join #big', 'OK JOIN #big'));
    await client.request('/part #big', 'OK PART #big');
    if (spacingMs > 0) await new Promise((resolve) => setTimeout(resolve, spacingMs));
  }
  return joins;
}

/** Longest the bench waits for retention to bring the room down to 100 000 messages. */
const PRUNE_DEADLINE_MS = 300_000;

/** Polls the database (read-only) until it holds at most `count` messages or `timeoutMs` passed; returns how many it holds. */
async function untilAtMost(dataDir: string, count: number, timeoutMs: number): Promise<number> {
  const db = new Database(path.join(dataDir, 'history.sqlite3'), { readonly: true });
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const held = db.prepare('SELECT count(*) FROM messages').pluck().get() as number;
      if (held <= count || Date.now() > deadline) return held;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  } finally {
    db.close();
  }
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'mychat-history-bench-'));
  try {
    console.log(`history benchmark  ${MESSAGES.toLocaleString('en')} messages in one room`);
    const rate = await appendThroughput(dataDir, MESSAGES, 500);
    const dbBytes = statSync(path.join(dataDir, 'history.sqlite3')).size;
    console.log(`append     ${Math.round(rate).toLocaleString('en')} messages/s sustained (500 per event-loop turn, sync=normal); database ${(dbBytes / 2 ** 20).toFixed(0)} MiB`);

    // Keep all 1M messages: the default retention (100 000 per room) would start pruning at once.
    const { proc, daemon, client, socket, startup } = await startDaemon(dataDir, ['--history-max-messages', String(MESSAGES)]);
    const joins = await joinLatencies(client, SAMPLES);
    const searches: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const word = VOCABULARY[Math.floor(random() * VOCABULARY.length)]!;
      searches.push(await client.request(`/search #big ${word}`, 'OK SEARCH #big'));
    }
    const pages: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      pages.push(await client.request(`/history #big 50 before ${1 + Math.floor(random() * MESSAGES)}`, 'OK HISTORY #big'));
    }
    console.log(`start-up   ${startup} ms from spawn to listening`);
    console.log(`replay     /join with 20 replayed: p50 ${percentile(joins, 50).toFixed(2)} ms  p99 ${percentile(joins, 99).toFixed(2)} ms  (${SAMPLES} joins)`);
    console.log(`search     /search one word, 50 newest matches: p50 ${percentile(searches, 50).toFixed(2)} ms  p99 ${percentile(searches, 99).toFixed(2)} ms  (${SAMPLES} random words)`);
    console.log(`paging     /history 50 before a random id: p50 ${percentile(pages, 50).toFixed(2)} ms  p99 ${percentile(pages, 99).toFixed(2)} ms`);
    console.log(`memory     daemon RSS ${(rssKiB(proc.pid!) / 1024).toFixed(1)} MiB with the ${MESSAGES.toLocaleString('en')}-message room open`);
    socket.destroy();
    await daemon.stop();

    // Retention at work: restart with the default 100 000 per room, so the rest are pruned in bounded
    // steps while we keep joining; the p99 shows the longest pause pruning causes.
    const pruning = await startDaemon(dataDir, []);
    const pruneStarted = Date.now();
    const cpuBefore = cpuTicks(pruning.proc.pid!);
    const during = await joinLatencies(pruning.client, SAMPLES, 50);
    console.log(`retention  /join while pruning ${(MESSAGES - 100_000).toLocaleString('en')} messages: p50 ${percentile(during, 50).toFixed(2)} ms  p99 ${percentile(during, 99).toFixed(2)} ms  max ${Math.max(...during).toFixed(2)} ms  (${SAMPLES} joins in ${Date.now() - pruneStarted} ms)`);
    // How long retention takes to get there, and the daemon's CPU per deleted message (each deletion
    // also takes the message out of the search index).
    const left = await untilAtMost(dataDir, 100_000, PRUNE_DEADLINE_MS);
    const cpuSeconds = (cpuTicks(pruning.proc.pid!) - cpuBefore) / 100;
    const deleted = MESSAGES - left;
    console.log(
      `retention  ${deleted.toLocaleString('en')} messages deleted in ${((Date.now() - pruneStarted) / 1000).toFixed(1)} s` +
        `${left > 100_000 ? ` (deadline reached, ${left.toLocaleString('en')} left)` : ''}; daemon CPU ${cpuSeconds.toFixed(1)} s, ${((cpuSeconds * 1e6) / Math.max(1, deleted)).toFixed(1)} µs per deleted message`,
    );
    pruning.socket.destroy();
    await pruning.daemon.stop();
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
