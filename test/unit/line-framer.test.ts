import test from 'ava';
import { LineFramer, TELNET, TELOPT_BINARY } from '../../lib/protocol/line-framer';
import type { InputLine } from '../../lib/protocol/line-decoder';
import { LIMITS } from '../../lib/protocol/limits';

const { IAC, DO, DONT, WILL, WONT, SB, SE } = TELNET;
const IP = 0xf4;
const AYT = 0xf6;
const NOP = 0xf1;
const GA = 0xf9;
const TIMING_MARK = 6;
const ECHO = 1;
const NAWS = 31;
const BINARY = TELOPT_BINARY;
/** What the framer sends, once, to a client that has sent a telnet command: DO TRANSMIT-BINARY. */
const OFFER = Buffer.from([IAC, DO, BINARY]);

/** How a rejected line shows in these tests' output (one marker per reason, then LF). */
const MARK = { LINE_TOO_LONG: '\0L', BAD_UTF8: '\0U', DROPPED: '\0D' } as const;

/** A framer plus every line and reply it produced; lines are written out as text + LF, rejected ones as their marker + LF. */
function make(maxLineBytes?: number): { framer: LineFramer; replies: Buffer[]; lines: InputLine[]; take(): Buffer } {
  const replies: Buffer[] = [];
  const lines: InputLine[] = [];
  let taken = 0;
  const framer = new LineFramer({ framedLine: (line) => lines.push(line), telnetReply: (bytes) => replies.push(Buffer.from(bytes)) }, maxLineBytes);
  const take = (): Buffer => {
    const out = Buffer.concat(lines.slice(taken).map((line) => Buffer.from((line.ok ? line.text : MARK[line.code]) + '\n', 'utf8')));
    taken = lines.length;
    return out;
  };
  return { framer, replies, lines, take };
}

/** Feeds chunks (strings are UTF-8, arrays are raw bytes), then end(), and returns all output bytes. */
function run(chunks: Array<string | number[] | Buffer>, maxLineBytes?: number): { out: Buffer; replies: Buffer[] } {
  const { framer, replies, take } = make(maxLineBytes);
  for (const chunk of chunks) framer.push(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk));
  framer.end();
  return { out: take(), replies };
}

/** Output split into lines (every line is terminated with a single LF). */
function lines(out: Buffer): string[] {
  const text = out.toString('latin1');
  if (text.length === 0) return [];
  if (!text.endsWith('\n')) throw new Error(`framer output does not end with LF: ${JSON.stringify(text)}`);
  return text.slice(0, -1).split('\n');
}

const utf8Lines = (out: Buffer): string[] => (out.length === 0 ? [] : out.toString('utf8').replace(/\n$/, '').split('\n'));
const TOO_LONG = MARK.LINE_TOO_LONG;
const BAD = MARK.BAD_UTF8;

// ---- terminators ----

test('CRLF, LF and CR NUL all end a line and become a single LF', (t) => {
  t.deepEqual(lines(run(['one\r\ntwo\nthree\r\0four\r\n']).out), ['one', 'two', 'three', 'four']);
});

test('a bare CR is kept as a data byte, not treated as a line end', (t) => {
  t.deepEqual(lines(run(['a\rb\n']).out), ['a\rb']);
  // CR CR LF: the first CR is data, the second starts the terminator.
  t.deepEqual(lines(run(['x\r\r\n']).out), ['x\r']);
});

test('a CR at the end of one chunk still pairs with the LF or NUL at the start of the next', (t) => {
  t.deepEqual(lines(run(['hi\r', '\nthere\r', '\0next\r', 'x\n']).out), ['hi', 'there', 'next\rx']);
});

test('a NUL that is not part of CR NUL is dropped', (t) => {
  t.deepEqual(lines(run([[0x61, 0x00, 0x62, 0x00, 0x0a]]).out), ['ab']);
});

