import test from 'ava';
import { ChatCore } from '../../lib/core/chat-core';
import type { Session } from '../../lib/core/session';
import { RedisCluster } from '../../lib/cluster/redis-cluster';
import { codeOf, EventSink } from '../helpers/event-sink';
import { redisQuery, startRedis, type RedisServer } from '../helpers/redis';

// Two chat cores in this process, each with its own RedisCluster on one real redis-server: the bus,
// presence and registry logic, asserted as events (no daemon, no sockets to clients).

let redis: RedisServer;
test.before(async () => {
  redis = await startRedis();
});
test.after.always(async () => {
  await redis?.stop();
});

/** Polls `condition` every 10 ms until it holds, for at most 5 s. */
async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A core joined to the test Redis as node `name`, ready when the promise resolves. */
async function node(name: string, largeRoom = 500) {
  const cluster = new RedisCluster({ url: redis.url, nodeId: name, leaseMs: 2000, layout: 'room', log: { level: 'error', log: () => undefined } });
  const core: ChatCore = new ChatCore({ largeRoom, autoJoin: '', bus: cluster, presence: cluster, nicks: cluster.nickRegistry(() => core.options) });
  cluster.start(core);
  await until(() => cluster.ready, `${name} joined the cluster`);
  const user = async (nick: string, address = '192.0.2.1'): Promise<{ session: Session; sink: EventSink; say: (text: string) => Promise<void> }> => {
    const sink = new EventSink();
    const session = core.connect(sink, address)!;
    const say = async (text: string): Promise<void> => {
      await core.handleInput(session, { ok: true, text });
    };
    await say(nick);
    return { session, sink, say };
  };
  return { core, cluster, user };
}

test('a room larger than --large-room across nodes shows no joins on either node, and counts every member', async (t) => {
  const a = await node('la', 2);
  const b = await node('lb', 2);
  try {
    const a1 = await a.user('big1');
    const b1 = await b.user('big2');
    const b2 = await b.user('big3');
    await a1.say('/join #big');
    await b1.say('/join #big');
    await until(() => a1.sink.events.some((e) => e.type === 'join' && e.nick === 'big2'), 'a1 saw big2 join');
    await until(() => a.cluster.remoteRoom('#big')?.members.size === 1, 'node a knows big2 is in #big');
    a1.sink.take();
    b1.sink.take();
    await b2.say('/join #big');
    const joined = b2.sink.take();
    t.deepEqual(joined.find((e) => e.type === 'room'), { type: 'room', room: '#big', members: 3, topic: '' });
    t.true(joined.some((e) => e.type === 'notice' && e.text.includes('is a large room (3 members')));
    await until(() => a.cluster.remoteRoom('#big')?.members.size === 2, 'node a knows big3 is in #big');
    t.true(a.core.rooms.isLarge(a.core.rooms.get('#big')!));
    t.deepEqual(a1.sink.take().filter((e) => e.type === 'join'), []);
    t.deepEqual(b1.sink.take().filter((e) => e.type === 'join'), []);
    // Messages still reach everyone.
    await a1.say('to the big room');
    await until(() => b2.sink.events.some((e) => e.type === 'message' && e.text === 'to the big room'), 'b2 got the message');
    t.true(b1.sink.events.some((e) => e.type === 'message' && e.text === 'to the big room'));
  } finally {
    await Promise.all([a.cluster.close(), b.cluster.close()]);
  }
});

test('two cores claim one nickname at the same moment: one gets it, the other NICK_IN_USE', async (t) => {
  const a = await node('ra');
  const b = await node('rb');
  try {
    for (let round = 0; round < 5; round++) {
      const [x, y] = [new EventSink(), new EventSink()];
      const sx = a.core.connect(x, '192.0.2.1')!;
      const sy = b.core.connect(y, '198.51.100.1')!;
      await Promise.all([a.core.handleInput(sx, { ok: true, text: `same${round}` }), b.core.handleInput(sy, { ok: true, text: `same${round}` })]);
      const codes = [x, y].map((sink) => (sink.events.some((e) => e.type === 'reply' && e.command === 'NICK') ? 'OK' : codeOf(sink.events.find((e) => e.type === 'failure'))));
      t.deepEqual(codes.sort(), ['NICK_IN_USE', 'OK']);
    }
  } finally {
    await Promise.all([a.cluster.close(), b.cluster.close()]);
  }
});

test('a nickname dropped without /quit stays held for its address across nodes', async (t) => {
  const a = await node('ha');
  const b = await node('hb');
  try {
    const held = await a.user('holdme', '192.0.2.7');
    a.core.disconnect(held.session, 'Connection reset');
    // The release goes to Redis on node a's command connection without being awaited; a PING behind it on
    // the same connection answers once Redis has run it, so node b's claim below cannot overtake it.
    await (a.cluster as unknown as { cmd: { ping(): Promise<string> } }).cmd.ping();
    const stranger = await b.user('holdme', '198.51.100.9');
    t.is(codeOf(stranger.sink.events.find((e) => e.type === 'failure')), 'NICK_RESERVED');
    const back = await b.user('holdme', '192.0.2.7');
    t.true(back.sink.events.some((e) => e.type === 'reply' && e.command === 'NICK' && e.subject === 'holdme'));
  } finally {
    await Promise.all([a.cluster.close(), b.cluster.close()]);
  }
});

test('a topic change older than the topic a node read when it linked the room is ignored; a newer one is applied and shown', async (t) => {
  const a = await node('va');
  const b = await node('vb');
  try {
    const setter = await a.user('setter');
    await setter.say('/join #ver');
    for (const text of ['one', 'two', 'three']) await setter.say(`/topic #ver ${text}`);
    // The topic script ran on node a's command connection; a PING behind it answers once Redis has run it.
    await (a.cluster as unknown as { cmd: { ping(): Promise<string> } }).cmd.ping();
    const reader = await b.user('reader');
    await reader.say('/join #ver');
    t.deepEqual(reader.sink.events.find((e) => e.type === 'room'), { type: 'room', room: '#ver', members: 2, topic: 'three' });
    reader.sink.take();
    // A change that was in flight while node b read version 3 (it carries version 2) comes late: ignored.
    const line = (v: number, text: string): string => `stray\n[${JSON.stringify({ n: 'stray', k: '#ver', e: { type: 'topic', room: '#ver', by: 'setter', text }, v })}]`;
    await redisQuery(redis.port, 'PUBLISH', 'mychat:room:#ver', line(2, 'two'));
    await redisQuery(redis.port, 'PUBLISH', 'mychat:room:#ver', line(4, 'four'));
    await until(() => reader.sink.events.some((e) => e.type === 'topic'), 'the newer change reached node b');
    t.deepEqual(
      reader.sink.take().filter((e) => e.type === 'topic'),
      [{ type: 'topic', room: '#ver', by: 'setter', text: 'four' }],
    );
    t.is(b.core.rooms.get('#ver')!.topic, 'four');
  } finally {
    await Promise.all([a.cluster.close(), b.cluster.close()]);
  }
});
