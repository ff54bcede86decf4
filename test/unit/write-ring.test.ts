import test from 'ava';
import { allocateRing, CTL, RingConsumer, RingProducer, type RingEntry } from '../../lib/history/write-ring';
import type { UnsavedWrite } from '../../lib/history/unsaved-backlog';

/*
 * The write ring on its own, both ends in one thread: what goes in comes out unchanged and in order,
 * across the end of the ring, and a ring that is full refuses an entry instead of overwriting one.
 */

function drainAll(consumer: RingConsumer): RingEntry[] {
  const out: RingEntry[] = [];
  consumer.drain((entry) => out.push(entry));
  return out;
}

test('messages, rooms and forgotten rooms come out as they went in, ids and all, across many wraps of the ring', (t) => {
  const memory = allocateRing(4096);
  const producer = new RingProducer(memory);
  const consumer = new RingConsumer(memory);
  const sent: RingEntry[] = [];
  const received: RingEntry[] = [];
  let id = 1;
  for (let i = 0; i < 2000; i++) {
    // Sizes vary so records end at every alignment and the wrap mark is exercised at many positions.
    const text = `${i} ${'é€😀x'.repeat(i % 37)}`;
    const choice = i % 7;
    const entry: UnsavedWrite =
      choice === 0
        ? { roomKey: `#r${i % 5}`, roomName: `#R${i % 5}`, at: 1000 + i, creator: i % 2 === 0 ? `10.0.${i % 256}.0/24` : undefined }
        : choice === 1
          ? { roomKey: `#r${i % 5}`, forget: true }
          : { roomKey: '#één', roomName: '#Één', at: 1_700_000_000_000 + i, nick: `nick${i}`, kind: (['MSG', 'ACTION', 'TOPIC', 'PASTE'] as const)[i % 4]!, text };
    const withId = 'kind' in entry ? { ...entry, id: id++ } : entry;
    // Rooms without a creator must come back without the field, as the store tells them apart by it.
    if ('creator' in withId && withId.creator === undefined) delete (withId as { creator?: string }).creator;
    while (!producer.tryWrite(entry, 'kind' in entry ? (withId as { id: number }).id : undefined)) {
      producer.publish();
      received.push(...drainAll(consumer));
    }
    sent.push(withId);
    if (i % 3 === 0) producer.publish();
  }
  producer.publish();
  received.push(...drainAll(consumer));
  t.is(received.length, sent.length);
  t.deepEqual(received, sent);
  t.is(Atomics.load(producer.control, CTL.consumed), 2000);
});

test('a full ring refuses the next entry until the writer has taken some, and unpublished entries stay invisible', (t) => {
  const memory = allocateRing(1024);
  const producer = new RingProducer(memory);
  const consumer = new RingConsumer(memory);
  const entry = (n: number): UnsavedWrite => ({ roomKey: '#a', roomName: '#a', at: n, nick: 'n', kind: 'MSG', text: 'x'.repeat(40) });
  let written = 0;
  while (producer.tryWrite(entry(written), written + 1)) written++;
  t.true(written > 3 && written < 20, `a 1 KiB ring holds a few entries (${written})`);
  t.deepEqual(drainAll(consumer), [], 'nothing is seen before publish()');
  producer.publish();
  const first = drainAll(consumer);
  t.is(first.length, written);
  t.true(producer.tryWrite(entry(written), written + 1), 'taking entries frees their space');
  t.false(producer.fits({ roomKey: '#a', roomName: '#a', at: 0, nick: 'n', kind: 'PASTE', text: 'y'.repeat(400) }), 'an entry over half the ring is refused outright');
});
