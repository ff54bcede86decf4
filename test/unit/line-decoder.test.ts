import test from 'ava';
import fc from 'fast-check';
import { LIMITS } from '../../lib/protocol/limits';
import type { InputLine } from '../../lib/protocol/line-decoder';
import { LineFramer, TELNET } from '../../lib/protocol/line-framer';

/** Feeds `chunks` into a fresh framer, ends it, and collects every InputLine and telnet reply. */
function decode(chunks: readonly Uint8Array[], maxLineBytes?: number): Promise<{ lines: InputLine[]; replies: Buffer[] }> {
  const replies: Buffer[] = [];
  const lines: InputLine[] = [];
  const framer = new LineFramer({ framedLine: (line) => lines.push(line), telnetReply: (bytes) => replies.push(Buffer.from(bytes)) }, maxLineBytes);
  for (const chunk of chunks) framer.push(Buffer.from(chunk));
  framer.end();
  return Promise.resolve({ lines, replies });
}

const text = (s: string): InputLine => ({ ok: true, text: s });
const TOO_LONG: InputLine = { ok: false, code: 'LINE_TOO_LONG' };
const BAD_UTF8: InputLine = { ok: false, code: 'BAD_UTF8' };

/** Splits `bytes` at the given (sorted, deduplicated) offsets. */
function splitAt(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const chunks: Buffer[] = [];
  let from = 0;
  for (const cut of cuts) {
    chunks.push(bytes.subarray(from, cut));
    from = cut;
  }
  chunks.push(bytes.subarray(from));
  return chunks;
}

// ---- the full decoder ----

test('the decoder turns chunks of CRLF / LF / CR NUL lines into InputLine objects', async (t) => {
  const { lines } = await decode([Buffer.from('hello\r\nwor'), Buffer.from('ld\nthird\r'), Buffer.from('\0last')]);
  t.deepEqual(lines, [text('hello'), text('world'), text('third'), text('last')]);
});

test('the decoder passes empty lines on (flood control counts them) and keeps lines of spaces', async (t) => {
  const { lines } = await decode([Buffer.from('\r\n\n  \r\nx\n')]);
  t.deepEqual(lines, [text(''), text(''), text('  '), text('x')]);
});

test('multi-byte characters split across writes decode intact, at every split point', async (t) => {
  const line = 'héllo € 名前 😀 Zoë';
  const bytes = Buffer.from(line + '\r\n', 'utf8');
  for (let cut = 1; cut < bytes.length; cut++) {
    const { lines } = await decode([bytes.subarray(0, cut), bytes.subarray(cut)]);
    t.deepEqual(lines, [text(line)], `split at byte ${cut}`);
  }
  // One byte per write.
  const { lines } = await decode([...bytes].map((b) => Buffer.from([b])));
  t.deepEqual(lines, [text(line)]);
});

test('the decoder reports too-long and bad-UTF-8 lines and keeps going', async (t) => {
  const { lines } = await decode([
    Buffer.from('a'.repeat(LIMITS.maxLineBytes + 1) + '\n'),
    Buffer.from([0x61, 0xc0, 0x80, 0x0a]),
    Buffer.from('still here\n'),
  ]);
  t.deepEqual(lines, [TOO_LONG, BAD_UTF8, text('still here')]);
});

test('a too-long line ending in half a multi-byte character is still reported as too long', async (t) => {
  // 4095 ASCII bytes, then "é": its first byte is byte 4096 (passes), its second byte overflows.
  const { lines } = await decode([Buffer.from('a'.repeat(LIMITS.maxLineBytes - 1) + 'é\n', 'utf8')]);
  t.deepEqual(lines, [TOO_LONG]);
});

test('a 1 MB line in 64 KiB writes yields one LINE_TOO_LONG and the next line intact', async (t) => {
  const chunks = Array.from({ length: 16 }, () => Buffer.alloc(64 * 1024, 0x62));
  const { lines } = await decode([...chunks, Buffer.from('\r\nafter\r\n')]);
  t.deepEqual(lines, [TOO_LONG, text('after')]);
});

