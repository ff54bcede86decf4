import test from 'ava';
import pg from 'pg';
import { register, type TestClient } from '../helpers/client';
import { startDaemon } from '../helpers/daemon';
import { startPostgres, type PostgresServer } from '../helpers/postgres';
import { silentLogger } from '../../lib/log';
import { PostgresHistoryStore } from '../../lib/history/postgres-history-store';
import { nameKey } from '../../lib/protocol/text-hygiene';

/*
 * The worst clients of a PostgreSQL history: several connections asking for the costliest searches they
 * may (ten words, one- and two-letter common words, three-letter prefixes that match hundreds of words)
 * and /history pages, back to back (flood control is off in tests, so only the history budgets hold
 * them), over a room of 200,000 messages, while two others chat. Chat must go on, each searcher must be
 * told when it has used its share of query time, and PostgreSQL must never run a read longer than its
 * statement_timeout nor more searches at once than mychatd allows.
 */

let server: PostgresServer | undefined;
test.before(async () => {
  server = await startPostgres();
});
test.after.always(() => server?.destroy());

/** Messages the test puts in #big itself, through SQL (the daemon would take minutes to write them). */
const ROWS = 200_000;
/** What a searcher may send: ten words each, the most a search takes. */
const WORST_SEARCHES = [
  // Prefixes each matching about a hundred distinct words of the corpus, all required.
  '/search #big w10 w11 w12 w13 w14 w15 w16 w17 w18 w19',
  // The most common words (in 60 to 90 % of messages) and one that never occurs: nothing matches.
  '/search #big the a is to you and it of in xyzzy',
  // Common words that match: the newest of thousands of matches.
  '/search #big the a is to you and it of in on',
];
/** Bounds of the searchers' loop: they stop once refused for their budget, or at these at the latest. */
const MAX_ROUNDS = 3000;
const MAX_LOOP_MS = 60_000;
/** The read budget of one statement (PostgresHistoryQueries' default statement_timeout) and searches at once (maxSearches). */
const STATEMENT_TIMEOUT_MS = 1000;
const MAX_SEARCHES = 2;

/** Fills the database: schema as mychatd makes it, then #big with ROWS messages of skewed vocabulary. */
async function fill(url: string): Promise<void> {
  const store = await PostgresHistoryStore.open({ url, log: silentLogger, keyOf: nameKey });
  await store.close();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('SELECT setseed(0.42)');
    await client.query(`INSERT INTO rooms (key, name) VALUES ('#big', '#big')`);
    // The words as mychatd's own lexemes: lower-case ASCII, so PostgreSQL's 'simple' parser makes the same ones.
    await client.query(
      `INSERT INTO messages (room_id, at, nick, kind, text, node, search)
       SELECT (SELECT id FROM rooms WHERE key = '#big'), $1::bigint - ($2::int - g), 'u' || (g % 100), 'MSG', t, 0, to_tsvector('simple', t)
       FROM (
         SELECT g, concat_ws(' ',
           CASE WHEN random() < 0.9 THEN 'the' END, CASE WHEN random() < 0.8 THEN 'a' END, CASE WHEN random() < 0.8 THEN 'is' END,
           CASE WHEN random() < 0.7 THEN 'to' END, CASE WHEN random() < 0.7 THEN 'you' END, CASE WHEN random() < 0.7 THEN 'and' END,
           CASE WHEN random() < 0.6 THEN 'it' END, CASE WHEN random() < 0.6 THEN 'of' END, CASE WHEN random() < 0.6 THEN 'in' END,
           CASE WHEN random() < 0.6 THEN 'on' END,
           (SELECT string_agg('w' || floor(random() * random() * 3000 + 0 * k)::int, ' ') FROM generate_series(1, 6) k)) AS t
         FROM generate_series(1, $2::int) g
       ) corpus`,
      [Date.now(), ROWS],
    );
    await client.query('ANALYZE messages');
  } finally {
    await client.end();
  }
}

/** One searcher's loop: searches and /history pages back to back until refused for its budget (or the bounds). */
async function searchLoop(client: TestClient, newestId: number): Promise<{ rounds: number; slowestMs: number; refusal: string | undefined; timeouts: number }> {
  const started = Date.now();
  let slowestMs = 0;
  let timeouts = 0;
  for (let round = 0; round < MAX_ROUNDS && Date.now() - started < MAX_LOOP_MS; round++) {
    const page = round % 4 === 3;
    const sent = Date.now();
    client.send(page ? `/history #big 200 before ${newestId - ((round * 7919) % (ROWS - 300))}` : WORST_SEARCHES[round % WORST_SEARCHES.length]!);
    const end = await client.waitForLine(/^(OK SEARCH|OK HISTORY|ERR) /, 15_000);
    slowestMs = Math.max(slowestMs, Date.now() - sent);
    if (end.startsWith('ERR QUERY_TIMEOUT')) timeouts++;
    if (end.startsWith('ERR HISTORY_BUSY Your history queries used up your share')) return { rounds: round + 1, slowestMs, refusal: end, timeouts };
  }
  return { rounds: MAX_ROUNDS, slowestMs, refusal: undefined, timeouts };
}

