import path from 'node:path';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import type { HistoryStore, NewHistoryEntry, NewRoom, PruneResult, RetentionPolicy, RoomCreations, StoredRoom } from '../core/ports/history-store';
import { HistoryOpenError, SqliteHistoryStore, type SqliteStoreOptions } from './sqlite-history-store';
import type { UnsavedWrite } from './unsaved-backlog';
import type { WriterData, WriterReport, WriterRequest } from './sqlite-writer-worker';
import { StepwisePrune } from './stepwise-prune';
import { allocateRing, CTL, reached, RingProducer, type RingMemory } from './write-ring';

/*
 * The daemon's SQLite history store: the event loop hands each write to a writer thread through a ring in
 * shared memory (write-ring.ts) and never runs a transaction or waits for a lock. Storing a message costs
 * it about a tenth of what its own commit did, and the writer's commits, indexing and checkpoints use the
 * other core (see README "History" for the figures).
 *
 * What a user can rely on:
 * - with --sync full, a turn's output leaves only once the writer has committed (and fsynced) everything
 *   the turn queued, as before: nothing is shown before it is on disk;
 * - with --sync normal (the default), a line is shown at once and committed by the writer behind it, in
 *   the commit that follows (a fraction of a millisecond when idle, about 10 ms under ordinary load, and
 *   at saturation up to what the ring and one batch of the writer hold);
 *   a PONG is sent only once everything queued before its PING is committed, and every /history, /search
 *   and replay reads only after what was queued before it is committed; a crash of the process (kill -9)
 *   can lose what was shown but not yet committed, at most that much; a clean stop loses nothing.
 * Message ids are given here, in order, so a replay's bound (lastMessageId) is exact without a commit.
 */

/** Size of the ring: at 130 000 messages a second, about 100 ms of them (ten of the writer's commits under load). */
export const RING_BYTES = 2 * 1024 * 1024;
/**
 * Longest the event loop waits, in one go, for the writer to free ring space or (with --sync full) to
 * commit: a writer that stalls longer makes entries dropped and counted (ring full) or output go out.
 */
const STALL_WAIT_MS = 2000;
/** Longest a read, a PONG or a shutdown waits for the writer to commit what was queued before it. */
const WRITTEN_WAIT_MS = 2000;
/** Longest start-up waits for the writer thread to open the database (a cold start under ts-node takes seconds). */
const READY_WAIT_MS = 60_000;
/** Delay before a writer thread that died is replaced; it doubles, up to a minute, while replacements die young. */
const RESTART_DELAY_MS = 1000;
const MAX_RESTART_DELAY_MS = 60_000;
/** Longest close() waits for the writer beyond its last attempt at writing an outage backlog. */
const CLOSE_GRACE_MS = 5000;

/** What a retention step did when the writer could not run it: nothing, and done. */
const NOTHING_PRUNED: PruneResult = { deletedMessages: 0, unusedRooms: [], done: true };

/** Settings of the threaded store: those of the SQLite store, without the thread choices. */
export type ThreadedStoreOptions = Omit<SqliteStoreOptions, 'background'>;

/** Someone waiting for a control word (committed, searched) to reach a count. */
interface Mark {
  word: number;
  target: number;
  deadline: number;
  resolve: () => void;
}

/** Starts the writer thread; under ts-node (tests) its TypeScript file is loaded through ts-node. */
function startWriter(data: WriterData): Worker {
  const file = path.join(__dirname, `sqlite-writer-worker${path.extname(__filename)}`);
  const transferList = [data.failures];
  const worker = __filename.endsWith('.ts')
    ? new Worker(`require('ts-node/register'); require(${JSON.stringify(file)});`, { eval: true, workerData: data, transferList })
    : new Worker(file, { workerData: data, transferList });
  worker.unref();
  return worker;
}

