import { LIMITS } from '../protocol/limits';

/** First reconnection delay. */
export const BACKOFF_FIRST_MS = 500;

/** Longest reconnection delay: a restarted server is found again within this long. */
export const BACKOFF_MAX_MS = 10_000;

/** How many underscore variants of a taken nickname a reconnection tries (nick_, nick__, …). */
export const NICK_VARIANTS = 5;

/**
 * Delay before reconnection attempt `attempt` (0-based): 0.5 s doubling up to 10 s, with "equal jitter"
 * (a random point in the upper half of the step) so that many clients cut off by one server restart do
 * not all come back in the same instant. `random` returns a number in [0, 1).
 */
export function backoffDelay(attempt: number, random: () => number = Math.random): number {
  const step = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** Math.min(attempt, 30));
  return Math.round(step / 2 + (step / 2) * random());
}

/**
 * The `n`th variant of a nickname for when it is taken: n underscores appended (nick_, nick__, …), the
 * name shortened first if needed so it stays within the server's length limit.
 */
export function nickVariant(nick: string, n: number): string {
  const chars = [...nick];
  const keep = Math.max(1, Math.min(chars.length, LIMITS.maxNickLength - n));
  return chars.slice(0, keep).join('') + '_'.repeat(n);
}

/** "0.5 s", "2 s": a delay as shown in reconnection notices. */
export function formatDelay(ms: number): string {
  const seconds = ms / 1000;
  return `${seconds < 10 ? seconds.toFixed(1).replace(/\.0$/, '') : Math.round(seconds)} s`;
}
