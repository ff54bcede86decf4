import test from 'ava';
import { Budget } from '../../lib/transport/budget';

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
