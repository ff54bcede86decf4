import test from 'ava';
import { openFrom, registerFrom, type TestClient } from '../helpers/client';
import { startDaemon } from '../helpers/daemon';

/*
 * Flood control over real TCP: lines and bytes are budgeted before framing drops anything, per connection
 * and per address; a paced backlog is bounded; a sender that leaves takes its backlog with it; /quit jumps
 * the queue; connect storms and persistent flooders are cut off. Each test uses its own loopback source
 * addresses so that per-address budgets do not mix between tests.
 */

/** Resolves once `client` has received `n` lines matching `pattern` (bounded by the client's line timeout). */
async function waitForCount(client: TestClient, pattern: RegExp, n: number, timeoutMs = 8000): Promise<void> {
  for (let i = 0; i < n; i++) await client.waitForLine(pattern, timeoutMs);
}

test('a paste past the backlog bound is cut with one NOTICE saying how many lines were dropped; /quit then leaves at once', async (t) => {
  const daemon = await startDaemon(['--flood-burst', '5', '--flood-rate', '1', '--flood-address-rate', '0']);
  t.teardown(() => daemon.stop());
  const paster = await registerFrom(daemon.port, '127.0.1.1', 'paster');
  const reader = await registerFrom(daemon.port, '127.0.1.2', 'reader');
  paster.sendRaw(Array.from({ length: 400 }, (_, i) => `line ${i}\r\n`).join(''));
  // Pacing is announced once, not per line.
  t.regex(await paster.waitForLine(/^NOTICE Flood control: you are sending faster/), /use \/paste/);
  const dropped = await paster.waitForLine(/^NOTICE Flood control dropped/);
  const count = Number(/dropped (\d+) lines/.exec(dropped)?.[1]);
  // 5 go at once and 200 wait; of the rest, only the few the 1 line/s budget let through while reading are not dropped.
  t.true(count >= 185 && count <= 200, `dropped ${count}`);
  t.is(paster.all(/^NOTICE Flood control: you are sending faster/).length, 1);
  // /quit does not wait behind the ~200 lines still queued.
  paster.send('/quit bye');
  t.is(await paster.waitForLine(/^BYE/, 2000), 'BYE Goodbye!');
  t.is(await reader.waitForLine(/^QUIT paster/), 'QUIT paster Quit: bye');
  reader.send('/ping after');
  await reader.waitForLine('PONG after');
  const posted = reader.all(/^MSG #lobby paster /).length;
  t.true(posted >= 5 && posted < 20, `${posted} lines were posted before the quit`);
  reader.end();
});

test('when a flooding sender closes its socket, its queued lines are discarded and the QUIT comes at once', async (t) => {
  const daemon = await startDaemon(['--flood-burst', '5', '--flood-rate', '1', '--flood-address-rate', '0']);
  t.teardown(() => daemon.stop());
  for (const [from, how] of [['127.0.2.1', 'eof'], ['127.0.2.2', 'reset']] as const) {
    const reader = await registerFrom(daemon.port, '127.0.2.9', `reader${how}`);
    const gone = await registerFrom(daemon.port, from, `gone${how}`);
    gone.sendRaw(Array.from({ length: 150 }, (_, i) => `queued ${i}\r\n`).join(''));
    await gone.waitForLine(/^NOTICE Flood control: you are sending faster/);
    if (how === 'eof') gone.end();
    else gone.reset();
    t.regex(await reader.waitForLine(/^QUIT gone/, 2000), how === 'eof' ? /Connection closed$/ : /Connection (lost|closed)$/);
    // Nothing more from it after its QUIT.
    await reader.sync();
    const afterQuit = reader.lines.slice(reader.lines.findIndex((l) => l.startsWith(`QUIT gone${how}`)));
    t.deepEqual(afterQuit.filter((l) => l.startsWith(`MSG #lobby gone${how}`)), []);
    t.true(reader.all(new RegExp(`^MSG #lobby gone${how} `)).length < 10);
    reader.end();
  }
});

test('empty lines and bytes count: a newline flood before registering is cut, others keep chatting, and the flooder is disconnected', async (t) => {
  const daemon = await startDaemon(['--input-rate', '8192', '--input-address-rate', '32768', '--flood-rate', '5', '--flood-kick', '2']);
  t.teardown(() => daemon.stop());
  const a = await registerFrom(daemon.port, '127.0.3.1', 'calmA');
  const b = await registerFrom(daemon.port, '127.0.3.2', 'calmB');
  const flooder = await openFrom(daemon.port, '127.0.3.3');
  const newlines = Buffer.alloc(64 * 1024, 0x0a);
  let sent = 0;
  const pump = (): void => {
    // Bounded: at most 64 MiB, and only while the server keeps the connection open.
    while (!flooder.closed && sent < 1024 && flooder.socket.write(newlines)) sent++;
  };
  flooder.socket.on('drain', pump);
  pump();
  for (let i = 0; i < 5; i++) {
    a.send(`still talking ${i}`);
    t.is(await b.waitForLine(/^MSG /), `MSG #lobby calmA still talking ${i}`);
  }
  t.regex(await flooder.waitForLine(/^ERR FLOODING/, 10_000), /kept sending faster than flood control allows/);
  t.is(await flooder.waitForLine(/^BYE/), 'BYE Excess flood');
  await flooder.waitClosed(5000);
  t.true(sent < 1024, 'the flooder was cut off before its bounded loop ended');
  t.regex(daemon.stderr(), /flood-kick .*seconds=2/);
  a.end();
  b.end();
});

test('a byte flood from a registered client is discarded unread, with a NOTICE, and the next line still works', async (t) => {
  // Line pacing off, so only the byte budget is at work.
  const daemon = await startDaemon(['--input-rate', '8192', '--flood-rate', '0']);
  t.teardown(() => daemon.stop());
  const big = await registerFrom(daemon.port, '127.0.4.1', 'bigSender');
  const reader = await registerFrom(daemon.port, '127.0.4.2', 'bigReader');
  // 1 MiB of 100-byte lines in one go: far past the 64 KiB burst.
  const line = 'b'.repeat(98) + '\r\n';
  big.sendRaw(line.repeat(10 * 1024));
  t.regex(await big.waitForLine(/^NOTICE Flood control dropped/, 10_000), /bytes unread/);
  // The budget refills: after the notice, an ordinary line goes through.
  big.send('after the flood');
  t.is(await reader.waitForLine((l) => l === 'MSG #lobby bigSender after the flood', 15_000), 'MSG #lobby bigSender after the flood');
  // About the 64 KiB burst's worth (655 lines, plus what 8 KiB/s refills meanwhile) was posted; most of the 10,240 never were.
  const posted = reader.all(/^MSG #lobby bigSender b+$/).length;
  t.true(posted >= 600 && posted <= 2000, `${posted} posted`);
  big.end();
  reader.end();
});

test('one address shares one line budget: its second connection is paced, another address is not', async (t) => {
  const daemon = await startDaemon(['--flood-burst', '100', '--flood-rate', '100', '--flood-address-burst', '10', '--flood-address-rate', '1']);
  t.teardown(() => daemon.stop());
  const first = await registerFrom(daemon.port, '127.0.5.1', 'sameA');
  const second = await registerFrom(daemon.port, '127.0.5.1', 'sameB');
  const other = await registerFrom(daemon.port, '127.0.5.2', 'otherHost');
  for (let i = 0; i < 10; i++) first.send(`spend ${i}`);
  await waitForCount(other, /^MSG #lobby sameA spend/, 10);
  second.send('now me');
  t.regex(await second.waitForLine(/^NOTICE Flood control/), /your address .* faster than 1 lines a second/);
  other.send('not me');
  await first.waitForLine('MSG #lobby otherHost not me');
  t.deepEqual(other.all(/^NOTICE Flood control/), []);
  // The paced line is not lost: it arrives once the shared budget refills.
  await other.waitForLine('MSG #lobby sameB now me', 5000);
  for (const c of [first, second, other]) c.end();
});

test('an address opening connections too fast is refused with CONNECT_RATE and a retry time; others still get in; the log stays short', async (t) => {
  const daemon = await startDaemon(['--connect-rate', '1']);
  t.teardown(() => daemon.stop());
  const attempts = await Promise.all(Array.from({ length: 40 }, () => openFrom(daemon.port, '127.0.6.1')));
  const firstLines = await Promise.all(attempts.map((c) => c.waitForLine(/^(HELLO|ERR)/)));
  const refused = firstLines.filter((l) => l.startsWith('ERR CONNECT_RATE'));
  // The burst is 8 s of 1 connection/s; a slow machine may refill one or two while the 40 arrive.
  const served = firstLines.filter((l) => l.startsWith('HELLO')).length;
  t.true(served >= 8 && served <= 12, `${served} served`);
  t.is(refused.length, 40 - served);
  t.regex(refused[0]!, /try again in \d+ s/);
  const elsewhere = await registerFrom(daemon.port, '127.0.6.2', 'elsewhere');
  t.pass('another address is served');
  for (const c of [...attempts, elsewhere]) c.end();
  // The refusals were logged, but at most 20 lines of one event per second plus a summary.
  await daemon.waitForLog(/log-suppressed event=refused count=\d+/);
  t.true((daemon.stderr().match(/ refused /g) ?? []).length <= 20);
});
