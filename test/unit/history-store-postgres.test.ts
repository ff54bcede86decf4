import test from 'ava';
import pg from 'pg';
import { createLogger } from '../../lib/log';
import { PostgresHistoryQueries } from '../../lib/history/postgres-history-queries';
import { POSTGRES_PRUNE_STEP_ROWS, PostgresHistoryStore } from '../../lib/history/postgres-history-store';
import { historyStoreContract, type OpenStore, type StoreHarness } from '../helpers/history-store-contract';
import { startPostgres, type PostgresServer } from '../helpers/postgres';

/** The HistoryStore contract run against the PostgreSQL store: one real server for this file, a fresh database per test. */

let server: PostgresServer | undefined;
test.before(async () => {
  server = await startPostgres();
});
test.after.always(() => server?.destroy());

/** Runs one statement on the test's database (outside the store). */
async function sql(url: string, text: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(text);
  } finally {
    await client.end();
  }
}

async function harness(url: string, logLines: string[], onOutage: Parameters<OpenStore>[1]['onOutage'], teardown: (close: () => Promise<unknown>) => void): Promise<StoreHarness> {
  const log = createLogger('debug', (line) => logLines.push(line), false);
  const store = await PostgresHistoryStore.open({ url, log, onOutage, creationsSince: 0 });
  const queries = new PostgresHistoryQueries({ url, log, store });
  const close = async (lastAttemptMs = 0): Promise<number> => {
    await queries.close();
    return store.close(lastAttemptMs);
  };
  teardown(() => close());
  return {
    store,
    queries,
    settle: () => store.flushed(),
    rooms: async () => {
      await store.refresh(0);
      return store.loadRooms();
    },
    creations: async (since) => {
      await store.refresh(since);
      return store.loadRoomCreations(since);
    },
    prune: (now, policy) => store.pruneStep(now, policy),
    rowCounts: async () => {
      const counts = await sql(url, 'SELECT (SELECT count(*) FROM messages)::int AS messages, (SELECT count(*) FROM rooms)::int AS rooms');
      return counts.rows[0] as { messages: number; rooms: number };
    },
    // As a full disk does to PostgreSQL (SQLSTATE 53100): inserts fail, reads work.
    failWrites: async () => {
      await sql(
        url,
        `CREATE FUNCTION fail_writes() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = 'disk_full'; END $$;
         CREATE TRIGGER fail_writes BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION fail_writes();`,
      );
      return async () => void (await sql(url, 'DROP TRIGGER fail_writes ON messages; DROP FUNCTION fail_writes();'));
    },
    close,
    reopen: async () => {
      await close();
      return harness(url, logLines, onOutage, teardown);
    },
  };
}

const open: OpenStore = async (t, { logLines = [], onOutage }) => {
  const url = await server!.createDatabase();
  return harness(url, logLines, onOutage, (close) => t.teardown(close));
};

historyStoreContract('postgres', open, { pruneStepRows: POSTGRES_PRUNE_STEP_ROWS });
