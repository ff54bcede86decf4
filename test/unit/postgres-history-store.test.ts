import test from 'ava';
import pg from 'pg';
import { createLogger } from '../../lib/log';
import { HistoryQueryError } from '../../lib/history/history-reader';
import { PostgresHistoryQueries } from '../../lib/history/postgres-history-queries';
import { DatabaseOpenError, PostgresHistoryStore } from '../../lib/history/postgres-history-store';
import { tsqueryLiteral, tsvectorLiteral } from '../../lib/history/postgres-search';
import { nameKey } from '../../lib/protocol/text-hygiene';
import { startPostgres, type PostgresServer } from '../helpers/postgres';

/*
 * What only the PostgreSQL store does (the shared contract is in history-store-postgres.test.ts): its
 * literals, its schema under concurrent start-up, re-keying, long words, and the server-side time budget.
 */

let server: PostgresServer | undefined;
test.before(async () => {
  server = await startPostgres();
});
test.after.always(() => server?.destroy());

const log = createLogger('error', () => undefined, false);

async function sql(url: string, text: string, values: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(text, values);
  } finally {
    await client.end();
  }
}

test('the literals quote every lexeme, keep positions for phrases, and make prefixes only of 3+ letters', (t) => {
  t.is(tsvectorLiteral("Don't stop, don't!"), "'don':1,4 't':2,5 'stop':3");
  t.is(tsvectorLiteral('!!! ...'), '');
  t.is(tsqueryLiteral(['Crème', 'ab', 'stop-me', "it's"]), "'creme':* & 'ab' & ('stop' <-> 'me') & ('it' <-> 's')");
  t.is(tsqueryLiteral(['&|!', ':*']), undefined);
  t.throws(() => tsqueryLiteral(Array.from({ length: 11 }, () => 'w')), { instanceOf: RangeError });
});

test('two nodes starting at once create the schema once and get different node numbers; another schema version is refused', async (t) => {
  const url = await server!.createDatabase();
  const [a, b] = await Promise.all([PostgresHistoryStore.open({ url, log }), PostgresHistoryStore.open({ url, log })]);
  t.not(a.node, b.node);
  await a.close();
  await b.close();
  await sql(url, `UPDATE mychat_meta SET value = '99' WHERE key = 'schema'`);
  const error = await t.throwsAsync(PostgresHistoryStore.open({ url, log }), { instanceOf: DatabaseOpenError });
  t.regex(error!.message, /unknown schema version 99/);
});

test('open() re-keys rooms with keyOf and merges look-alikes into the oldest, messages included', async (t) => {
  const url = await server!.createDatabase();
  const store = await PostgresHistoryStore.open({ url, log });
  // Keys as an older key function (case folding only) made them; #рор is Cyrillic.
  store.append({ roomKey: '#pop', roomName: '#pop', at: 1_000, nick: 'alice', kind: 'MSG', text: 'latin' });
  store.append({ roomKey: '#рор', roomName: '#рор', at: 2_000, nick: 'ivan', kind: 'MSG', text: 'cyrillic' });
  await store.close();
  const again = await PostgresHistoryStore.open({ url, log, keyOf: nameKey });
  t.deepEqual(again.loadRooms().map((r) => [r.key, r.name]), [[nameKey('#pop'), '#pop']]);
  const queries = new PostgresHistoryQueries({ url, log, store: again });
  t.deepEqual((await queries.recent(nameKey('#pop'), 10)).entries.map((e) => e.text), ['latin', 'cyrillic']);
  t.deepEqual((await queries.search(nameKey('#рор'), ['cyrillic'], 10)).map((e) => e.nick), ['ivan']);
  await queries.close();
  await again.close();
});

test('a message that is one 4,000-letter word is stored and found (PostgreSQL refuses lexemes of 2 KiB)', async (t) => {
  const url = await server!.createDatabase();
  const store = await PostgresHistoryStore.open({ url, log });
  const queries = new PostgresHistoryQueries({ url, log, store });
  const word = 'é'.repeat(2000);
  store.append({ roomKey: '#long', roomName: '#long', at: 1_000, nick: 'alice', kind: 'MSG', text: word });
  await store.flushed();
  t.true(store.healthy);
  t.is((await queries.search('#long', ['eee'], 10)).length, 1);
  t.is((await queries.search('#long', [word], 10)).length, 1, 'the whole word, compared on its first 500 bytes');
  await queries.close();
  await store.close();
});

