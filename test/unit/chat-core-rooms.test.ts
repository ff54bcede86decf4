import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ChatCore, type ChatCoreOptions } from '../../lib/core/chat-core';
import type { Session } from '../../lib/core/session';
import { SqliteHistoryStore } from '../../lib/history/sqlite-history-store';
import { createLogger } from '../../lib/log';
import { LIMITS } from '../../lib/protocol/limits';
import { FakeClock } from '../helpers/fake-clock';
import { codeOf, err, EventSink, ok, roomInfo } from '../helpers/event-sink';
import type { ChatEvent } from '../../lib/core/events';
import type { ClusterPresence, RemoteRoom } from '../../lib/core/ports/cluster-presence';
import { addressPrefix } from '../../lib/core/address-prefix';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

interface User {
  session: Session;
  /** Sends one line and returns what the server answered to it. */
  say(text: string): ChatEvent[];
}

/**
 * A core with a real SQLite store in a temporary directory and a fake clock. restart() closes the store
 * and starts a new core on the same database and clock, as a daemon restart would.
 */
function setup(t: { teardown(fn: () => void): void }, options: Partial<ChatCoreOptions> = {}) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mychat-core-rooms-'));
  const clock = new FakeClock();
  const logs: string[] = [];
  const log = createLogger('debug', (line) => logs.push(line), false);
  let store = new SqliteHistoryStore({ dataDir: dir, sync: 'normal', log });
  t.teardown(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const make = (): ChatCore => new ChatCore({ clock, log, history: store, historyReplay: 0, ...options });
  const w = {
    clock,
    logs,
    core: make(),
    user(nick: string, address = '192.0.2.1'): User {
      const sink = new EventSink();
      const session = w.core.connect(sink, address)!;
      const core = w.core;
      const say = (text: string): ChatEvent[] => {
        sink.take();
        core.handleInput(session, { ok: true, text });
        return sink.take();
      };
      const welcome = say(nick);
      if (!welcome.some((e) => e.type === 'reply' && e.command === 'JOIN')) throw new Error(`registration failed: ${JSON.stringify(welcome)}`);
      return { session, say };
    },
    restart(): void {
      w.core.shutdown();
      store.close();
      store = new SqliteHistoryStore({ dataDir: dir, sync: 'normal', log });
      w.core = make();
    },
    /** Room names the server knows, sorted. */
    rooms(): string[] {
      return w.core.allRooms().map((room) => room.name);
    },
    /** Log lines of one event. */
    logged(event: string): string[] {
      return logs.filter((line) => line.includes(` ${event}`));
    },
  };
  return w;
}

const last = (events: ChatEvent[]): ChatEvent | undefined => events[events.length - 1];
const joined = { type: 'reply', command: 'JOIN' };

test('a room nobody spoke in is forgotten an hour after its last member left, topic or not; a room with a message stays', (t) => {
  const w = setup(t);
  const alice = w.user('alice');
  alice.say('/join #quiet');
  t.deepEqual(last(alice.say('/topic #quiet Squatted')), ok('TOPIC', '#quiet', 'Topic of #quiet changed.'));
  alice.say('/join #talk');
  alice.say('hello');
  alice.say('/join #busy');
  alice.say('/part #quiet');
  alice.say('/part #talk');
  w.clock.advance(59 * MINUTE);
  t.deepEqual(w.rooms(), ['#busy', '#lobby', '#quiet', '#talk'], 'kept for the hour');
  w.clock.advance(2 * MINUTE);
  t.deepEqual(w.rooms(), ['#busy', '#lobby', '#talk'], 'the topic did not keep #quiet; the message keeps #talk; a member keeps #busy');
  const rejoined = alice.say('/join #quiet');
  t.deepEqual(rejoined[0], roomInfo('#quiet', 1), 'the name is free again, and the old topic is gone');
  w.clock.advance(24 * HOUR);
  t.deepEqual(w.rooms(), ['#busy', '#lobby', '#quiet', '#talk'], 'rooms with members or messages are never forgotten');
});

