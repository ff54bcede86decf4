import type { Logger } from '../log';

/*
 * What re-keying stored rooms means, shared by the SQLite and PostgreSQL stores: when the function that
 * computes a room's key changes (say look-alike folding improves), rooms whose names now share a key
 * become one. Each store applies the plan with its own statements.
 */

/** A stored room as the re-keying reads it. */
export interface RekeyRoomRow {
  id: number;
  key: string;
  name: string;
  topic: string;
  topicBy: string;
  topicAt: number;
  createdAt: number;
}

/** Rooms that only take a new key, and rooms merged into an older one whose name now shares their key. */
export interface RekeyPlan {
  renames: Array<{ row: RekeyRoomRow; key: string }>;
  merges: Array<{ row: RekeyRoomRow; into: RekeyRoomRow }>;
}

/**
 * Plans re-keying `rows` (oldest first) with `keyOf`: the oldest room of each new key keeps its row and
 * name; the others are merged into it. Empty when every key is already right.
 */
export function planRekey(rows: readonly RekeyRoomRow[], keyOf: (name: string) => string): RekeyPlan {
  const owners = new Map<string, RekeyRoomRow>();
  const plan: RekeyPlan = { renames: [], merges: [] };
  for (const row of rows) {
    const key = keyOf(row.name);
    const owner = owners.get(key);
    if (owner !== undefined) plan.merges.push({ row, into: owner });
    else {
      owners.set(key, row);
      if (row.key !== key) plan.renames.push({ row, key });
    }
  }
  return plan;
}

/** Folds a merged room into the one it joins: the most recent topic, and the earliest creation time. */
export function absorbRoom(into: RekeyRoomRow, row: RekeyRoomRow): void {
  if (row.topicAt > into.topicAt) Object.assign(into, { topic: row.topic, topicBy: row.topicBy, topicAt: row.topicAt });
  into.createdAt = Math.min(into.createdAt, row.createdAt);
}

/** The key a renamed room holds for a moment, so that a new key equal to another row's old key never meets the UNIQUE constraint. */
export function interimKey(row: RekeyRoomRow): string {
  return `\u0001rekey ${row.id}`;
}

/** Logs a plan that was applied: each merge (a warning: two rooms became one), then the totals. */
export function logRekey(log: Logger, plan: RekeyPlan): void {
  for (const { row, into } of plan.merges) log.log('warn', 'rooms-merged', { room: row.name, into: into.name, reason: 'names look alike' });
  log.log('info', 'rooms-rekeyed', { renamed: plan.renames.length, merged: plan.merges.length });
}
