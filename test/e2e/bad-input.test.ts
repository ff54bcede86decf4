import test from 'ava';
import net from 'node:net';
import { connect, delay, register } from '../helpers/client';
import { startDaemon, type Daemon } from '../helpers/daemon';

let daemon: Daemon;
test.before(async () => {
  daemon = await startDaemon(['--nick-timeout', '1']);
});
test.after.always(async () => {
  await daemon?.stop();
});

/** Registers two users in a private room so each test sees only its own traffic. */
async function pair(prefix: string) {
  const a = await register(daemon.port, `${prefix}A`);
  const b = await register(daemon.port, `${prefix}B`);
  for (const c of [a, b]) {
    c.send(`/join #${prefix}`);
    await c.waitForLine(`OK JOIN #${prefix} Now talking in #${prefix}.`);
  }
  return { a, b, room: `#${prefix}` };
}

test('a line over 4096 bytes gets LINE_TOO_LONG, is not relayed, and the session goes on', async (t) => {
  const { a, b, room } = await pair('long');
  a.send('y'.repeat(4096));
  t.is((await b.waitForLine(/^MSG /)).length, `MSG ${room} longA `.length + 4096, 'exactly 4096 bytes is accepted');
  // 4097 bytes, sent in small pieces so it straddles many reads.
  const long = 'x'.repeat(4097) + '\r\n';
  for (let i = 0; i < long.length; i += 500) a.sendRaw(long.slice(i, i + 500));
  t.regex(await a.waitForLine(/^ERR/), /^ERR LINE_TOO_LONG .*4096/);
  // 1 MB without a newline, then one: still one error, memory bounded, and the next line works.
  a.sendRaw(Buffer.alloc(1024 * 1024, 0x7a));
  a.send('');
  t.regex(await a.waitForLine(/^ERR/), /^ERR LINE_TOO_LONG/);
  a.send('still here');
  t.is(await b.waitForLine(/^MSG /), `MSG ${room} longA still here`);
  await b.sync();
  t.deepEqual(b.all(/xxx|zzz/), []);
  a.end();
  b.end();
});

test('invalid UTF-8 gets BAD_UTF8 and is not relayed; a character split across reads works', async (t) => {
  const { a, b, room } = await pair('utf');
  a.sendRaw(Buffer.from([0x68, 0x69, 0xc3, 0x28, 0x0d, 0x0a])); // "hi" + broken 2-byte sequence
  t.regex(await a.waitForLine(/^ERR/), /^ERR BAD_UTF8 /);
  a.sendRaw(Buffer.from([0xed, 0xa0, 0x80, 0x0a])); // an encoded surrogate
  t.regex(await a.waitForLine(/^ERR/), /^ERR BAD_UTF8 /);
  const text = Buffer.from('naïve 🎉 ok\r\n', 'utf8');
  const emoji = text.indexOf(0xf0);
  a.sendRaw(text.subarray(0, emoji + 2));
  await delay(50);
  a.sendRaw(text.subarray(emoji + 2));
  t.is(await b.waitForLine(/^MSG /), `MSG ${room} utfA naïve 🎉 ok`);
  await b.sync();
  t.is(b.all(/^MSG /).length, 1);
  a.end();
  b.end();
});

test('terminal controls never reach another screen: ESC, OSC 52, C1, bidi, bare CR, tab, DEL', async (t) => {
  const { a, b, room } = await pair('ctl');
  a.send('red \x1b[31mtext\x1b]52;c;SGVsbG8=\x07 \u009b2J \u202eevil\u2066 bare\rcr tab\there del\x7f');
  const line = await b.waitForLine(/^MSG /);
  t.is(line, `MSG ${room} ctlA red ␛[31mtext␛]52;c;SGVsbG8=␇ \ufffd2J \ufffdevil\ufffd bare␍cr tab here del\u2421`);
  // eslint-disable-next-line no-control-regex
  t.notRegex(b.raw.toString('utf8').replace(/\r\n/g, ''), /[\x00-\x1f\x7f\u0080-\u009f\u202a-\u202e\u2066-\u2069]/);
  a.send('/nick evil\x1bname');
  t.regex(await a.waitForLine(/^ERR/), /^ERR NICK_INVALID /);
  a.send('/join #bad\u202eroom');
  t.regex(await a.waitForLine(/^ERR/), /^ERR ROOM_INVALID /);
  a.end();
  b.end();
});

test('CR NUL (telnet) and bare LF (nc) end lines; empty lines are ignored', async (t) => {
  const { a, b, room } = await pair('eol');
  a.sendRaw('one\r\0\r\n\n\r\ntwo\nthree\r\n');
  t.is(await b.waitForLine(/^MSG /), `MSG ${room} eolA one`);
  t.is(await b.waitForLine(/^MSG /), `MSG ${room} eolA two`);
  t.is(await b.waitForLine(/^MSG /), `MSG ${room} eolA three`);
  await a.sync();
  t.deepEqual(a.all(/^ERR/), [], 'empty lines produce no error');
  a.end();
  b.end();
});

test('telnet negotiation is stripped and refused, and never relayed', async (t) => {
  const { a, b, room } = await pair('tel');
  // IAC DO ECHO, IAC WILL NAWS, IAC SB NAWS 0 80 0 24 IAC SE, IAC IP, IAC DO TIMING-MARK, then text.
  a.sendRaw(Buffer.from([255, 253, 1, 255, 251, 31, 255, 250, 31, 0, 80, 0, 24, 255, 240, 255, 244, 255, 253, 6]));
  a.sendRaw('after ctrl-c\r\n');
  t.is(await b.waitForLine(/^MSG /), `MSG ${room} telA after ctrl-c`);
  await a.sync();
  const raw = a.raw;
  t.true(raw.includes(Buffer.from([255, 252, 1])), 'DO ECHO answered WONT ECHO');
  t.true(raw.includes(Buffer.from([255, 254, 31])), 'WILL NAWS answered DONT NAWS');
  t.true(raw.includes(Buffer.from([255, 252, 6])), 'DO TIMING-MARK answered WONT TIMING-MARK');
  t.false(b.raw.includes(255), 'no IAC byte relayed to others');
  a.end();
  b.end();
});

test('an HTTP request gets a short explanation and the connection is closed', async (t) => {
  const c = await connect(daemon.port);
  c.sendRaw('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
  t.regex(await c.waitForLine(/^ERR/), /^ERR NOT_CHAT .*not a web server/);
  await c.waitClosed();
  t.pass();
});

test('a TLS handshake on the plain port is closed', async (t) => {
  const socket = net.connect(daemon.port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.resume();
  socket.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03]));
  await new Promise<void>((resolve, reject) => {
    socket.on('close', () => resolve());
    setTimeout(() => reject(new Error('not closed')), 4000);
  });
  t.regex(daemon.stderr(), /wrong-protocol .*protocol=tls/);
});

test('a connection that picks no nickname in time is closed with a reason', async (t) => {
  const c = await connect(daemon.port);
  t.is(await c.waitForLine(/^BYE/, 5000), 'BYE No nickname chosen in time');
  await c.waitClosed();
  t.pass();
});

test('a stranger cannot relay bytes that break framing for others', async (t) => {
  const { a, b, room } = await pair('frame');
  a.sendRaw('x\u2028y\u2029z\r\n');
  t.is(await b.waitForLine(/^MSG /), `MSG ${room} frameA x y z`);
  a.end();
  b.end();
});