test.serial('the costliest searches and /history pages, back to back over 200,000 messages: chat goes on, each searcher is told its budget is used, PostgreSQL reads stay bounded', async (t) => {
  t.timeout(240_000);
  const url = await server!.createDatabase();
  const filled = Date.now();
  await fill(url);
  t.log(`${ROWS} messages put in #big in ${Date.now() - filled} ms`);
  const daemon = await startDaemon(['--database', url, '--history-max-messages', String(ROWS * 2)]);
  t.teardown(() => daemon.stop('SIGKILL'));
  const newestId = (await sqlRows<{ id: number }>(url, 'SELECT max(id)::int AS id FROM messages'))[0]!.id;

  // One worst search alone over the large room: answered, or refused for time, within the statement budget.
  const probe = await register(daemon.port, 'probe');
  for (const search of WORST_SEARCHES) {
    const sent = Date.now();
    probe.send(search);
    const end = await probe.waitForLine(/^(OK SEARCH|ERR) /, 10_000);
    t.regex(end, /^(OK SEARCH #big \d+ match|ERR QUERY_TIMEOUT )/);
    t.log(`alone: ${search.slice(13)}: ${Date.now() - sent} ms, ${end}`);
    t.true(Date.now() - sent < STATEMENT_TIMEOUT_MS + 2000, 'bounded by the statement budget');
  }
  probe.end();

  const alice = await register(daemon.port, 'alice');
  const bob = await register(daemon.port, 'bob');
  const searchers = await Promise.all(['s1', 's2', 's3'].map((nick) => register(daemon.port, nick)));

  // What PostgreSQL runs for mychatd's reads, sampled while the searchers go (a bounded polling loop).
  const watcher = new pg.Client({ connectionString: url });
  await watcher.connect();
  let sampling = true;
  let longestStatementMs = 0;
  let mostSearches = 0;
  const sampler = (async () => {
    for (let i = 0; sampling && i < 5000; i++) {
      const rows = (
        await watcher.query<{ ms: number; search: boolean }>(
          `SELECT extract(epoch FROM clock_timestamp() - query_start) * 1000 AS ms, query LIKE '%@@%' AS search
           FROM pg_stat_activity WHERE application_name = 'mychatd-reader' AND state = 'active' AND datname = current_database()`,
        )
      ).rows;
      for (const row of rows) longestStatementMs = Math.max(longestStatementMs, Number(row.ms));
      mostSearches = Math.max(mostSearches, rows.filter((row) => row.search).length);
      await new Promise((resolve) => setImmediate(resolve));
    }
  })();

  // Two users chat meanwhile; every line must arrive, each within a bound far below the searchers' costs.
  let chatting = true;
  let slowestLineMs = 0;
  let lines = 0;
  const chat = (async () => {
    for (let i = 0; chatting && i < 50_000; i++) {
      const [from, to] = i % 2 === 0 ? [alice, bob] : [bob, alice];
      const sent = Date.now();
      from.send(`chat line ${i}`);
      await to.waitForLine(`MSG #lobby ${i % 2 === 0 ? 'alice' : 'bob'} chat line ${i}`, 10_000);
      slowestLineMs = Math.max(slowestLineMs, Date.now() - sent);
      lines++;
    }
  })();

  const results = await Promise.all(searchers.map((client) => searchLoop(client, newestId)));
  chatting = false;
  await chat;
  sampling = false;
  await sampler;
  await watcher.end();

  t.log(`searchers: ${results.map((r) => `${r.rounds} rounds, slowest reply ${r.slowestMs} ms, ${r.timeouts} timeouts`).join('; ')}`);
  t.log(`chat: ${lines} lines, slowest ${slowestLineMs} ms; PostgreSQL: longest read statement ${Math.round(longestStatementMs)} ms, at most ${mostSearches} searches at once`);
  for (const result of results) {
    t.truthy(result.refusal, 'each searcher is told once it has used its share of query time');
    t.regex(result.refusal ?? '', /^ERR HISTORY_BUSY Your history queries used up your share of query time \(5 s at once, then 250 ms a second\); try again in \d+ s/);
    // Waiting for a search slot or a connection is bounded (5 s), and so is the statement (1 s).
    t.true(result.slowestMs < 5000 + STATEMENT_TIMEOUT_MS + 2000, `a reply took ${result.slowestMs} ms`);
  }
  t.true(lines > 10, `${lines} chat lines`);
  t.true(slowestLineMs < 2000, `a chat line took ${slowestLineMs} ms`);
  t.true(longestStatementMs < STATEMENT_TIMEOUT_MS + 500, `a read ran ${Math.round(longestStatementMs)} ms on the server`);
  t.true(mostSearches <= MAX_SEARCHES, `${mostSearches} searches ran at once`);

  // Refused for its budget, a searcher still chats.
  const [s1] = searchers;
  s1!.send('still here');
  await alice.waitForLine('MSG #lobby s1 still here');
  for (const client of [alice, bob, ...searchers]) client.end();
});

async function sqlRows<T extends pg.QueryResultRow>(url: string, text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}
