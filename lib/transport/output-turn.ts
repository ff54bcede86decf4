/** Anything that queues output during an event-loop turn and writes it when the turn's output is flushed. */
export interface TurnOutput {
  /** Writes everything queued (the gate has let it go). */
  write(): void;
  /** Marks everything queued so far as belonging to the write the gate is waiting for. */
  seal(): void;
  /** Writes what seal() marked, keeping what was queued after it. */
  writeSealed(): void;
}

/**
 * What output waits for before it leaves: the history store, so that nothing is shown before it is stored.
 * hold() starts storing what the turn queued and returns true when the output must wait; the gate then
 * calls the turn's release() once it may go (stored, or storage failing: the outage is reported apart).
 */
export interface OutputGate {
  hold(): boolean;
}

/**
 * The output turn, one per process and shared by every door (TCP, TLS, WebSocket): collects every output
 * that queued bytes during the current event-loop turn and flushes them all in one setImmediate, so the
 * lines bound for one connection in one turn leave as a single write. With a gate whose store writes in
 * another thread, a turn's output is sealed and written when the store says the turn's entries are
 * stored; what later turns queue meanwhile waits for the next write (group commit).
 */
export class OutputTurn {
  private dirty = new Set<TurnOutput>();
  /** Outputs with sealed bytes that wait for the gate's release. */
  private sealed = new Set<TurnOutput>();
  private scheduled = false;
  private waiting = false;

  /** What output waits for (the daemon sets the history store); none: output leaves at the end of the turn. */
  gate: OutputGate | undefined;

  /** Remembers `output` for the next flush. */
  mark(output: TurnOutput): void {
    this.dirty.add(output);
    if (!this.scheduled && !this.waiting) {
      this.scheduled = true;
      setImmediate(() => this.flushAll());
    }
  }

  /** True while output waits for the gate: nothing may be written ahead of what is sealed. */
  get holding(): boolean {
    return this.waiting;
  }

  /** Flushes every marked output now, or seals them all when the gate holds them. */
  flushAll(): void {
    this.scheduled = false;
    if (this.waiting || this.dirty.size === 0) return;
    if (this.gate?.hold() === true) {
      for (const output of this.dirty) output.seal();
      const sealed = this.sealed;
      this.sealed = this.dirty;
      this.dirty = sealed;
      this.waiting = true;
      return;
    }
    for (const output of this.dirty) output.write();
    this.dirty.clear();
  }

  /** Called by the gate: what was sealed may go; what came after it is flushed (or sealed) in turn. */
  release(): void {
    if (!this.waiting) return;
    this.waiting = false;
    for (const output of this.sealed) output.writeSealed();
    this.sealed.clear();
    this.flushAll();
  }
}
