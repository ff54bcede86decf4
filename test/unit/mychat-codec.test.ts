import test from 'ava';
import { cachedEncoder, type Codec } from '../../lib/codec/codec';
import { encodeMychat, MYCHAT_CODEC, mychatCodec } from '../../lib/codec/mychat-codec';
import { CHAT_EVENT_TYPES, type ChatEvent, type ChatEventType } from '../../lib/core/events';
import type { ClientSink } from '../../lib/core/ports/client-sink';
import { Room, Session } from '../../lib/core/session';

const AT = Date.UTC(2024, 4, 1, 12, 34, 56, 789);

/** One example of every event type and the exact mychat bytes it must become (today's wire format). */
const CASES: readonly { event: ChatEvent; wire: string }[] = [
  { event: { type: 'hello', server: 'mychatd/1.2.3', text: 'Welcome to testnet!' }, wire: 'HELLO mychatd/1.2.3 Welcome to testnet!\r\n' },
  { event: { type: 'reply', command: 'JOIN', subject: '#dev', text: 'Now talking in #dev.' }, wire: 'OK JOIN #dev Now talking in #dev.\r\n' },
  { event: { type: 'failure', code: 'NICK_IN_USE', text: 'The nickname bob is taken; pick another.' }, wire: 'ERR NICK_IN_USE The nickname bob is taken; pick another.\r\n' },
  { event: { type: 'pong', token: 'abc 1' }, wire: 'PONG abc 1\r\n' },
  { event: { type: 'pong', token: '' }, wire: 'PONG\r\n' },
  { event: { type: 'bye', text: 'Goodbye!' }, wire: 'BYE Goodbye!\r\n' },
  { event: { type: 'notice', text: 'Be nice.' }, wire: 'NOTICE Be nice.\r\n' },
  { event: { type: 'message', room: '#dev', from: 'Zoë', text: 'hello 😀', at: AT, id: 7 }, wire: 'MSG #dev Zoë hello 😀\r\n' },
  { event: { type: 'action', room: '#dev', from: 'bob', text: 'waves', at: AT }, wire: 'ACTION #dev bob waves\r\n' },
  {
    event: { type: 'paste', room: '#dev', from: 'bob', pasteId: '12', lines: ['fn main() {', '', '}'], at: AT },
    wire: 'PASTE #dev bob 12 1/3 fn main() {\r\nPASTE #dev bob 12 2/3\r\nPASTE #dev bob 12 3/3 }\r\n',
  },
  { event: { type: 'private', from: 'alice', text: 'psst', at: AT }, wire: 'PRIVMSG alice psst\r\n' },
  { event: { type: 'join', room: '#dev', nick: 'carol' }, wire: 'JOIN #dev carol\r\n' },
  { event: { type: 'part', room: '#dev', nick: 'carol', reason: 'lunch' }, wire: 'PART #dev carol lunch\r\n' },
  { event: { type: 'part', room: '#dev', nick: 'carol', reason: '' }, wire: 'PART #dev carol\r\n' },
  { event: { type: 'quit', nick: 'dave', reason: 'Connection lost' }, wire: 'QUIT dave Connection lost\r\n' },
  { event: { type: 'nick', from: 'dave', to: 'David' }, wire: 'NICK dave David\r\n' },
  { event: { type: 'topic', room: '#dev', by: 'alice', text: 'Release on Friday' }, wire: 'TOPIC #dev alice Release on Friday\r\n' },
  { event: { type: 'topic', room: '#dev', by: 'alice', text: '' }, wire: 'TOPIC #dev alice\r\n' },
  { event: { type: 'room', room: '#dev', members: 3, topic: 'Release on Friday' }, wire: 'ROOM #dev 3 Release on Friday\r\n' },
  { event: { type: 'room', room: '#empty', members: 0, topic: '' }, wire: 'ROOM #empty 0\r\n' },
  { event: { type: 'names', label: '#dev', nicks: ['alice', 'bob'] }, wire: 'NAMES #dev alice bob\r\n' },
  {
    event: { type: 'whois', nick: 'bob', rooms: ['#lobby', '#dev'], connectedAt: AT, idleSeconds: 42 },
    wire: 'WHOIS bob rooms #lobby #dev\r\nWHOIS bob connected 2024-05-01T12:34:56.789Z\r\nWHOIS bob idle 42\r\n',
  },
  {
    event: { type: 'whois', nick: 'bob', rooms: [], connectedAt: AT, idleSeconds: 0 },
    wire: 'WHOIS bob rooms\r\nWHOIS bob connected 2024-05-01T12:34:56.789Z\r\nWHOIS bob idle 0\r\n',
  },
  { event: { type: 'help', command: 'join', text: 'Usage: /join #ROOM' }, wire: 'HELP join Usage: /join #ROOM\r\n' },
  {
    event: { type: 'history', room: '#dev', id: 1042, at: AT, from: 'bob', kind: 'MSG', text: 'hi' },
    wire: 'HISTORY #dev 1042 2024-05-01T12:34:56Z bob MSG hi\r\n',
  },
  {
    event: { type: 'history', room: '#dev', id: 1043, at: AT, from: 'alice', kind: 'TOPIC', text: '' },
    wire: 'HISTORY #dev 1043 2024-05-01T12:34:56Z alice TOPIC\r\n',
  },
  {
    event: { type: 'history', room: '#dev', id: 1044, at: AT, from: 'bob', kind: 'PASTE', text: 'a\n\nc' },
    wire: 'HISTORY #dev 1044 2024-05-01T12:34:56Z bob PASTE 1/3 a\r\nHISTORY #dev 1044 2024-05-01T12:34:56Z bob PASTE 2/3\r\nHISTORY #dev 1044 2024-05-01T12:34:56Z bob PASTE 3/3 c\r\n',
  },
  {
    event: { type: 'history-end', room: '#dev', count: 3, text: 'Replayed the last 3; /history #dev for more.' },
    wire: 'HISTEND #dev 3 Replayed the last 3; /history #dev for more.\r\n',
  },
];