test('telnet negotiation is answered through the reply callback and stripped from the lines', async (t) => {
  const { lines, replies } = await decode([Buffer.from([TELNET.IAC, TELNET.DO, 6, 0x68, 0x69, 0x0d, 0x0a])]);
  t.deepEqual(lines, [text('hi')]);
  // The first telnet command also brings the framer's one request for binary input (DO TRANSMIT-BINARY).
  t.deepEqual(replies, [Buffer.from([TELNET.IAC, TELNET.DO, 0]), Buffer.from([TELNET.IAC, TELNET.WONT, 6])]);
});

test('a line of exactly the limit in multi-byte characters passes', async (t) => {
  const line = '😀'.repeat(LIMITS.maxLineBytes / 4);
  const { lines } = await decode([Buffer.from(line + '\n', 'utf8')]);
  t.deepEqual(lines, [text(line)]);
});

// ---- property: chunking never changes the result ----

const TERMINATORS = ['\r\n', '\n', '\r\0'] as const;

/** Text without the framing characters; fast-check's "binary" unit never yields lone surrogates. */
const lineText = fc
  .string({ unit: 'binary', maxLength: 60 })
  .map((s) => s.replace(/[\r\n\0]/g, ''))
  .filter((s) => Buffer.byteLength(s, 'utf8') < LIMITS.maxLineBytes);

const terminator = fc.constantFrom(...TERMINATORS);

/** Builds the stream and random cut points (sorted, unique, inside the stream). */
function withCuts<T>(item: fc.Arbitrary<T & { bytes: Buffer }>): fc.Arbitrary<T & { bytes: Buffer; cuts: number[] }> {
  return item.chain((value) =>
    fc
      .uniqueArray(fc.integer({ min: 1, max: Math.max(1, value.bytes.length - 1) }), { maxLength: 12 })
      .map((cuts) => ({ ...value, cuts: cuts.filter((c) => c < value.bytes.length).sort((a, b) => a - b) })),
  );
}

test('property: valid text lines survive any chunking and any terminators, exactly', async (t) => {
  const input = withCuts(
    fc.array(fc.tuple(lineText, terminator), { maxLength: 12 }).map((pairs) => ({
      pairs,
      bytes: Buffer.from(pairs.map(([line, term]) => line + term).join(''), 'utf8'),
    })),
  );
  await fc.assert(
    fc.asyncProperty(input, async ({ pairs, bytes, cuts }) => {
      const whole = await decode([bytes]);
      const chunked = await decode(splitAt(bytes, cuts));
      const expected = pairs.map(([line]) => text(line));
      t.deepEqual(whole.lines, expected);
      t.deepEqual(chunked.lines, expected);
    }),
    { numRuns: 200 },
  );
});

test('property: arbitrary bytes (with raw lines, telnet bytes, bad UTF-8) decode the same however they are chunked', async (t) => {
  // Raw bytes, biased towards the ones the filter treats specially (IAC, DO, SB, SE, CR, NUL, LF, UTF-8 leads).
  const special = fc.constantFrom(0xff, 0xfd, 0xfb, 0xfa, 0xf0, 0x0d, 0x00, 0x0a, 0xc3, 0xe2, 0xf0, 0x80);
  const rawLine = fc.array(fc.oneof(fc.integer({ min: 0, max: 255 }), special), { maxLength: 40 }).map((b) => Buffer.from(b));
  const textLine = lineText.map((s) => Buffer.from(s, 'utf8'));
  const piece = fc.tuple(fc.oneof(textLine, rawLine), terminator.map((s) => Buffer.from(s, 'latin1')));
  const input = withCuts(
    fc.array(piece, { maxLength: 12 }).map((pieces) => ({ bytes: Buffer.concat(pieces.flatMap(([line, term]) => [line, term])) })),
  );
  await fc.assert(
    fc.asyncProperty(input, fc.constantFrom(LIMITS.maxLineBytes, 16), async ({ bytes, cuts }, limit) => {
      const whole = await decode([bytes], limit);
      const chunked = await decode(splitAt(bytes, cuts), limit);
      t.deepEqual(chunked.lines, whole.lines);
      t.deepEqual(Buffer.concat(chunked.replies), Buffer.concat(whole.replies));
    }),
    { numRuns: 200 },
  );
});