test('end() completes an unterminated last line', (t) => {
  const { framer, take } = make();
  framer.push(Buffer.from('no newline'));
  t.is(take().toString(), '');
  t.is(framer.pendingBytes, 10);
  framer.end();
  t.is(take().toString(), 'no newline\n');
});

test('end() after a terminated line adds nothing', (t) => {
  const { framer, take } = make();
  framer.push(Buffer.from('done\n'));
  t.is(take().toString(), 'done\n');
  framer.end();
  t.is(take().length, 0);
});

test('an idle framer holds no buffer: only the bytes of an unfinished line wait between chunks', (t) => {
  const { framer, take } = make();
  framer.push(Buffer.from('one\r\ntw'));
  t.is(framer.pendingBytes, 2);
  framer.push(Buffer.from('o\r\n'));
  t.is(framer.pendingBytes, 0);
  t.is(take().toString(), 'one\ntwo\n');
});

test('dropCurrentLine: the line being received ends as DROPPED, not spliced, and the next line is fine', (t) => {
  const { framer, lines: got } = make();
  framer.push(Buffer.from('half a li'));
  framer.dropCurrentLine();
  framer.push(Buffer.from('ne\nnext\n'));
  t.deepEqual(got, [{ ok: false, code: 'DROPPED' }, { ok: true, text: 'next' }]);
});

test('end() marks an unterminated last line that is too long or truncated UTF-8', (t) => {
  t.deepEqual(lines(run(['x'.repeat(20)], 10).out), [TOO_LONG]);
  const truncated = lines(run([[0x61, 0xe2, 0x82]]).out);
  t.is(truncated.length, 1);
  t.true(truncated[0]!.endsWith(BAD), JSON.stringify(truncated));
});

// ---- telnet ----

test('telnet commands without options (IP, AYT, NOP, GA) are stripped from the data; the first one brings the binary offer', (t) => {
  const { out, replies } = run([[0x61, IAC, IP, 0x62, IAC, AYT, 0x63, IAC, NOP, IAC, GA, 0x64, 0x0a]]);
  t.deepEqual(lines(out), ['abcd']);
  t.deepEqual(replies, [OFFER]);
});

test('a client that never sends a telnet command is never sent one (nc must not see IAC bytes)', (t) => {
  const { replies } = run(['hello\n', [0xc3, 0xa9, 0x0a], 'ăם✓\n']);
  t.deepEqual(replies, []);
});

test('TRANSMIT-BINARY: the offer is made once, the answer to it is not answered again', (t) => {
  const { framer, replies } = make();
  framer.push(Buffer.from([IAC, IP]));
  framer.push(Buffer.from([IAC, WILL, BINARY]));
  framer.push(Buffer.from([IAC, IP, IAC, WILL, BINARY]));
  t.deepEqual(replies, [OFFER]);
});

test('the client may stop sending in binary mode and start again; we never send in binary mode', (t) => {
  const { framer, replies } = make();
  // The client asks us to send in binary (DO) as its first telnet command: the offer goes out, its request is refused.
  framer.push(Buffer.from([IAC, DO, BINARY]));
  t.deepEqual(replies.splice(0), [OFFER, Buffer.from([IAC, WONT, BINARY])]);
  framer.push(Buffer.from([IAC, WILL, BINARY]));
  t.deepEqual(replies.splice(0), []);
  framer.push(Buffer.from([IAC, WONT, BINARY, IAC, WONT, BINARY]));
  t.deepEqual(replies.splice(0), [Buffer.from([IAC, DONT, BINARY])]);
  framer.push(Buffer.from([IAC, WILL, BINARY]));
  t.deepEqual(replies.splice(0), [Buffer.from([IAC, DO, BINARY])]);
});

test('a client that refuses TRANSMIT-BINARY is not asked again', (t) => {
  const { framer, replies } = make();
  framer.push(Buffer.from([IAC, NOP, IAC, DONT, BINARY, IAC, WONT, BINARY, IAC, NOP]));
  t.deepEqual(replies, [OFFER]);
});

