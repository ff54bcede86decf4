import test from 'ava';
import { Budget, TokenBucket } from '../../lib/net/token-bucket';

/**
 * Plays the adapter's loop (lib/net/tcp-listener.ts: handle the line, then `bucket.take(now)`, then pause
 * reading for the returned time): a client has `lines` lines waiting at `start`; after handling each one the
 * adapter asks the bucket how long to pause before reading the next. Returns the time each line was handled.
 */
function simulate(bucket: TokenBucket, lines: number, start = 0): number[] {
  const times: number[] = [];
  let now = start;
  for (let i = 0; i < lines; i++) {
    times.push(now);
    now += bucket.take(now);
  }
  return times;
}

test('a full bucket lets a burst through without pausing, then asks for a pause', (t) => {
  const bucket = new TokenBucket(5, 2, 0);
  const waits = Array.from({ length: 8 }, () => bucket.take(0));
  const free = waits.findIndex((w) => w > 0);
  t.true(free >= 4 && free <= 5, `first pause after ${free} lines`);
  t.true(waits.slice(0, free).every((w) => w === 0));
  t.is(waits[free], 500); // one token at 2 per second
});

test('after the burst, lines are paced at the sustained rate', (t) => {
  const times = simulate(new TokenBucket(3, 4, 0), 20);
  const paced = times.slice(5);
  for (let i = 1; i < paced.length; i++) t.is(paced[i]! - paced[i - 1]!, 250);
  // Over the whole run, no more than burst + rate * elapsed (+1 for the line being handled) got through.
  const elapsed = times[times.length - 1]! / 1000;
  t.true(times.length <= 3 + 4 * elapsed + 1);
});

test('a flood of exactly `burst` lines goes through at once; the next line waits', (t) => {
  // floodBurst is documented as "lines a client may send in a burst".
  const times = simulate(new TokenBucket(3, 2, 0), 6);
  t.deepEqual(times, [0, 0, 0, 500, 1000, 1500]);
});

test('tokens refill with time: a client that sends slower than the rate is never paused', (t) => {
  const bucket = new TokenBucket(2, 1, 0);
  for (let now = 0; now < 60_000; now += 1000) t.is(bucket.take(now), 0, `at ${now}`);
});

test('idle time refills the bucket only up to the burst, not beyond', (t) => {
  const fresh = new TokenBucket(4, 2, 0);
  const freeFresh = Array.from({ length: 20 }, () => fresh.take(0)).findIndex((w) => w > 0);
  const rested = new TokenBucket(4, 2, 0);
  Array.from({ length: 20 }, () => rested.take(0));
  const later = 3_600_000; // an hour of silence
  const freeRested = Array.from({ length: 20 }, () => rested.take(later)).findIndex((w) => w > 0);
  t.is(freeRested, freeFresh);
});

test('the pause grows with the debt, so a client that keeps pushing waits longer', (t) => {
  const bucket = new TokenBucket(1, 1, 0);
  const waits = Array.from({ length: 5 }, () => bucket.take(0));
  for (let i = 2; i < waits.length; i++) t.true(waits[i]! > waits[i - 1]!);
  t.is(waits[4], 5000, "five lines at once against one token: the sixth needs five seconds of refill");
});

test('Budget.tryTake spends only what is there and says how long to wait for the rest', (t) => {
  const budget = new Budget(10, 5, 0);
  t.is(budget.tryTake(0, 10), 0);
  t.is(budget.tryTake(0, 1), 200, 'one token at 5 per second');
  t.is(budget.available(0), 0, 'a refused take spends nothing');
  t.is(budget.tryTake(1000, 5), 0, 'five tokens refilled in a second');
  // A cost above the burst is capped at the burst, so an expensive command is never refused forever.
  t.is(budget.tryTake(10_000, 50), 0);
});

test('Budget.charge may leave a debt that is repaid at the rate; resize keeps what was spent', (t) => {
  const budget = new Budget(100, 10, 0);
  t.is(budget.charge(0, 150), 5000, '50 in debt at 10 per second');
  t.is(budget.available(4000), 0);
  t.is(budget.available(6000), 10);
  t.false(budget.full(6000));
  budget.resize(1000, 100, 6000);
  t.is(budget.available(6000), 910, 'the 90 spent stay spent in the larger bucket');
  t.true(budget.full(7000));
});