/** The SQLite history store with its writes on a thread of their own (see the comment at the top). */
export class ThreadedSqliteStore implements HistoryStore {
  /** The event loop's own connection: schema, re-keying and reads at start-up. */
  private readonly starter: SqliteHistoryStore;
  private readonly memory: RingMemory;
  private readonly producer: RingProducer;
  private readonly control: Int32Array;
  private worker: Worker | undefined;
  /** The id the next message gets (re-keying at start-up moves messages between rooms, never renumbers them). */
  private nextId: number;
  private marks: Mark[] = [];
  private deadlineTimer: NodeJS.Timeout | undefined;
  private readonly pruning = new StepwisePrune((now, policy) => this.pruneStep(now, policy));
  /** Callers of pruneStep waiting for the writer's answers, in the order they asked (it answers in order). */
  private pruneWaiters: Array<(result: PruneResult) => void> = [];
  /** Callers of flushed(), in the order they asked (the writer answers in order). */
  private flushWaiters: Array<() => void> = [];
  private closed = false;
  private closing: Promise<number> | undefined;
  private resolveClosed: ((notKept: number) => void) | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private restartDelay = RESTART_DELAY_MS;
  private workerStarted = 0;
  /** The writer's store's health, as it last reported it (by message, after the log lines that explain it). */
  private writerHealthy = true;
  /** Entries dropped because the ring stayed full (a writer stalled for STALL_WAIT_MS); logged once per stall. */
  private ringFullDropped = 0;
  /** Messages dropped that way since start: added to what close() reports as not kept. */
  private ringDroppedMessages = 0;

  constructor(private readonly options: ThreadedStoreOptions) {
    // Opening here first reports a data directory or database that cannot be used before any thread starts.
    this.starter = new SqliteHistoryStore({ ...options, background: false });
    this.nextId = this.starter.nextMessageId();
    this.memory = allocateRing(RING_BYTES);
    this.producer = new RingProducer(this.memory);
    this.control = this.producer.control;
    const failures = this.startWorker();
    // Start-up waits until the writer has the database open, so the first commit (or, with --sync full,
    // the first output) never waits for a thread that is still loading.
    Atomics.wait(this.control, CTL.ready, 0, READY_WAIT_MS);
    const ready = Atomics.load(this.control, CTL.ready);
    if (ready !== 1) {
      const why = (receiveMessageOnPort(failures)?.message as string | undefined) ?? `the writer thread did not start within ${READY_WAIT_MS / 1000} s`;
      this.closed = true;
      void this.worker?.terminate();
      this.starter.close();
      throw new HistoryOpenError(`cannot write the history database in ${options.dataDir}: ${why}`);
    }
  }

  get healthy(): boolean {
    return this.worker !== undefined && this.writerHealthy;
  }

  loadRooms(keyOf?: (name: string) => string): StoredRoom[] {
    return this.starter.loadRooms(keyOf);
  }

  loadRoomCreations(since: number): RoomCreations[] {
    return this.starter.loadRoomCreations(since);
  }

  append(entry: NewHistoryEntry): void {
    this.write(entry, this.nextId++);
  }

  saveRoom(room: NewRoom): void {
    this.write(room);
  }

  forgetRoom(roomKey: string): void {
    this.write({ roomKey, forget: true });
  }

  /** Publishes what was queued to the writer; with --sync full, waits until it is committed. */
  commit(): void {
    if (this.closed) return;
    const full = this.options.sync === 'full';
    this.producer.publish(full);
    if (full) this.waitCommitted(this.producer.count);
  }

  /** Id of the newest message queued (exact at once: ids are given here). */
  lastMessageId(): number {
    return this.nextId - 1;
  }

  /**
   * Resolves once everything queued so far is committed (or taken into the writer's outage backlog), or
   * after WRITTEN_WAIT_MS; undefined when nothing is waiting. PONGs and reads wait for it.
   */
  written(): Promise<void> | undefined {
    if (this.closed) return undefined;
    this.producer.publish();
    return this.waitFor(CTL.committed, this.producer.count);
  }

  /**
   * Resolves once the writer has committed everything queued so far and the event loop has handled
   * everything it reported before (log lines, health, outages): what tests wait for, as PostgreSQL's flushed().
   */
  flushed(): Promise<void> {
    const worker = this.worker;
    if (this.closed || worker === undefined) return Promise.resolve();
    this.producer.publish();
    return new Promise((resolve) => {
      this.flushWaiters.push(resolve);
      worker.postMessage({ op: 'flush' } satisfies WriterRequest);
    });
  }

  /**
   * What a read waits for: the commit of what was queued before it; for a search also the indexing of
   * what is committed (up to the store's catch-up bound), which the writer is asked for here.
   */
  caughtUp(forSearch: boolean): Promise<void> | undefined {
    if (!forSearch) return this.written();
    if (this.closed) return undefined;
    this.producer.publish();
    this.worker?.postMessage({ op: 'search' } satisfies WriterRequest);
    return this.waitFor(CTL.searched, this.producer.count) ?? Promise.resolve();
  }