test('coming back within the hour restarts it, and after a restart unused rooms get a full hour again', (t) => {
  const w = setup(t);
  const alice = w.user('alice');
  alice.say('/join #back');
  alice.say('/part #back');
  w.clock.advance(50 * MINUTE);
  alice.say('/join #back');
  alice.say('/part #back');
  w.clock.advance(50 * MINUTE);
  t.true(w.rooms().includes('#back'));
  w.restart();
  w.clock.advance(59 * MINUTE);
  t.true(w.rooms().includes('#back'), 'a restart disconnected everyone: the room counts as just left');
  w.clock.advance(2 * MINUTE);
  t.false(w.rooms().includes('#back'));
  w.restart();
  t.false(w.rooms().includes('#back'), 'forgotten in the database too');
});

test('--room-unused-hours 0 forgets an unused room as soon as it is left, and a reload applies to rooms already empty', (t) => {
  const w = setup(t, { roomUnusedMs: 0 });
  const alice = w.user('alice');
  alice.say('/join #brief');
  alice.say('/part #brief');
  w.clock.advance(0);
  t.false(w.rooms().includes('#brief'));
  w.core.reconfigure({ roomUnusedMs: 3 * HOUR });
  alice.say('/join #longer');
  alice.say('/part #longer');
  w.clock.advance(2 * HOUR);
  t.true(w.rooms().includes('#longer'));
  w.core.reconfigure({ roomUnusedMs: HOUR });
  w.clock.advance(0);
  t.false(w.rooms().includes('#longer'));
});

test('a room whose messages all aged out counts as unused from then on', (t) => {
  const w = setup(t);
  const alice = w.user('alice');
  alice.say('/join #old');
  alice.say('long ago');
  alice.say('/part #old');
  w.clock.advance(3 * HOUR);
  t.true(w.rooms().includes('#old'));
  let steps = 0;
  while (!w.core.pruneHistory({ maxMessagesPerRoom: 100, maxAgeMs: HOUR }) && steps < 1000) steps++;
  w.clock.advance(59 * MINUTE);
  t.true(w.rooms().includes('#old'));
  w.clock.advance(2 * MINUTE);
  t.false(w.rooms().includes('#old'));
});

test('at the room cap a new room takes the place of the one unused longest; rooms in use are never taken', (t) => {
  const w = setup(t, { maxRooms: 4 });
  const alice = w.user('alice');
  alice.say('/join #a');
  alice.say('/part #a');
  w.clock.advance(1000);
  alice.say('/join #b');
  alice.say('/topic #b mine');
  alice.say('/part #b');
  alice.say('/join #c');
  alice.say('said something');
  alice.say('/part #c');
  t.deepEqual(w.rooms(), ['#a', '#b', '#c', '#lobby']);
  t.is(w.logged('rooms-near-cap').length, 1, 'the operator is warned as the cap comes near');
  const bob = w.user('bob', '198.51.100.7');
  t.deepEqual(last(bob.say('/join #d')), ok('JOIN', '#d', 'Now talking in #d.'));
  t.deepEqual(w.rooms(), ['#b', '#c', '#d', '#lobby'], '#a, unused the longest, made room');
  t.deepEqual(last(bob.say('/join #e')), ok('JOIN', '#e', 'Now talking in #e.'));
  t.deepEqual(w.rooms(), ['#c', '#d', '#e', '#lobby'], 'a room with only a topic is unused too');
  t.deepEqual(last(bob.say('/join #f')), err('TOO_MANY_ROOMS', 'The server has as many rooms as it allows, all in use; join an existing one (/rooms).'));
  t.deepEqual(last(bob.say('/join #g')), err('TOO_MANY_ROOMS', 'The server has as many rooms as it allows, all in use; join an existing one (/rooms).'));
  t.is(w.logged('rooms-full').length, 1, 'refusals are logged, but not one line each');
  t.is(w.logged('rooms-near-cap').length, 1, 'and the near-cap warning came once');
  bob.say('/part #d');
  t.deepEqual(last(bob.say('/join #f')), ok('JOIN', '#f', 'Now talking in #f.'));
  t.deepEqual(w.rooms(), ['#c', '#e', '#f', '#lobby']);
  w.restart();
  t.deepEqual(w.rooms(), ['#c', '#e', '#f', '#lobby'], 'the database agrees');
});

