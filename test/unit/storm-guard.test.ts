import test from 'ava';
import { createLogger, stormGuard } from '../../lib/log';

test('a storm of one event writes at most the limit per second plus one summary line; other events and errors still get through', async (t) => {
  const lines: string[] = [];
  let now = 0;
  const log = stormGuard(createLogger('info', (line) => lines.push(line), true), 20, () => now);
  for (let i = 0; i < 10_000; i++) log.log('info', 'connect', { id: i });
  log.log('info', 'register', { nick: 'alice' });
  log.log('error', 'connect', { important: true });
  t.is(lines.filter((l) => l.includes('connect id=')).length, 20);
  t.true(lines.some((l) => l.includes('register nick=alice')));
  t.true(lines.some((l) => l.startsWith('<3>connect important=true')), 'errors are never suppressed');
  // The next second starts with the summary of the last one.
  now = 1000;
  log.log('info', 'connect', { id: 'next' });
  t.true(lines.some((l) => /log-suppressed event=connect count=9980 seconds=1/.test(l)));
  t.true(lines.some((l) => l.includes('connect id=next')));
  t.true(lines.length < 30);
});

test('the guard follows the inner logger level (reload changes it)', (t) => {
  const lines: string[] = [];
  const log = stormGuard(createLogger('warn', (line) => lines.push(line), true));
  log.log('info', 'connect');
  t.deepEqual(lines, []);
  log.level = 'info';
  log.log('info', 'connect');
  t.is(lines.length, 1);
});
