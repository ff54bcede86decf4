import test from 'ava';
import { register, type TestClient } from '../helpers/client';
import { startDaemon, type Daemon } from '../helpers/daemon';

/*
 * The /paste block over real TCP: a raw client pastes, the others receive consecutive PASTE lines with
 * one id, the block is kept as one history entry and replayed as its lines, and a block that is too long
 * or whose sender goes away is never delivered.
 */

let daemon: Daemon;
const clients: TestClient[] = [];

test.before(async () => {
  daemon = await startDaemon();
});

test.after.always(async () => {
  for (const client of clients) client.socket.destroy();
  await daemon.stop();
});

async function person(nick: string, room: string): Promise<TestClient> {
  const client = await register(daemon.port, nick);
  clients.push(client);
  client.send(`/join ${room}`);
  await client.waitForLine(`OK JOIN ${room} Now talking in ${room}.`);
  return client;
}

const PASTE = /^PASTE (#\S+) (\S+) (\d+) (\d+)\/(\d+) ?(.*)$/;

test('a pasted block with an empty line and a dot-stuffed line arrives as consecutive PASTE lines with one id, in order', async (t) => {
  const alice = await person('pastealice', '#paste1');
  const bob = await person('pastebob', '#paste1');
  await alice.waitForLine('JOIN #paste1 pastebob');
  // One write, as a terminal or a script sends a paste; the empty line travels as a line of the block.
  alice.sendRaw('/paste\r\nfirst line\r\n\r\n..hidden dot\r\n.\r\n');
  await alice.waitForLine(/^OK PASTE #paste1 Send the lines/);
  t.is(await alice.waitForLine(/^OK PASTE #paste1 /), 'OK PASTE #paste1 Sent 3 lines.');

  const first = await bob.waitForLine(/^PASTE /);
  const at = bob.lines.indexOf(first);
  const block = bob.lines.slice(at, at + 3);
  const id = PASTE.exec(first)?.[3];
  t.truthy(id);
  t.deepEqual(block, [
    `PASTE #paste1 pastealice ${id} 1/3 first line`,
    `PASTE #paste1 pastealice ${id} 2/3`,
    `PASTE #paste1 pastealice ${id} 3/3 .hidden dot`,
  ]);

  // A second block gets another id; commands work again after the end line.
  alice.send('/paste');
  alice.send('second block');
  alice.send('.');
  await alice.waitForLine('OK PASTE #paste1 Sent 1 line.');
  const next = PASTE.exec(await bob.waitForLine(/^PASTE .* second block$/));
  t.not(next?.[3], id);
  await alice.sync();
});

test('a block over the line limit gets PASTE_TOO_LONG once, nothing is delivered, and the session works normally after "."', async (t) => {
  const alice = await person('longalice', '#paste2');
  const bob = await person('longbob', '#paste2');
  await alice.waitForLine('JOIN #paste2 longbob');
  const lines = ['/paste', ...Array.from({ length: 150 }, (_, i) => `line ${i + 1}`), '.'];
  alice.sendRaw(lines.map((line) => line + '\r\n').join(''));
  const refusal = await alice.waitForLine(/^ERR /);
  t.regex(refusal, /^ERR PASTE_TOO_LONG A paste has at most 100 lines and 16384 bytes/);
  t.is(await alice.waitForLine(/^OK PASTE #paste2 /), 'OK PASTE #paste2 Paste ended; it was discarded and nothing of it was sent.');
  alice.send('back to normal');
  await alice.sync();
  t.is(await bob.waitForLine(/^MSG #paste2 /), 'MSG #paste2 longalice back to normal');
  t.deepEqual(bob.all(/^PASTE /), [], 'no line of the block reached anyone');
  t.deepEqual(alice.all(/^ERR /), [refusal], 'one ERR for the whole block');
});

test('a paste is replayed as one history entry of HISTORY … PASTE lines when the room is joined again', async (t) => {
  const alice = await person('replayalice', '#paste3');
  alice.send('said before');
  alice.send('/paste');
  alice.send('alpha');
  alice.send('');
  alice.send('..omega');
  alice.send('.');
  await alice.waitForLine('OK PASTE #paste3 Sent 3 lines.');
  alice.send('said after');
  alice.send('/part #paste3');
  await alice.waitForLine(/^OK PART #paste3 /);

  alice.send('/join #paste3');
  await alice.waitForLine('OK JOIN #paste3 Now talking in #paste3.');
  const replay = alice.lines.slice(alice.lines.lastIndexOf('NAMES #paste3 replayalice') + 1).filter((l) => l.startsWith('HIST'));
  const rows = replay.map((line) => line.replace(/^HISTORY (#\S+) (\d+) \S+Z /, 'HISTORY $1 $2 TIME '));
  const ids = replay.map((line) => /^HISTORY #paste3 (\d+) /.exec(line)?.[1] ?? '?');
  // Ids are global to the server (other tests write to other rooms meanwhile): they rise, and the paste's lines share one.
  const [before, paste, after] = [Number(ids[0]), Number(ids[1]), Number(ids[4])];
  t.true(before < paste && paste < after, ids.join(' '));
  t.deepEqual(ids.slice(1, 4), [String(paste), String(paste), String(paste)]);
  t.deepEqual(rows, [
    `HISTORY #paste3 ${before} TIME replayalice MSG said before`,
    `HISTORY #paste3 ${paste} TIME replayalice PASTE 1/3 alpha`,
    `HISTORY #paste3 ${paste} TIME replayalice PASTE 2/3`,
    `HISTORY #paste3 ${paste} TIME replayalice PASTE 3/3 .omega`,
    `HISTORY #paste3 ${after} TIME replayalice MSG said after`,
    'HISTEND #paste3 3 Replayed the last 3; /history #paste3 for more.',
  ]);
});

for (const how of ['end', 'reset'] as const) {
  test(`a peer that disconnects (${how === 'end' ? 'EOF' : 'reset'}) in the middle of a paste sends nothing of it`, async (t) => {
    const alice = await person(`gone${how}alice`, `#paste4${how}`);
    const bob = await person(`gone${how}bob`, `#paste4${how}`);
    await alice.waitForLine(`JOIN #paste4${how} gone${how}bob`);
    alice.send('/paste');
    await alice.waitForLine(/^OK PASTE /);
    alice.sendRaw('an unfinished\r\nblock\r\n/quit is text here\r\n');
    if (how === 'end') alice.end();
    else alice.reset();
    await bob.waitForLine(/^QUIT gone\w+alice /);
    await bob.sync();
    t.deepEqual(bob.all(/^(PASTE|MSG) /), []);
  });
}
