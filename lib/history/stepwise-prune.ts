import type { PruneResult, RetentionPolicy } from '../core/ports/history-store';

/** What prune() answers while a step is running: nothing yet, more to do. */
const PENDING: PruneResult = { deletedMessages: 0, unusedRooms: [], done: false, pending: true };

/**
 * The port's synchronous prune() over retention steps that finish later (the PostgreSQL store's, the
 * SQLite writer thread's): a call starts one step and answers "not done" until a later call finds it
 * finished, then returns what it did. The caller keeps calling (daemon/retention.ts does).
 */
export class StepwisePrune {
  private running = false;
  private finished: PruneResult | undefined;

  /** @param step One bounded retention step; it never rejects. */
  constructor(private readonly step: (now: number, policy: RetentionPolicy) => Promise<PruneResult>) {}

  /** The finished step's result, or PENDING after starting one when `mayStart` (the store is open). */
  prune(now: number, policy: RetentionPolicy, mayStart: boolean): PruneResult {
    const finished = this.finished;
    if (finished !== undefined) {
      this.finished = undefined;
      return finished;
    }
    if (!this.running && mayStart) {
      this.running = true;
      void this.step(now, policy).then((result) => {
        this.running = false;
        this.finished = result;
      });
    }
    return PENDING;
  }
}
