import test from 'ava';
import { PresenceMirror } from '../../lib/cluster/presence-mirror';
import { isRoomLine, parseRoomLine, parseWire } from '../../lib/cluster/cluster-wire';
import { reconnectDelay } from '../../lib/cluster/redis-cluster';

test('the mirror counts users and room members per node, and forgets a node at once', (t) => {
  const mirror = new PresenceMirror();
  const ann = mirror.up('n1', 1, 'ann', 10);
  const bob = mirror.up('n2', 7, 'bob', 20);
  mirror.join(ann, '#dev', '#Dev');
  mirror.join(bob, '#dev', '#dev');
  mirror.join(bob, '#ops', '#ops');
  t.is(mirror.userCount, 2);
  t.is(mirror.room('#dev')?.members.size, 2);
  t.deepEqual([...(mirror.roomNodes('#dev') ?? [])].sort(), ['n1', 'n2']);
  t.is(mirror.find('BOB'), bob);
  t.deepEqual(bob.roomNames(), ['#dev', '#ops']);
  t.deepEqual(mirror.dropNode('n2'), [bob]);
  t.is(mirror.userCount, 1);
  t.is(mirror.find('bob'), undefined);
  t.is(mirror.room('#ops'), undefined);
  t.deepEqual([...(mirror.roomNodes('#dev') ?? [])], ['n1']);
  t.deepEqual(mirror.nodeIds(), ['n1']);
});

test('mirror updates are idempotent: a message seen twice, or overlapping a full state, changes nothing', (t) => {
  const mirror = new PresenceMirror();
  const ann = mirror.up('n1', 1, 'ann', 10);
  mirror.join(ann, '#dev', '#dev');
  mirror.join(ann, '#dev', '#dev');
  t.is(mirror.up('n1', 1, 'ann', 10), ann);
  t.is(mirror.userCount, 1);
  t.is(mirror.room('#dev')?.members.size, 1);
  mirror.part(ann, '#dev');
  mirror.part(ann, '#dev');
  t.is(mirror.room('#dev'), undefined);
  mirror.down(ann);
  mirror.down(ann);
  t.is(mirror.userCount, 0);
  t.deepEqual(mirror.nodeIds(), []);
});

test('a rename moves the nickname index; a full state replaces what was known of a node', (t) => {
  const mirror = new PresenceMirror();
  const ann = mirror.up('n1', 1, 'ann', 10);
  mirror.join(ann, '#a', '#a');
  mirror.rename(ann, 'anna');
  t.is(mirror.find('ann'), undefined);
  t.is(mirror.find('ANNA'), ann);
  mirror.replaceNode('n1', [
    { sid: 2, nick: 'cy', at: 5, rooms: [['#b', '#b']] },
    { sid: 3, nick: 'di', at: 6, rooms: [] },
  ]);
  t.is(mirror.userCount, 2);
  t.is(mirror.find('anna'), undefined);
  t.is(mirror.room('#a'), undefined);
  t.deepEqual([...(mirror.room('#b')?.members ?? [])].map((u) => u.nick), ['cy']);
});

test('wire parsing takes room lines of the four carried types and rejects anything else', (t) => {
  const line = { n: 'x', k: '#dev', e: { type: 'message', room: '#dev', from: 'a', text: 'hi', at: 1 } };
  t.deepEqual(parseRoomLine(line), line);
  t.is(parseRoomLine({ ...line, e: { type: 'bye', text: 'x' } }), undefined);
  t.is(parseRoomLine({ n: 'x' }), undefined);
  t.is(parseRoomLine(null), undefined);
  t.deepEqual(parseWire({ t: 'sync', n: 'x' }), { t: 'sync', n: 'x' });
  t.is(parseWire({ n: 'x' }), undefined);
  t.is(parseWire([1]), undefined);
  t.true(isRoomLine({ type: 'paste' }));
  t.false(isRoomLine({ type: 'join' }));
});

test('reconnection waits 100 ms doubling to 5 s, with jitter of up to half', (t) => {
  t.is(reconnectDelay(0, () => 0), 50);
  t.is(reconnectDelay(0, () => 1), 100);
  t.is(reconnectDelay(3, () => 1), 800);
  t.is(reconnectDelay(10, () => 1), 5000);
  t.is(reconnectDelay(1000, () => 0), 2500);
});
