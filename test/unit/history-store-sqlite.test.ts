import type Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLogger } from '../../lib/log';
import { inlineQueries } from '../../lib/history/history-reader';
import { PRUNE_STEP_ROWS, SqliteHistoryStore } from '../../lib/history/sqlite-history-store';
import { historyStoreContract, type OpenStore, type StoreHarness } from '../helpers/history-store-contract';

/** The HistoryStore contract run against the embedded SQLite store (the same tests run against PostgreSQL). */

function harness(dataDir: string, logLines: string[], onOutage: Parameters<OpenStore>[1]['onOutage'], teardown: (close: () => unknown) => void): StoreHarness {
  const store = new SqliteHistoryStore({ dataDir, sync: 'normal', log: createLogger('debug', (line) => logLines.push(line), false), onOutage });
  teardown(() => store.close());
  const db = (): Database.Database => (store as unknown as { db: Database.Database }).db;
  return {
    store,
    queries: inlineQueries(store),
    settle: () => Promise.resolve(store.commit()),
    rooms: () => Promise.resolve(store.loadRooms()),
    creations: (since) => Promise.resolve(store.loadRoomCreations(since)),
    prune: (now, policy) => Promise.resolve(store.prune(now, policy)),
    rowCounts: () =>
      Promise.resolve({
        messages: db().prepare('SELECT count(*) FROM messages').pluck().get() as number,
        rooms: db().prepare('SELECT count(*) FROM rooms').pluck().get() as number,
      }),
    // A full disk: the database may not grow past the pages it has.
    failWrites: () => {
      db().pragma(`max_page_count = ${db().pragma('page_count', { simple: true }) as number}`);
      // Giving the space back after the store was closed changes nothing.
      return Promise.resolve(() => Promise.resolve(void (db().open ? db().pragma('max_page_count = 1073741823') : undefined)));
    },
    close: (lastAttemptMs = 0) => Promise.resolve(store.close(lastAttemptMs)),
    reopen: () => {
      store.close();
      return Promise.resolve(harness(dataDir, logLines, onOutage, teardown));
    },
  };
}

const open: OpenStore = (t, { logLines = [], onOutage }) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mychat-store-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // Stores close before the directory goes (teardowns run last-registered first).
  return Promise.resolve(harness(dir, logLines, onOutage, (close) => t.teardown(close)));
};

historyStoreContract('sqlite', open, { pruneStepRows: PRUNE_STEP_ROWS });
