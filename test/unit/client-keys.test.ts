import test from 'ava';
import { splitKeys } from '../../lib/client/keys';

test('Alt-digits pick windows (Alt-0 is window 10); Ctrl-N, Ctrl-P and Ctrl-C are the client\'s; the rest is text', (t) => {
  t.deepEqual(splitKeys('ab\x1b2cd\x1b0\x0e\x10\x03e'), [
    { kind: 'text', text: 'ab' },
    { kind: 'window', number: 2 },
    { kind: 'text', text: 'cd' },
    { kind: 'window', number: 10 },
    { kind: 'next' },
    { kind: 'previous' },
    { kind: 'interrupt' },
    { kind: 'text', text: 'e' },
  ]);
});

test('escape sequences that are not Alt-digit go to readline unchanged', (t) => {
  t.deepEqual(splitKeys('\x1b[A\x1bOB\x1bb'), [{ kind: 'text', text: '\x1b[A\x1bOB\x1bb' }]);
  t.deepEqual(splitKeys('\x1b'), [{ kind: 'text', text: '\x1b' }]);
});
