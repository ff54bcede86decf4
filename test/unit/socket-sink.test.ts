import test from 'ava';
import { OutputTurn } from '../../lib/transport/output-turn';
import { SocketSink } from '../../lib/transport/socket-sink';

/** A fake socket that records every call, in order. */
class FakeSocket {
  readonly calls: string[] = [];
  readonly written: Buffer[] = [];
  writableLength = 0;
  destroyed = false;
  ended = false;

  cork(): void {
    this.calls.push('cork');
  }

  uncork(): void {
    this.calls.push('uncork');
  }

  write(data: Buffer): boolean {
    if (this.ended || this.destroyed) throw new Error('write after end/destroy');
    this.calls.push(`write:${data.toString()}`);
    this.written.push(data);
    return true;
  }

  end(): void {
    this.calls.push('end');
    this.ended = true;
  }

  destroy(): void {
    this.calls.push('destroy');
    this.destroyed = true;
  }

  get text(): string {
    return Buffer.concat(this.written).toString();
  }
}

function make(maxQueueBytes = 1024): { socket: FakeSocket; sink: SocketSink; scheduler: OutputTurn } {
  const socket = new FakeSocket();
  const scheduler = new OutputTurn();
  const sink = new SocketSink(socket, maxQueueBytes, scheduler);
  return { socket, sink, scheduler };
}

const line = (s: string): Buffer => Buffer.from(s + '\r\n');

test('nothing is written until the scheduler flushes', (t) => {
  const { socket, sink } = make();
  sink.send(line('one'));
  t.deepEqual(socket.calls, []);
  t.is(sink.queuedBytes, 5);
});

test('lines queued in one turn are written as one write, in order', (t) => {
  const { socket, sink, scheduler } = make();
  sink.send(line('one'));
  sink.send(line('two'));
  sink.send(line('three'));
  scheduler.flushAll();
  t.deepEqual(socket.calls, ['write:one\r\ntwo\r\nthree\r\n']);
  t.is(sink.queuedBytes, 0);
});

test('a line shared by several sinks (a broadcast) is written to each and left as it was', (t) => {
  const scheduler = new OutputTurn();
  const shared = line('hello');
  const sockets = [new FakeSocket(), new FakeSocket()];
  const sinks = sockets.map((socket) => new SocketSink(socket, 1024, scheduler));
  sinks[0]!.send(line('first'));
  for (const sink of sinks) sink.send(shared);
  scheduler.flushAll();
  t.deepEqual(sockets[0]!.calls, ['write:first\r\nhello\r\n']);
  t.deepEqual(sockets[1]!.calls, ['write:hello\r\n']);
  t.is(shared.toString(), 'hello\r\n');
});

test('a single queued line is written once', (t) => {
  const { socket, sink, scheduler } = make();
  sink.send(line('solo'));
  scheduler.flushAll();
  t.is(socket.text, 'solo\r\n');
  t.is(socket.calls.filter((c) => c.startsWith('write')).length, 1);
});

test('the scheduler flushes on its own on the next turn', async (t) => {
  const { socket, sink } = make();
  sink.send(line('a'));
  sink.send(line('b'));
  await new Promise((resolve) => setImmediate(resolve));
  t.is(socket.text, 'a\r\nb\r\n');
});

test('one scheduler flushes every sink that queued output, each once', (t) => {
  const scheduler = new OutputTurn();
  const sockets = [new FakeSocket(), new FakeSocket()];
  const sinks = sockets.map((s) => new SocketSink(s, 1024, scheduler));
  const shared = line('broadcast');
  for (const sink of sinks) sink.send(shared);
  scheduler.flushAll();
  for (const socket of sockets) t.is(socket.text, 'broadcast\r\n');
  scheduler.flushAll();
  for (const socket of sockets) t.is(socket.written.length, 1);
});

test('a later turn after a flush is scheduled and flushed again', (t) => {
  const { socket, sink, scheduler } = make();
  sink.send(line('first'));
  scheduler.flushAll();
  sink.send(line('second'));
  scheduler.flushAll();
  t.is(socket.text, 'first\r\nsecond\r\n');
});

test('exceeding the send-queue cap destroys the socket and sets dropReason; queued lines are discarded', (t) => {
  const { socket, sink, scheduler } = make(20);
  sink.send(line('0123456789')); // 12 bytes
  t.is(sink.dropReason, undefined);
  sink.send(line('abcdefgh')); // 10 more: 22 > 20
  t.is(sink.dropReason, 'Send queue exceeded');
  t.true(socket.destroyed);
  scheduler.flushAll();
  t.deepEqual(socket.written, []);
});

test('a queue of exactly the cap is allowed', (t) => {
  const { socket, sink, scheduler } = make(12);
  sink.send(line('0123456789')); // 12 bytes
  scheduler.flushAll();
  t.is(sink.dropReason, undefined);
  t.false(socket.destroyed);
  t.is(socket.text, '0123456789\r\n');
});

test('bytes still in the socket buffer count toward the cap', (t) => {
  const { socket, sink } = make(100);
  socket.writableLength = 95;
  sink.send(line('hello')); // 7 bytes: 102 > 100
  t.is(sink.dropReason, 'Send queue exceeded');
  t.true(socket.destroyed);
});

test('close flushes what is queued, then ends the socket; nothing is written after close', (t) => {
  const { socket, sink, scheduler } = make();
  sink.send(line('BYE Goodbye!'));
  sink.close('quit');
  t.deepEqual(socket.calls, ['write:BYE Goodbye!\r\n', 'end']);
  sink.send(line('too late'));
  scheduler.flushAll();
  t.deepEqual(socket.calls, ['write:BYE Goodbye!\r\n', 'end']);
  sink.close('again');
  t.deepEqual(socket.calls, ['write:BYE Goodbye!\r\n', 'end']);
});

test('nothing is written or ended after a drop', (t) => {
  const { socket, sink, scheduler } = make(10);
  sink.send(line('way too long for the cap'));
  t.true(socket.destroyed);
  sink.send(line('x'));
  sink.close('eof');
  scheduler.flushAll();
  t.deepEqual(socket.calls, ['destroy']);
});

test('deliver encodes an event with the connection codec (mychat by default) and queues it like any line; the codec can be switched', (t) => {
  const { socket, sink, scheduler } = make();
  sink.deliver({ type: 'notice', text: 'hello' });
  scheduler.flushAll();
  t.is(socket.text, 'NOTICE hello\r\n');
  sink.codec = { name: 'test', encode: (event) => Buffer.from(`<${event.type}>\n`) };
  sink.deliver({ type: 'pong', token: 'x' });
  sink.send(Buffer.from('raw\r\n'));
  scheduler.flushAll();
  t.is(socket.text, 'NOTICE hello\r\n<pong>\nraw\r\n');
});