test('the room-creation limit counts per IPv4 /24 and IPv6 /64, says when to retry, and survives a restart', (t) => {
  const w = setup(t);
  const one = w.user('mallory', '192.0.2.1');
  const two = w.user('mallet', '192.0.2.200');
  for (let i = 0; i < LIMITS.maxRoomsCreatedPerHour / 2; i++) {
    t.like(last(one.say(`/join #m${i}`)), joined);
    t.like(last(two.say(`/join #n${i}`)), joined);
  }
  const refusal = (minutes: number): ChatEvent =>
    err('TOO_MANY_ROOMS', `Your network can create ${LIMITS.maxRoomsCreatedPerHour} rooms an hour; join an existing one (/rooms) or try again in ${minutes} minutes.`);
  t.deepEqual(last(one.say('/join #more')), refusal(60), 'two addresses of one /24 share the allowance');
  t.like(last(one.say('/join #n3')), joined, 'joining existing rooms is not limited');
  const carol = w.user('carol', '192.0.3.1');
  t.like(last(carol.say('/join #carol')), joined, 'the next /24 has its own allowance');
  const v6 = w.user('six', '2001:db8::1');
  const v6b = w.user('sixb', '2001:db8::ffff:1');
  const v6other = w.user('sixc', '2001:db8:0:1::1');
  for (let i = 0; i < LIMITS.maxRoomsCreatedPerHour - 1; i++) v6.say(`/join #six${i}`);
  t.like(last(v6b.say('/join #sixlast')), joined);
  t.is(codeOf(last(v6b.say('/join #sixover'))), 'TOO_MANY_ROOMS', 'one IPv6 /64 is one allowance');
  t.like(last(v6other.say('/join #sixother')), joined, 'the next /64 has its own');

  w.clock.advance(10 * MINUTE);
  w.restart();
  const again = w.user('mallory', '192.0.2.77');
  t.deepEqual(last(again.say('/join #after')), refusal(50), 'the count survived the restart');
  w.clock.advance(50 * MINUTE);
  t.like(last(again.say('/join #after')), joined, 'and the hour ends as it would have');
});

test('joining a room that has members on another server of the cluster, or that the shared store already holds, spends no room-creation allowance', (t) => {
  // A cluster's presence, reduced to what a join asks: rooms named #far... have members on another server.
  const far = (key: string): RemoteRoom | undefined => (key.startsWith('#far') ? { key, name: key, members: new Set() } : undefined);
  const presence = new Proxy({ remoteRoom: far, remoteUserCount: 0, remoteUsers: () => [][Symbol.iterator](), remoteRooms: () => [][Symbol.iterator]() } as Partial<ClusterPresence>, {
    get: (target, name) => (name in target ? target[name as keyof ClusterPresence] : () => undefined),
  }) as ClusterPresence;
  const w = setup(t, { presence });
  const one = w.user('traveller', '192.0.2.1');
  for (let i = 0; i < LIMITS.maxRoomsCreatedPerHour + 5; i++) {
    t.like(last(one.say(`/join #far${i}`)), joined);
    one.say(`/part #far${i}`);
  }
  for (let i = 0; i < LIMITS.maxRoomsCreatedPerHour; i++) t.like(last(one.say(`/join #near${i}`)), joined, 'the whole allowance is left');
  t.is(codeOf(last(one.say('/join #one-too-many'))), 'TOO_MANY_ROOMS');
  // A room with no members anywhere cannot be seen by presence; the shared store tells afterwards.
  w.core.roomExisted('#near0', addressPrefix('192.0.2.1', 24, 64));
  t.like(last(one.say('/join #one-too-many')), joined, 'the store found it already made elsewhere: the creation is given back');
});
