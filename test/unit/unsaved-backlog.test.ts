import test from 'ava';
import type { NewHistoryEntry } from '../../lib/core/ports/history-store';
import { entrySize, MAX_UNSAVED, MAX_UNSAVED_BYTES, nextChunk, nextRetryDelay, OutageTally, overBounds, RETRY_FIRST_MS, type UnsavedWrite } from '../../lib/history/unsaved-backlog';

/* The backlog rules both history stores share (SQLite on a full disk, PostgreSQL when the database is down). */

const message = (text: string): NewHistoryEntry => ({ roomKey: '#r', roomName: '#r', at: 0, nick: 'n', kind: 'MSG', text });
const room: UnsavedWrite = { roomKey: '#new', roomName: '#new', at: 0 };
const forget: UnsavedWrite = { roomKey: '#old', forget: true };

test('bounds, chunks and retry delays', (t) => {
  t.false(overBounds(MAX_UNSAVED, MAX_UNSAVED_BYTES));
  t.true(overBounds(MAX_UNSAVED + 1, 0));
  t.true(overBounds(1, MAX_UNSAVED_BYTES + 1));
  t.is(entrySize(message('é')), 2 + 2 + 1 + 2 + 64, 'UTF-8 bytes of the text, characters of the names, plus the overhead');
  t.is(nextChunk(Array.from({ length: 250 }, () => message('x'))).count, 100);
  t.is(nextChunk([message('x'.repeat(70_000)), message('y')]).count, 1, 'a chunk over 64 KiB holds its first entry alone');
  t.is(nextRetryDelay(RETRY_FIRST_MS, false), 2 * RETRY_FIRST_MS);
  t.is(nextRetryDelay(16_000, false), 30_000);
  t.is(nextRetryDelay(30_000, true), RETRY_FIRST_MS, 'progress starts the backoff again');
});

test('an outage tally counts what was written back and dropped, says so on recovery, and starts afresh', (t) => {
  const tally = new OutageTally();
  for (const entry of [message('a'), message('b'), room, forget]) tally.drop(entry);
  tally.written = 5;
  t.is(tally.dropped, 4);
  t.deepEqual(tally.recovered(), { written: 5, lost: 2, roomsLost: 2 });
  t.deepEqual(tally.recovered(), { written: 0, lost: 0, roomsLost: undefined }, 'the next outage counts from zero');
});

test('at close, the tally says exactly how many messages were not kept: dropped plus still unwritten', (t) => {
  const healthy = new OutageTally();
  t.deepEqual(healthy.closing([], false), { notKept: 0, level: 'info', fields: { notKept: 0 } });
  const tally = new OutageTally();
  tally.drop(message('lost'));
  tally.drop(room);
  tally.written = 3;
  const report = tally.closing([message('x'), message('y'), room, forget], true);
  t.is(report.notKept, 3);
  t.is(report.level, 'error');
  t.deepEqual(report.fields, { notKept: 3, unwritten: 2, dropped: 1, written: 3, roomsNotKept: 2 });
  t.is(new OutageTally().closing([], true).level, 'error', 'a close during an outage is an error line even when nothing was lost');
});