  /**
   * Retention, in the shape of the port's synchronous call: asks the writer for one bounded step and
   * answers "not done" until a later call finds it finished, then returns what it did.
   */
  prune(now: number, policy: RetentionPolicy): PruneResult {
    return this.pruning.prune(now, policy, !this.closed && this.worker !== undefined);
  }

  /**
   * One bounded retention step run by the writer after it has committed what is queued; resolves with what
   * it did (nothing, and done, when the writer is gone or the store closes meanwhile).
   */
  pruneStep(now: number, policy: RetentionPolicy): Promise<PruneResult> {
    const worker = this.worker;
    if (this.closed || worker === undefined) return Promise.resolve(NOTHING_PRUNED);
    this.producer.publish();
    return new Promise((resolve) => {
      this.pruneWaiters.push(resolve);
      worker.postMessage({ op: 'prune', now, policy } satisfies WriterRequest);
    });
  }

  /**
   * Has the writer commit what is queued and close its store (which logs history-closed with what was
   * not kept); resolves with that count. During an outage the writer makes one last attempt at the
   * backlog for at most `lastAttemptMs`.
   */
  close(lastAttemptMs = 0): Promise<number> {
    if (this.closing) return this.closing;
    this.producer.publish();
    // A writer that died and is waiting to be replaced is replaced now: what the ring holds is written, not lost.
    if (this.worker === undefined && this.restartTimer !== undefined) this.startWorker().close();
    this.closed = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.releaseWaiters();
    const worker = this.worker;
    this.closing = new Promise<number>((resolve) => {
      if (worker === undefined) {
        resolve(0);
        return;
      }
      this.resolveClosed = resolve;
      const late = setTimeout(() => {
        this.options.log.log('error', 'history-writer-close-late', { waitedMs: lastAttemptMs + CLOSE_GRACE_MS });
        void worker.terminate();
        resolve(0);
      }, lastAttemptMs + CLOSE_GRACE_MS);
      worker.once('exit', () => {
        clearTimeout(late);
        resolve(0);
      });
      worker.postMessage({ op: 'close', lastAttemptMs } satisfies WriterRequest);
    }).then((notKept) => {
      this.worker = undefined;
      this.starter.close();
      if (this.ringDroppedMessages === 0) return notKept;
      // The writer's history-closed line counts what it was given; these never reached it.
      this.options.log.log('error', 'history-closed-stalled-drops', { dropped: this.ringDroppedMessages, notKept: notKept + this.ringDroppedMessages });
      return notKept + this.ringDroppedMessages;
    });
    return this.closing;
  }

  /** Writes one entry into the ring; when it is full, publishes and waits (bounded) for the writer to free space. */
  private write(entry: UnsavedWrite, id?: number): void {
    if (this.closed || this.producer.tryWrite(entry, id)) return;
    // Only an entry that did not fit is measured against the ring (protocol limits keep entries far smaller).
    if (!this.producer.fits(entry)) throw new RangeError('history entry larger than the write ring');
    const deadline = Date.now() + STALL_WAIT_MS;
    for (;;) {
      this.producer.publish(true);
      const tail = Atomics.load(this.control, CTL.tail);
      if (this.producer.tryWrite(entry, id)) break;
      const left = deadline - Date.now();
      if (left <= 0 || this.worker === undefined) {
        if (this.ringFullDropped++ === 0) this.options.log.log('error', 'history-writer-stalled', { waitedMs: STALL_WAIT_MS, ringBytes: RING_BYTES });
        if ('kind' in entry) this.ringDroppedMessages++;
        return;
      }
      // The writer is behind by a whole ring: the event loop waits for it, as it waited for its own commits.
      Atomics.wait(this.control, CTL.tail, tail, left);
    }
    if (this.ringFullDropped > 0) {
      this.options.log.log('warn', 'history-writer-recovered', { dropped: this.ringFullDropped });
      this.ringFullDropped = 0;
    }
  }

  /** Blocks until the writer has committed `target` entries, for at most STALL_WAIT_MS (--sync full). */
  private waitCommitted(target: number): void {
    const deadline = Date.now() + STALL_WAIT_MS;
    for (;;) {
      const committed = Atomics.load(this.control, CTL.committed);
      if (reached(committed, target) || this.worker === undefined) return;
      const left = deadline - Date.now();
      if (left <= 0) {
        this.options.log.log('warn', 'history-commit-late', { waitedMs: STALL_WAIT_MS });
        return;
      }
      Atomics.wait(this.control, CTL.committed, committed, left);
    }
  }

