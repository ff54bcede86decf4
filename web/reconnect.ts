// The browser client's reconnect schedule (main.ts runs it; unit tests check it).

/** Seconds before each reconnect attempt: growing like Fibonacci numbers (gentler than doubling, so a short restart is caught soon), then every 30 s. */
const RECONNECT_STEPS = [1, 2, 3, 5, 8, 13, 21, 30];

/** Delay in ms before reconnect attempt number `attempt` (0 first), spread by ±20 % so clients do not return in step. */
export function reconnectDelay(attempt: number, random: number = Math.random()): number {
  const base = RECONNECT_STEPS[Math.min(attempt, RECONNECT_STEPS.length - 1)]! * 1000;
  return Math.round(base * (0.8 + 0.4 * random));
}