test('IAC IAC (an escaped 0xFF data byte) rejects the line as bad UTF-8, and the next line is fine', (t) => {
  const { out } = run([[0x61, IAC, IAC, 0x62, 0x0a], 'ok\n']);
  t.deepEqual(lines(out), [BAD, 'ok']);
});

test('DO x is refused with IAC WONT x, and WILL x with IAC DONT x; neither leaves bytes in the data', (t) => {
  const { out, replies } = run([[0x61, IAC, DO, ECHO, 0x62, IAC, WILL, NAWS, 0x63, 0x0a]]);
  t.deepEqual(lines(out), ['abc']);
  t.deepEqual(replies, [OFFER, Buffer.from([IAC, WONT, ECHO]), Buffer.from([IAC, DONT, NAWS])]);
});

test('WONT and DONT need no reply and are stripped', (t) => {
  const { out, replies } = run([[IAC, WONT, ECHO, 0x61, IAC, DONT, NAWS, 0x0a]]);
  t.deepEqual(lines(out), ['a']);
  t.deepEqual(replies, [OFFER]);
});

test('a repeated DO TIMING-MARK is answered every time (telnet waits for each answer)', (t) => {
  const { replies } = run([[IAC, DO, TIMING_MARK], [IAC, DO, TIMING_MARK], [IAC, DO, TIMING_MARK]]);
  t.deepEqual(replies.shift(), OFFER);
  t.is(replies.length, 3);
  for (const reply of replies) t.deepEqual(reply, Buffer.from([IAC, WONT, TIMING_MARK]));
});

test('a subnegotiation IAC SB ... IAC SE is stripped entirely, including IAC IAC inside it', (t) => {
  const { out, replies } = run([[0x61, IAC, SB, NAWS, 0, 80, IAC, IAC, 0, 24, IAC, SE, 0x62, 0x0a]]);
  t.deepEqual(lines(out), ['ab']);
  t.deepEqual(replies, [OFFER]);
});

test('an IAC sequence split across chunks is still recognised', (t) => {
  const { out, replies } = run([[0x61, IAC], [DO], [ECHO, 0x62], [IAC], [SB, NAWS, 1], [2, IAC], [SE, 0x63, 0x0a]]);
  t.deepEqual(lines(out), ['abc']);
  t.deepEqual(replies, [OFFER, Buffer.from([IAC, WONT, ECHO])]);
});

test('an unterminated subnegotiation is bounded: after the limit, data flows again', (t) => {
  // A client that sends IAC SB and never IAC SE must not lose all of its later chat.
  const junk = new Array<number>(LIMITS.maxSubnegotiationBytes).fill(0x78);
  const { out } = run([[IAC, SB, ...junk], '\nhello\n']);
  t.deepEqual(lines(out).filter((line) => line.length > 0), ['hello']);
  t.false(out.includes('x'), 'subnegotiation bytes within the limit must not leak into the data');
});

test('an unterminated subnegotiation swallows exactly maxSubnegotiationBytes bytes', (t) => {
  // IAC SB, then 1024 skipped bytes (the limit); the very next byte is data again, so no
  // character of the following chat line may be lost.
  const junk = new Array<number>(LIMITS.maxSubnegotiationBytes).fill(0x78);
  const { out } = run([[IAC, SB, ...junk], 'hello\n']);
  t.deepEqual(lines(out), ['hello']);
});

// ---- line length ----

test('a line of exactly 4096 bytes passes untouched', (t) => {
  const line = 'a'.repeat(LIMITS.maxLineBytes);
  t.deepEqual(lines(run([line + '\r\n']).out), [line]);
});

test('a line of 4097 bytes is marked too long, and the next line is accepted', (t) => {
  const { out } = run(['a'.repeat(LIMITS.maxLineBytes + 1) + '\r\nnext\r\n']);
  const got = lines(out);
  t.is(got.length, 2);
  t.true(got[0]!.endsWith(TOO_LONG));
  t.is(got[1], 'next');
});

