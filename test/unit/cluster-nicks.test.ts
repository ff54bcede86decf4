import test from 'ava';
import { ChatError } from '../../lib/protocol/errors';
import { lookKeys } from '../../lib/protocol/text-hygiene';
import { LocalNickRegistry } from '../../lib/core/nick-registry';
import { systemClock } from '../../lib/core/ports/clock';
import { Session } from '../../lib/core/session';
import { ClusterNickRegistry, type RedisCommands } from '../../lib/cluster/cluster-nicks';
import { EventSink } from '../helpers/event-sink';

// The cluster registry's decisions with a scripted Redis: what it asks, and what it makes of the answers.

class FakeRedis implements RedisCommands {
  ready = true;
  readonly instance = 'n1-abcd';
  readonly calls: string[][] = [];
  constructor(private readonly answer: (args: string[]) => unknown) {}
  command(args: string[]): Promise<unknown> {
    this.calls.push(args);
    try {
      return Promise.resolve(this.answer(args));
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }
}

function registry(redis: FakeRedis): ClusterNickRegistry {
  const options = { clock: systemClock, reservedNicks: ['admin'], nickHoldMs: 60_000, maxClients: 100 };
  return new ClusterNickRegistry(new LocalNickRegistry(options), redis, { nickHoldMs: 60_000, log: { level: 'error', log: () => undefined } });
}

let nextId = 1;
function session(): Session {
  return new Session(nextId++, new EventSink(), '192.0.2.1', 0);
}

test('a claim sends every look-alike key of the name to the script, and takes the name when Redis says OK', async (t) => {
  const redis = new FakeRedis(() => ['OK']);
  const nicks = registry(redis);
  const owner = session();
  await nicks.claim('alice', owner);
  t.is(nicks.find('ALICE'), owner);
  const [eval_, , count, ...rest] = redis.calls[0]!;
  t.is(eval_, 'EVAL');
  t.deepEqual(rest.slice(0, Number(count)), lookKeys('alice').map((key) => `mychat:nick:${key}`));
});

test('IN_USE and HELD answers become NICK_IN_USE and NICK_RESERVED naming the holder; nothing is taken', async (t) => {
  const taken = registry(new FakeRedis(() => ['IN_USE', 'alice']));
  const a = session();
  const inUse = await t.throwsAsync(async () => taken.claim('aIice', a), { instanceOf: ChatError });
  t.is(inUse.code, 'NICK_IN_USE');
  t.regex(inUse.message, /looks like alice/);
  t.is(taken.find('aIice'), undefined);
  const held = registry(new FakeRedis(() => ['HELD', 'bob', '2500']));
  const reserved = await t.throwsAsync(async () => held.claim('bob', session()), { instanceOf: ChatError });
  t.is(reserved.code, 'NICK_RESERVED');
  t.regex(reserved.message, /held .* for 3 more seconds/);
});

test('during an outage a claim is decided here at once, and reserved names are refused before Redis is asked', (t) => {
  const redis = new FakeRedis(() => ['OK']);
  redis.ready = false;
  const nicks = registry(redis);
  const owner = session();
  t.is(nicks.claim('carol', owner), undefined);
  t.is(nicks.find('carol'), owner);
  redis.ready = true;
  t.throws(() => nicks.claim('admin', session()), { instanceOf: ChatError, message: /reserved/ });
  t.deepEqual(redis.calls, []);
});

test('a Redis failure during a claim falls back to this server, as during an outage', async (t) => {
  const nicks = registry(
    new FakeRedis(() => {
      throw new Error('connection lost');
    }),
  );
  const owner = session();
  await nicks.claim('dave', owner);
  t.is(nicks.find('dave'), owner);
});
