/** Anything that queues output during an event-loop turn and writes it when the turn's output is flushed. */
export interface TurnOutput {
  /** Writes everything queued (the turn's beforeFlush hook has already run). */
  write(): void;
}

/**
 * The output turn, one per process and shared by every door (TCP, TLS, WebSocket): collects every output
 * that queued bytes during the current event-loop turn and flushes them all in one setImmediate, so the
 * lines bound for one connection in one turn leave as a single write.
 */
export class OutputTurn {
  private readonly dirty = new Set<TurnOutput>();
  private scheduled = false;

  /**
   * Runs before any queued output is written, for every transport: the daemon hands the turn's history
   * to its store here (the SQLite writer thread, which with --sync full has committed it when this
   * returns), so the store has every line before anyone can see it.
   */
  beforeFlush: (() => void) | undefined;

  /** Remembers `output` for the next flush. */
  mark(output: TurnOutput): void {
    this.dirty.add(output);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flushAll());
    }
  }

  /** Flushes every marked output now. */
  flushAll(): void {
    this.scheduled = false;
    this.beforeFlush?.();
    for (const output of this.dirty) output.write();
    this.dirty.clear();
  }
}