  /**
   * A promise of the writer having committed (or, for CTL.searched, indexed) `target` entries, or
   * undefined when it already has. The writer answers by message once it gets there, after any log line
   * or health change it sent before, so a caller that wakes up sees those too; a mark that waits longer
   * than WRITTEN_WAIT_MS (a stalled writer) is resolved anyway.
   */
  private waitFor(word: typeof CTL.committed | typeof CTL.searched, target: number): Promise<void> | undefined {
    if (reached(Atomics.load(this.control, word), target) || this.worker === undefined) return undefined;
    const promise = new Promise<void>((resolve) => this.marks.push({ word, target, deadline: Date.now() + WRITTEN_WAIT_MS, resolve }));
    if (word === CTL.committed) {
      Atomics.store(this.control, CTL.wanted, target);
      // The writer may have finished its last commit before it could see the new target: look again.
      if (reached(Atomics.load(this.control, CTL.committed), target)) this.settleMarks(CTL.committed, Atomics.load(this.control, CTL.committed));
    }
    this.armDeadline();
    return promise;
  }

  /** Resolves the marks on `word` that `count` reaches. */
  private settleMarks(word: number, count: number): void {
    this.marks = this.marks.filter((mark) => {
      const done = mark.word === word && reached(count, mark.target);
      if (done) mark.resolve();
      return !done;
    });
  }

  /** Keeps one timer for the earliest deadline among the marks; marks past theirs are resolved. */
  private armDeadline(): void {
    if (this.deadlineTimer !== undefined || this.marks.length === 0) return;
    const next = Math.min(...this.marks.map((mark) => mark.deadline));
    this.deadlineTimer = setTimeout(() => {
      this.deadlineTimer = undefined;
      const now = Date.now();
      this.marks = this.marks.filter((mark) => {
        const late = now >= mark.deadline;
        if (late) mark.resolve();
        return !late;
      });
      this.armDeadline();
    }, Math.max(0, next - Date.now()));
    this.deadlineTimer.unref();
  }

  /** Lets everyone waiting for the writer go (it is gone, or the store closes): nothing more will come. */
  private releaseWaiters(): void {
    for (const mark of this.marks.splice(0)) mark.resolve();
    for (const waiter of this.flushWaiters.splice(0)) waiter();
    for (const waiter of this.pruneWaiters.splice(0)) waiter(NOTHING_PRUNED);
  }

  /** Starts a writer thread; returns the port on which it says why it could not open the database. */
  private startWorker(): MessagePort {
    const { port1, port2 } = new MessageChannel();
    port1.unref();
    this.workerStarted = Date.now();
    this.writerHealthy = true;
    const worker = startWriter({ dataDir: this.options.dataDir, sync: this.options.sync, ring: this.memory, logLevel: this.options.log.level, failures: port2 });
    this.worker = worker;
    worker.on('message', (report: WriterReport) => {
      if ('log' in report) this.options.log.log(report.log.level, report.log.event, report.log.fields);
      else if ('outage' in report) this.options.onOutage?.(report.outage);
      else if ('healthy' in report) this.writerHealthy = report.healthy;
      else if ('committed' in report) this.settleMarks(CTL.committed, report.committed);
      else if ('searched' in report) this.settleMarks(CTL.searched, report.searched);
      else if ('flushed' in report) this.flushWaiters.shift()?.();
      else if ('pruned' in report) this.pruneWaiters.shift()?.(report.pruned);
      else this.resolveClosed?.(report.closed);
    });
    // A thread that could not open the database ends with that error; it is logged here (at start-up the
    // constructor reads it from the `failures` port, since the event loop is blocked then).
    worker.on('error', (error) => this.options.log.log('error', 'history-writer-failed', { error: error.message }));
    worker.on('exit', () => {
      if (this.worker !== worker || this.closed) return;
      // What it had taken from the ring but not committed is lost; what is still in the ring is not.
      this.worker = undefined;
      this.releaseWaiters();
      // A writer that cannot open the database dies at once: its replacements come less and less often.
      if (Date.now() - this.workerStarted > MAX_RESTART_DELAY_MS) this.restartDelay = RESTART_DELAY_MS;
      const delay = this.restartDelay;
      this.restartDelay = Math.min(delay * 2, MAX_RESTART_DELAY_MS);
      this.options.log.log('error', 'history-writer-lost', { restartMs: delay });
      this.restartTimer = setTimeout(() => {
        this.restartTimer = undefined;
        if (!this.closed) this.startWorker().close();
      }, delay);
      this.restartTimer.unref();
    });
    return port1;
  }
}
