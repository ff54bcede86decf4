/**
 * Flood control: a bucket of `burst` line tokens refilled at `ratePerSecond`. `take` says how long to wait
 * before the next line may be read; the adapter then stops reading, so input backs up in the kernel
 * rather than in our memory and nothing is lost.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly burst: number,
    private readonly ratePerSecond: number,
    now: number,
  ) {
    this.tokens = burst;
    this.last = now;
  }

  /** Spends one token for a line handled at `now` (ms); returns the milliseconds to pause before the next line (0: none). */
  take(now: number): number {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.ratePerSecond);
    this.last = now;
    this.tokens -= 1;
    // The next line needs a whole token: wait until one has refilled.
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) / this.ratePerSecond) * 1000);
  }
}
