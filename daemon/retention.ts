import type { ChatCore } from '../lib/core/chat-core';
import type { RetentionPolicy } from '../lib/core/ports/history-store';

/** Pause between two retention steps (each takes a few milliseconds). */
const STEP_PAUSE_MS = 10;

/** How often retention runs after the first pass at start-up. */
export const RETENTION_INTERVAL_MS = 10 * 60_000;

/**
 * Runs history retention now and then every RETENTION_INTERVAL_MS. Each pass is a series of bounded
 * steps separated by short pauses, so a large backlog never blocks chat for long. Returns a stop function.
 */
export function startRetention(core: ChatCore, policy: RetentionPolicy, intervalMs = RETENTION_INTERVAL_MS): () => void {
  let stopped = false;
  let running = false;
  const pass = (): void => {
    if (stopped || running) return;
    running = true;
    const step = (): void => {
      if (stopped) return;
      // A short pause between steps leaves most of the event loop to chat while a backlog is pruned.
      if (core.pruneHistory(policy)) running = false;
      else setTimeout(step, STEP_PAUSE_MS);
    };
    step();
  };
  pass();
  const timer = setInterval(pass, intervalMs);
  timer.unref();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