test('multi-byte characters count as bytes toward the limit', (t) => {
  // 1365 three-byte chars = 4095 bytes (passes); 1366 = 4098 bytes (too long).
  t.deepEqual(utf8Lines(run(['€'.repeat(1365) + '\n']).out), ['€'.repeat(1365)]);
  t.true(utf8Lines(run(['€'.repeat(1366) + '\n']).out)[0]!.endsWith(TOO_LONG));
});

test('a 1 MB line fed in chunks never holds more than 4096 bytes of that line', (t) => {
  const { framer, take } = make();
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  let held = 0;
  for (let i = 0; i < 16; i++) {
    framer.push(chunk);
    held = Math.max(held, framer.pendingBytes);
  }
  t.true(held <= LIMITS.maxLineBytes, `held ${held} bytes`);
  framer.push(Buffer.from('\n'));
  framer.end();
  t.is(take().toString('latin1'), TOO_LONG + '\n');
  // And the framer recovers for the next line.
  framer.push(Buffer.from('after\n'));
  t.is(take().toString(), 'after\n');
});

test('the line limit is configurable', (t) => {
  t.deepEqual(lines(run(['12345\n123456\n'], 5).out), ['12345', TOO_LONG]);
});

// ---- UTF-8 validation ----

test('valid 2-, 3- and 4-byte characters pass', (t) => {
  const text = 'é ñ € 名前 😀 \u{10000} \u{10FFFF} \uFFFF \uD7FF \uE000';
  t.deepEqual(utf8Lines(run([text + '\n']).out), [text]);
});

const invalid: Array<[string, number[]]> = [
  ['overlong C0 80', [0xc0, 0x80]],
  ['overlong C1 BF', [0xc1, 0xbf]],
  ['overlong E0 80 80', [0xe0, 0x80, 0x80]],
  ['overlong F0 80 80 80', [0xf0, 0x80, 0x80, 0x80]],
  ['surrogate ED A0 80', [0xed, 0xa0, 0x80]],
  ['surrogate ED BF BF', [0xed, 0xbf, 0xbf]],
  ['above U+10FFFF F4 90 80 80', [0xf4, 0x90, 0x80, 0x80]],
  ['F5 lead byte', [0xf5, 0x80, 0x80, 0x80]],
  ['stray continuation byte', [0x80]],
  ['lead byte followed by ASCII', [0xc3, 0x41]],
  ['3-byte sequence cut short by ASCII', [0xe2, 0x82, 0x41]],
];

for (const [name, bytes] of invalid) {
  test(`invalid UTF-8 is rejected: ${name}`, (t) => {
    const { out } = run([[0x61, ...bytes, 0x62, 0x0a], 'fine\n']);
    const got = out.toString('latin1').split('\n');
    t.true(got[0]!.endsWith(BAD), JSON.stringify(got[0]));
    t.is(got[1], 'fine');
  });
}

test('a multi-byte sequence truncated by the line end is rejected', (t) => {
  t.deepEqual(lines(run([[0x61, 0xe2, 0x82, 0x0a]]).out).map((line) => line.endsWith(BAD)), [true]);
  t.deepEqual(lines(run([[0xf0, 0x9f, 0x98, 0x0d, 0x0a]]).out).map((line) => line.endsWith(BAD)), [true]);
});

test('a valid multi-byte character split across chunks passes', (t) => {
  const smile = [...Buffer.from('😀', 'utf8')];
  t.deepEqual(utf8Lines(run([[0x61, smile[0]!], [smile[1]!, smile[2]!], [smile[3]!, 0x0a]]).out), ['a😀']);
});

test('a rejected line is marked once, whatever follows on it', (t) => {
  const { out } = run([[0x80, 0x80, 0x61, 0xff, 0xff, 0x0a]]);
  t.is(out.toString('latin1'), BAD + '\n');
});