/** Runs a statement through the reader's own path (its private run), as a stand-in for a costly query. */
function runDirectly(
  queries: PostgresHistoryQueries,
  query: (client: pg.PoolClient) => Promise<unknown>,
  settings: { limit: number; search?: boolean; spent?: (ms: number) => void },
): Promise<unknown> {
  return (queries as unknown as { run: (q: typeof query, s: typeof settings) => Promise<unknown> }).run(query, settings);
}

test('a query past its time budget is cancelled by the server (QUERY_TIMEOUT); past the queue bound, HISTORY_BUSY', async (t) => {
  const url = await server!.createDatabase();
  const store = await PostgresHistoryStore.open({ url, log });
  const queries = new PostgresHistoryQueries({ url, log, store, timeoutMs: 300, maxQueue: 1 });
  // A statement as slow as a costly search, run through the same path as every query.
  const slow = runDirectly(queries, (client) => client.query('SELECT pg_sleep(5)'), { limit: 1 });
  const busy = await t.throwsAsync(queries.recent('#x', 10), { instanceOf: HistoryQueryError });
  t.is(busy!.code, 'HISTORY_BUSY');
  const started = Date.now();
  const timedOut = await t.throwsAsync(slow, { instanceOf: HistoryQueryError });
  t.is(timedOut!.code, 'QUERY_TIMEOUT');
  t.true(Date.now() - started < 3000, 'cancelled by statement_timeout, not waited out');
  const running = await sql(url, `SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%' AND datname = current_database()`);
  t.is(running.rows[0].n, 0, 'nothing is left running on the server');
  t.deepEqual(await queries.recent('#x', 10), { entries: [], more: false }, 'the connection is usable again');
  await queries.close();
  await store.close();
});

test('searches use at most maxSearches connections: replays and pages still answer, a search waiting too long gets HISTORY_BUSY, and each reports its time', async (t) => {
  const url = await server!.createDatabase();
  const store = await PostgresHistoryStore.open({ url, log });
  const queries = new PostgresHistoryQueries({ url, log, store, timeoutMs: 3000, maxWaitMs: 400, maxSearches: 1 });
  const spent: number[] = [];
  // A search as slow as the costliest: it holds the only search slot for 1.5 s.
  const slow = runDirectly(queries, (client) => client.query('SELECT pg_sleep(1.5)'), { limit: 1, search: true, spent: (ms) => spent.push(ms) });
  const started = Date.now();
  t.deepEqual(await queries.recent('#x', 10), { entries: [], more: false }, 'a replay or /history page does not wait for it');
  t.true(Date.now() - started < 1000);
  const waited = await t.throwsAsync(queries.search('#x', ['word'], 10), { instanceOf: HistoryQueryError });
  t.is(waited!.code, 'HISTORY_BUSY');
  t.is(waited!.message, 'The server has too many searches running; try again in a moment.');
  await slow;
  t.is(spent.length, 1);
  t.true(spent[0]! >= 1400 && spent[0]! < 3000, `${spent[0]} ms reported`);
  // The slot is free again (the refused waiter did not keep it).
  t.deepEqual(await queries.search('#x', ['word'], 10, (ms) => spent.push(ms)), []);
  t.is(spent.length, 2);
  await queries.close();
  await store.close();
});

test('entries dropped for the backlog bound while their write was in flight count as what they were once it fails: rooms as rooms, not as messages', async (t) => {
  const url = await server!.createDatabase();
  const lines: string[] = [];
  const store = await PostgresHistoryStore.open({ url, log: createLogger('debug', (line) => lines.push(line), false) });
  // The first write hangs for a second and then fails, as a disk filling up under it would.
  await sql(
    url,
    `CREATE FUNCTION slow_fail() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(1); RAISE EXCEPTION 'No space left on device' USING ERRCODE = 'disk_full'; END $$;
     CREATE TRIGGER slow_fail BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION slow_fail();`,
  );
  for (let i = 0; i < 5; i++) store.saveRoom({ roomKey: `#room${i}`, roomName: `#room${i}`, at: 0 });
  store.append({ roomKey: '#room0', roomName: '#room0', at: 0, nick: 'n', kind: 'MSG', text: 'first' });
  store.commit();
  // While that write is in flight, the backlog passes its bound: the six entries being written are the oldest, dropped first.
  for (let i = 0; i < 10_000; i++) store.append({ roomKey: '#room0', roomName: '#room0', at: 0, nick: 'n', kind: 'MSG', text: `m${i}` });
  await store.flushed();
  t.false(store.healthy);
  t.is(await store.close(), 10_001, 'every message sent, none more');
  t.regex(lines.find((l) => l.includes('history-closed')) ?? '', /notKept=10001 unwritten=10000 dropped=1 written=0 roomsNotKept=5/);
});
