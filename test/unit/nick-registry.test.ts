import test from 'ava';
import { LocalNickRegistry, type NickRegistryOptions } from '../../lib/core/nick-registry';
import { Session } from '../../lib/core/session';
import { ChatError } from '../../lib/protocol/errors';
import { FakeClock } from '../helpers/fake-clock';
import { EventSink } from '../helpers/event-sink';

function setup(overrides: Partial<NickRegistryOptions> = {}) {
  const clock = new FakeClock();
  const options: NickRegistryOptions = { clock, reservedNicks: ['admin'], nickHoldMs: 60_000, maxClients: 100, ...overrides };
  const registry = new LocalNickRegistry(options);
  let id = 1;
  const session = (address = '192.0.2.1'): Session => new Session(id++, new EventSink(), address, clock.now());
  /** Claims `nick` for `s` and records it on the session, as the nick command does. */
  const take = (s: Session, nick: string): void => {
    registry.claim(nick, s);
    s.nick = nick;
  };
  /** The ChatError code and message a claim is refused with. */
  const refusal = (s: Session, nick: string): [string, string] => {
    try {
      registry.claim(nick, s);
    } catch (error) {
      if (error instanceof ChatError) return [error.code, error.message];
      throw error;
    }
    return ['', 'accepted'];
  };
  return { clock, registry, session, take, refusal, options };
}

test('a claimed nickname is found in any case; a rename frees the old name and keeps one entry', (t) => {
  const w = setup();
  const alice = w.session();
  w.take(alice, 'alice');
  t.is(w.registry.find('ALICE'), alice);
  t.is(w.registry.size, 1);
  w.take(alice, 'alicia');
  t.is(w.registry.find('alice'), undefined, 'the old name is free');
  t.is(w.registry.find('Alicia'), alice);
  t.is(w.registry.size, 1);
  t.deepEqual([...w.registry.owners()], [alice]);
});

test('a name in use, or one that looks like it, is refused naming the name it imitates; the owner may re-case their own', (t) => {
  const w = setup();
  const alice = w.session();
  w.take(alice, 'alice');
  const bob = w.session('192.0.2.2');
  t.deepEqual(w.refusal(bob, 'Alice'), ['NICK_IN_USE', 'The nickname Alice is taken; pick another.']);
  t.deepEqual(w.refusal(bob, 'a1ice'), ['NICK_IN_USE', 'The nickname a1ice looks like alice, who is online; pick another.']);
  t.deepEqual(w.refusal(alice, 'Alice'), ['', 'accepted']);
});

test('reserved names and their look-alikes are refused, and a changed list applies to the next claim', (t) => {
  const w = setup();
  const s = w.session();
  t.deepEqual(w.refusal(s, 'Admin'), ['NICK_RESERVED', 'The nickname admin is reserved; pick another.']);
  t.deepEqual(w.refusal(s, '\u0430dmin'), ['NICK_RESERVED', 'The nickname \u0430dmin looks like the reserved name admin; pick another.']);
  (w.options as { reservedNicks: readonly string[] }).reservedNicks = ['root'];
  t.deepEqual(w.refusal(s, 'admin'), ['', 'accepted']);
});

test('an abrupt release holds the name for its address block until nickHoldMs has passed; a plain release holds nothing', (t) => {
  const w = setup();
  const alice = w.session('192.0.2.1');
  w.take(alice, 'alice');
  w.registry.release('alice', alice, true);
  t.is(w.registry.find('alice'), undefined, 'nobody owns it while it is held');
  const stranger = w.session('198.51.100.9');
  t.deepEqual(w.refusal(stranger, 'alice'), [
    'NICK_RESERVED',
    'The nickname alice is held for someone who just disconnected, for 60 more seconds; pick another.',
  ]);
  w.clock.advance(59_000);
  t.is(w.refusal(stranger, 'alice')[1], 'The nickname alice is held for someone who just disconnected, for 1 more second; pick another.');
  const back = w.session('192.0.2.1');
  t.deepEqual(w.refusal(back, 'alice'), ['', 'accepted'], 'a connection from the same address gets it back at once');
  w.registry.release('alice', back, false);
  t.deepEqual(w.refusal(stranger, 'alice'), ['', 'accepted'], 'a /quit-style release holds nothing');
});

test('release by someone who does not own the name changes nothing', (t) => {
  const w = setup();
  const alice = w.session();
  w.take(alice, 'alice');
  w.registry.release('alice', w.session(), true);
  t.is(w.registry.find('alice'), alice);
});

test('holds are bounded by maxClients: the oldest is dropped first', (t) => {
  const w = setup({ maxClients: 2 });
  for (const nick of ['ann', 'ben', 'cat']) {
    const s = w.session('192.0.2.1');
    w.take(s, nick);
    w.registry.release(nick, s, true);
  }
  const stranger = w.session('198.51.100.9');
  t.deepEqual(w.refusal(stranger, 'ann'), ['', 'accepted'], 'the oldest hold went');
  t.is(w.refusal(stranger, 'ben')[0], 'NICK_RESERVED');
  t.is(w.refusal(stranger, 'cat')[0], 'NICK_RESERVED');
});