test('every event type becomes exactly the mychat line(s) of the protocol, CRLF-terminated UTF-8', (t) => {
  const codec = mychatCodec();
  t.is(codec.name, 'mychat');
  for (const { event, wire } of CASES) {
    const bytes = codec.encode(event);
    t.true(Buffer.isBuffer(bytes));
    t.is(bytes.toString('utf8'), wire, event.type);
  }
  // The table above really covers the whole union: a new event type must get a case here.
  const covered = new Set<ChatEventType>(CASES.map((c) => c.event.type));
  t.deepEqual(CHAT_EVENT_TYPES.filter((type) => !covered.has(type)), []);
});

/** A sink like SocketSink's delivery path: encodes each event with its codec and keeps the bytes. */
class EncodingSink implements ClientSink {
  readonly written: Buffer[] = [];
  constructor(private readonly codec: Codec) {}
  deliver(event: ChatEvent): void {
    this.written.push(this.codec.encode(event));
  }
  switchFormat(): void {}
  close(): void {}
}

/** A room of `n` registered members whose sinks encode with `codec`. */
function roomOf(n: number, codec: Codec): { room: Room; sinks: EncodingSink[] } {
  const room = new Room('#big', '#big');
  const sinks: EncodingSink[] = [];
  for (let i = 0; i < n; i++) {
    const sink = new EncodingSink(codec);
    const session = new Session(i + 1, sink, '192.0.2.1', 0);
    session.state = 'registered';
    room.members.add(session);
    sinks.push(sink);
  }
  return { room, sinks };
}

test('one event broadcast to 100 members is encoded once, and every member gets the same bytes', (t) => {
  let encodes = 0;
  const counting: Codec = {
    name: 'mychat',
    encode: cachedEncoder((event) => {
      encodes++;
      return encodeMychat(event);
    }),
  };
  const { room, sinks } = roomOf(100, counting);
  room.broadcast({ type: 'message', room: '#big', from: 'alice', text: 'hi all', at: AT });
  t.is(encodes, 1);
  t.true(sinks.every((sink) => sink.written.length === 1 && sink.written[0] === sinks[0]!.written[0]));
  t.is(sinks[0]!.written[0]!.toString(), 'MSG #big alice hi all\r\n');
  // A new event (even an equal one) is a new encode: the cache keys on the object, not its content.
  room.broadcast({ type: 'message', room: '#big', from: 'alice', text: 'hi all', at: AT });
  t.is(encodes, 2);
});

test('the shared MYCHAT_CODEC hands the very same Buffer to every member of a broadcast, each instance caching on its own', (t) => {
  const { room, sinks } = roomOf(100, MYCHAT_CODEC);
  room.broadcast({ type: 'join', room: '#big', nick: 'zed' });
  const first = sinks[0]!.written[0]!;
  t.is(first.toString(), 'JOIN #big zed\r\n');
  t.true(sinks.every((sink) => sink.written[0] === first));
  // Another instance encodes on its own: its cache does not answer for the shared one, and vice versa.
  const other = mychatCodec();
  const event: ChatEvent = { type: 'bye', text: 'Goodbye!' };
  const a = other.encode(event);
  t.not(MYCHAT_CODEC.encode(event), a);
  t.is(other.encode(event), a);
});
