import test from 'ava';
import type { ChatEvent } from '../../lib/core/events';
import type { RoomBus } from '../../lib/core/ports/room-bus';
import { memberDelivery } from '../../lib/core/ports/room-bus';
import { peersOf, RoomDirectory, type RoomDirectoryOptions } from '../../lib/core/room-directory';
import { Session, type Room } from '../../lib/core/session';
import { silentLogger } from '../../lib/log';
import { ChatError } from '../../lib/protocol/errors';
import { LIMITS } from '../../lib/protocol/limits';
import { FakeClock } from '../helpers/fake-clock';
import { EventSink } from '../helpers/event-sink';

/** A bus that records each publish and then delivers it like the local bus. */
class RecordingBus implements RoomBus {
  readonly published: { room: string; event: ChatEvent; except?: string }[] = [];

  publish(room: Room, event: ChatEvent, except?: Session): void {
    this.published.push({ room: room.name, event, ...(except ? { except: except.nick } : {}) });
    memberDelivery.publish(room, event, except);
  }
}

function setup(overrides: Partial<RoomDirectoryOptions> = {}) {
  const clock = new FakeClock();
  const bus = new RecordingBus();
  const due: number[] = [];
  const rooms = new RoomDirectory({ clock, log: silentLogger, maxRooms: 100, roomUnusedMs: 3_600_000, largeRoom: 0, autoJoin: '', ...overrides }, bus, (at) => due.push(at));
  let id = 1;
  const user = (nick: string, address = `192.0.2.${id}`) => {
    const sink = new EventSink();
    const session = new Session(id++, sink, address, clock.now());
    session.nick = nick;
    session.state = 'registered';
    return { session, sink };
  };
  const code = (fn: () => unknown): string => {
    try {
      fn();
    } catch (error) {
      if (error instanceof ChatError) return error.code;
      throw error;
    }
    return 'ok';
  };
  return { clock, bus, due, rooms, user, code };
}

test('the directory starts with #lobby; entering creates a room, tells the members already there through the bus, and makes it current', (t) => {
  const w = setup();
  t.deepEqual(w.rooms.all().map((r) => r.name), ['#lobby']);
  const alice = w.user('alice');
  const bob = w.user('bob');
  const first = w.rooms.enter(alice.session, '#Dev');
  t.deepEqual([first.existed, first.already], [false, false]);
  const second = w.rooms.enter(bob.session, '#dev');
  t.deepEqual([second.existed, second.already, second.room], [true, false, first.room], 'found by key, whatever the case');
  t.deepEqual(alice.sink.take(), [{ type: 'join', room: '#Dev', nick: 'bob' }]);
  t.deepEqual(bob.sink.take(), [], 'the joiner is not told of their own join by the bus');
  t.deepEqual(w.bus.published.map((p) => p.event.type), ['join', 'join']);
  t.is(bob.session.currentRoom, first.room);
  t.true(w.rooms.enter(bob.session, '#dev').already, 'entering again changes nothing');
  t.is(w.bus.published.length, 2);
});

test('leaving publishes the part to those left; an empty room without a store is forgotten at once, #lobby never', (t) => {
  const w = setup();
  const alice = w.user('alice');
  const bob = w.user('bob');
  const { room } = w.rooms.enter(alice.session, '#r');
  w.rooms.enter(bob.session, '#r');
  w.rooms.enter(alice.session, '#lobby');
  t.deepEqual([...peersOf(alice.session)], [bob.session]);
  alice.sink.take();
  w.rooms.leave(bob.session, room, { type: 'part', room: '#r', nick: 'bob', reason: 'bye' });
  t.deepEqual(alice.sink.take(), [{ type: 'part', room: '#r', nick: 'bob', reason: 'bye' }]);
  t.deepEqual(bob.sink.take(), [], 'the one leaving is no longer a member');
  w.rooms.leave(alice.session, room, undefined);
  t.is(w.code(() => w.rooms.find('#r')), 'NO_SUCH_ROOM');
  const lobby = w.rooms.find('#lobby');
  w.rooms.leave(alice.session, lobby, undefined);
  t.is(w.rooms.find('#LOBBY'), lobby);
});

test('a new room may not look like an existing one, and names are checked', (t) => {
  const w = setup();
  const alice = w.user('alice');
  const team = w.rooms.enter(alice.session, '#team').room;
  w.rooms.enter(alice.session, '#alice');
  t.is(w.rooms.enter(alice.session, '#t\u0435am').room, team, 'a Cyrillic \u0435 reaches #team itself');
  t.is(w.code(() => w.rooms.enter(alice.session, '#aIice')), 'ROOM_INVALID');
  t.is(w.code(() => w.rooms.enter(alice.session, '#bad name')), 'ROOM_INVALID');
  t.is(w.code(() => w.rooms.find('#nothere')), 'NO_SUCH_ROOM');
});

test('one network creates at most LIMITS.maxRoomsCreatedPerHour rooms an hour; the window reopens an hour later', (t) => {
  const w = setup({ maxRooms: 1000 });
  const alice = w.user('alice', '198.51.100.1');
  const other = w.user('bob', '198.51.100.200');
  for (let i = 0; i < LIMITS.maxRoomsCreatedPerHour; i++) {
    w.rooms.enter(i % 2 === 0 ? alice.session : other.session, `#r${i}`);
    // Leave at once so the per-user room limit is not what stops us.
    w.rooms.leave(i % 2 === 0 ? alice.session : other.session, w.rooms.find(`#r${i}`), undefined);
  }
  t.is(w.code(() => w.rooms.enter(other.session, '#onemore')), 'TOO_MANY_ROOMS', 'the /24 counts as one network');
  t.is(w.code(() => w.rooms.enter(w.user('carol', '203.0.113.5').session, '#elsewhere')), 'ok', 'another network is not affected');
  w.clock.advance(3_600_000);
  t.is(w.code(() => w.rooms.enter(alice.session, '#onemore')), 'ok');
});

test('at the room cap, a new room is refused while every room has members', (t) => {
  const w = setup({ maxRooms: 3 });
  const alice = w.user('alice');
  w.rooms.enter(alice.session, '#a');
  w.rooms.enter(alice.session, '#b');
  t.is(w.rooms.size, 3);
  t.is(w.code(() => w.rooms.enter(alice.session, '#c')), 'TOO_MANY_ROOMS');
});

test('busiest picks the rooms with most members, in name order, and keeps its pick for a second', (t) => {
  const w = setup();
  const users = ['a', 'b', 'c'].map((nick) => w.user(nick));
  for (const u of users) w.rooms.enter(u.session, '#big');
  w.rooms.enter(users[0]!.session, '#mid');
  w.rooms.enter(users[1]!.session, '#mid');
  w.rooms.enter(users[0]!.session, '#small');
  t.deepEqual(w.rooms.busiest(2).map((r) => r.name), ['#big', '#mid']);
  for (const u of users) w.rooms.enter(u.session, '#small');
  t.deepEqual(w.rooms.busiest(2).map((r) => r.name), ['#big', '#mid'], 'same second: same pick');
  w.clock.advance(1000);
  t.deepEqual(w.rooms.busiest(2).map((r) => r.name), ['#big', '#small']);
});
