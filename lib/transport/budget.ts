/**
 * A budget that is spent before it is checked: `charge` takes what was already consumed (bytes just read)
 * and may leave the bucket in debt; `tryTake` spends only when enough is there (a line about to be
 * handled). Both say how long to wait, in ms, until the bucket is out of debt or holds what was asked.
 */
export class Budget {
  private tokens: number;
  private last: number;

  constructor(
    public burst: number,
    public ratePerSecond: number,
    now: number,
  ) {
    this.tokens = burst;
    this.last = now;
  }

  /** Changes the size and rate (e.g. when a connection registers), keeping what is spent. */
  resize(burst: number, ratePerSecond: number, now: number): void {
    this.refill(now);
    const spent = this.burst - this.tokens;
    this.burst = burst;
    this.ratePerSecond = ratePerSecond;
    this.tokens = Math.min(burst, burst - spent);
  }

  /** Spends `amount` even if that leaves the bucket in debt; returns the ms until the debt is repaid (0: none). */
  charge(now: number, amount: number): number {
    this.refill(now);
    this.tokens -= amount;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / this.ratePerSecond) * 1000);
  }

  /** Spends `amount` (at most the burst) if it is there and returns 0; otherwise spends nothing and returns the ms to wait. */
  tryTake(now: number, amount: number): number {
    this.refill(now);
    const need = Math.min(amount, this.burst);
    if (this.tokens >= need) {
      this.tokens -= need;
      return 0;
    }
    return Math.max(1, Math.ceil(((need - this.tokens) / this.ratePerSecond) * 1000));
  }

  /** Ms until `amount` would be there, spending nothing. */
  waitFor(now: number, amount: number): number {
    this.refill(now);
    const need = Math.min(amount, this.burst);
    return this.tokens >= need ? 0 : Math.max(1, Math.ceil(((need - this.tokens) / this.ratePerSecond) * 1000));
  }

  /** Whole tokens there now (0 while in debt). */
  available(now: number): number {
    this.refill(now);
    return Math.max(0, Math.floor(this.tokens));
  }

  /** True when the bucket is full again, i.e. its owner has been within budget for a while. */
  full(now: number): boolean {
    this.refill(now);
    return this.tokens >= this.burst;
  }

  private refill(now: number): void {
    if (now > this.last) this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.ratePerSecond);
    this.last = now;
  }
}
