import test from 'ava';
import { register, type TestClient } from '../helpers/client';
import { startDaemon, type Daemon } from '../helpers/daemon';
import { CuttableProxy, EXIT_MARK, freePort, lastRow, removeTempDirs, startInteractive, tempDir } from '../helpers/mychat-client';
import { requireBinaries, TERMINAL_TIMEOUT_MS, TmuxTerminal } from '../helpers/terminal';

/*
 * The interactive client in a real terminal (tmux): what the user sees and types. The compiled client
 * talks to a real daemon on 127.0.0.1; the screen is read with capture-pane (styles stripped), polled
 * with a bound. A missing tmux fails these tests; they are never skipped.
 */

const T = TERMINAL_TIMEOUT_MS;

let daemon: Daemon;
const daemons: Daemon[] = [];
const terminals: TmuxTerminal[] = [];
const clients: TestClient[] = [];
const proxies: CuttableProxy[] = [];

test.before(async () => {
  daemon = await startDaemon(['--data-dir', tempDir()]);
  daemons.push(daemon);
});

test.after.always(async () => {
  await Promise.all(terminals.map((term) => term.kill()));
  for (const client of clients) client.socket.destroy();
  await Promise.all(proxies.map((proxy) => proxy.close()));
  await Promise.all(daemons.map((d) => d.stop()));
  removeTempDirs();
});

async function person(port: number, nick: string): Promise<TestClient> {
  const client = await register(port, nick);
  clients.push(client);
  return client;
}

async function client(args: string[], env: Record<string, string> = {}, size?: { width: number; height: number }): Promise<TmuxTerminal> {
  requireBinaries('tmux');
  const term = await startInteractive(args, env, size);
  terminals.push(term);
  return term;
}

/** Rows of the screen that match, for counting. */
async function rowsMatching(term: TmuxTerminal, pattern: RegExp): Promise<string[]> {
  return (await term.screen()).filter((row) => pattern.test(row));
}

test('a half-typed line survives incoming messages and is sent intact on Enter', async (t) => {
  const bob = await person(daemon.port, 'halfbob');
  const term = await client(['--nick', 'halfalice', '127.0.0.1', String(daemon.port)]);
  await term.waitForRow('halfalice #lobby>');

  await term.type('this is half a sen');
  await term.waitForRow('halfalice #lobby> this is half a sen');
  bob.send('hello halfalice, are you there?');
  bob.send('/me waits');
  // The message appears above the input line, marked as a mention, with the time.
  await term.waitForRow(/^\d\d:\d\d » #lobby <halfbob> hello halfalice, are you there\?$/);
  await term.waitForRow(/^\d\d:\d\d #lobby \* halfbob waits$/);
  t.is(await lastRow(term), 'halfalice #lobby> this is half a sen', 'the typed text is redrawn under the new lines');
  const rows = await term.screen();
  t.true(rows.findIndex((row) => row.includes('are you there')) < rows.length - 1);
  t.false(rows.some((row) => row.includes('half a sen') && row.includes('halfbob')), 'nothing was written into the input line');

  await term.type('tence');
  await term.press('Enter');
  t.is(await bob.waitForLine(/^MSG #lobby halfalice /, T), 'MSG #lobby halfalice this is half a sentence');
});

test('Tab completes commands, rooms and nicknames', async (t) => {
  const bob = await person(daemon.port, 'tabbob');
  const term = await client(['--nick', 'tabalice', '--join', 'tabroom', '127.0.0.1', String(daemon.port)]);
  await term.waitForRow('tabalice #tabroom>');

  await term.type('/jo');
  await term.press('Tab');
  await term.waitForRow('tabalice #tabroom> /join', T); // "/join " (the trailing space is trimmed by the capture)
  await term.type('#lo');
  await term.press('Tab');
  await term.waitForRow('tabalice #tabroom> /join #lobby');
  await term.press('Enter');
  await term.waitForRow('tabalice #lobby>');

  // tabbob was listed in #lobby's NAMES when tabalice arrived: a prefix completes his name.
  await term.type('tabb');
  await term.press('Tab');
  await term.waitForRow('tabalice #lobby> tabbob:');
  await term.type('lunch?');
  await term.press('Enter');
  t.is(await bob.waitForLine(/^MSG #lobby tabalice /, T), 'MSG #lobby tabalice tabbob: lunch?');
});

test('history replayed on joining is shown apart from live chat, with its original time', async (t) => {
  const bob = await person(daemon.port, 'histbob');
  bob.send('/join #histroom');
  await bob.waitForLine('OK JOIN #histroom Now talking in #histroom.');
  bob.send('said before anyone came');
  await bob.sync();
  const term = await client(['--nick', 'histalice', '--join', '#histroom', '127.0.0.1', String(daemon.port)]);
  const replayed = await term.waitForRow(/#histroom <histbob> said before anyone came$/);
  t.regex(replayed, /^\[\d\d:\d\d\] #histroom <histbob> said before anyone came$/, 'bracketed original time, no live timestamp');
  await term.waitForRow(/^-- #histroom history: /);
  bob.send('said live');
  t.regex(await term.waitForRow(/<histbob> said live$/), /^\d\d:\d\d #histroom <histbob> said live$/);
});

test('the prompt follows the current room through joins and parts, and /quit waits for the goodbye', async (t) => {
  const bob = await person(daemon.port, 'partbob');
  const term = await client(['--nick', 'partalice', '--join', '#p1', '--join', '#p2', '127.0.0.1', String(daemon.port)]);
  await term.waitForRow('partalice #p2>');
  await term.typeLine('/part');
  await term.waitForRow(/-- Left #p2; now talking in #p1\.$/);
  await term.waitForRow('partalice #p1>');
  await term.typeLine('/part #p1');
  await term.waitForRow('partalice #lobby>');
  await term.typeLine('/say /join is a command');
  t.is(await bob.waitForLine(/^MSG #lobby partalice /, T), 'MSG #lobby partalice /join is a command');
  await term.typeLine('/quit see you');
  t.is(await bob.waitForLine(/^QUIT partalice /, T), 'QUIT partalice Quit: see you');
  t.regex(await term.waitForRow(EXIT_MARK), /status 0/);
});

test('Ctrl-C clears a half-typed line; on an empty line it asks, and a second one quits cleanly (exit status 0)', async (t) => {
  const bob = await person(daemon.port, 'quitcbob');
  const term = await client(['--nick', 'quitc', '127.0.0.1', String(daemon.port)]);
  await term.waitForRow('quitc #lobby>');
  await bob.waitForLine('JOIN #lobby quitc', T);
  await term.type('never mind');
  await term.waitForRow('quitc #lobby> never mind');
  await term.press('C-c');
  await term.waitForRow('quitc #lobby>');
  await term.type('sent');
  await term.press('Enter');
  t.is(await bob.waitForLine(/^MSG #lobby quitc /, T), 'MSG #lobby quitc sent', 'the cleared text was not sent');
  await term.press('C-c');
  await term.waitForRow(/\*\*\* Press Ctrl-C again to quit \(or type \/quit\)\.$/);
  await term.press('C-c');
  t.is(await bob.waitForLine(/^QUIT quitc /, T), 'QUIT quitc Quit');
  t.regex(await term.waitForRow(EXIT_MARK), /status 0/);
});

test('Ctrl-D quits cleanly: the server sees /quit, the exit status is 0', async (t) => {
  const bob = await person(daemon.port, 'quitdbob');
  const term = await client(['--nick', 'quitd', '127.0.0.1', String(daemon.port)]);
  await term.waitForRow('quitd #lobby>');
  await bob.waitForLine('JOIN #lobby quitd', T);
  await term.press('C-d');
  t.is(await bob.waitForLine(/^QUIT quitd /, T), 'QUIT quitd Quit');
  t.regex(await term.waitForRow(EXIT_MARK), /status 0/);
});

test('after the daemon restarts, the client reconnects and re-joins its rooms, current room included', async (t) => {
  const port = await freePort();
  const dataDir = tempDir();
  const first = await startDaemon(['--port', String(port), '--data-dir', dataDir]);
  daemons.push(first);
  const bob = await person(port, 'rebob');
  bob.send('/join #redev');
  await bob.waitForLine('OK JOIN #redev Now talking in #redev.');

  // Rooms in the order #lobby, #reops, #redev: #redev is current.
  const term = await client(['--nick', 'realice', '--join', '#reops', '--join', '#redev', '127.0.0.1', String(port)]);
  await term.waitForRow('realice #redev>');
  await bob.waitForLine('JOIN #redev realice', T);
  bob.send('before the restart');
  await term.waitForRow(/^\d\d:\d\d #redev <rebob> before the restart$/);

  await first.stop();
  // The status line above the prompt says what is going on; no line is added to the chat.
  await term.waitForRow(/^\[1:#lobby\] \[2:#reops\] \[3:#redev\] \(connection lost: the server said "Server shutting down"; /);
  await term.waitForRow('(offline) realice #redev>');
  await term.type('typed while offline');

  const second = await startDaemon(['--port', String(port), '--data-dir', dataDir]);
  daemons.push(second);
  await term.waitForRow(/\*\*\* Reconnected to 127\.0\.0\.1:\d+ after [\d.]+ s \(the server said "Server shutting down"\) as realice, back in #lobby, #reops, #redev\.$/, 20_000);
  t.is(await lastRow(term), 'realice #redev> typed while offline', 'the prompt is back, the typed text kept');
  // One line tells the whole story: nothing else was added to the window since the line before the restart.
  const rows = await term.screen();
  const before = rows.findIndex((row) => row.endsWith('<rebob> before the restart'));
  const added = rows.slice(before + 1, -2);
  t.is(added.length, 1, `rows added since the restart:\n${added.join('\n')}`);
  t.regex(added[0]!, /Reconnected/);
  t.regex(rows[rows.length - 2]!, /^\[1:#lobby\] \[2:#reops\] \[3:#redev\]$/, 'the status line no longer says the connection is lost');

  const bob2 = await person(port, 'rebob2');
  bob2.send('/join #redev');
  t.regex(await bob2.waitForLine(/^NAMES #redev /), /\brealice\b/, 'the server has realice in #redev again');
  await bob2.waitForLine('OK JOIN #redev Now talking in #redev.');
  await term.press('C-u');
  await term.typeLine('back again');
  t.is(await bob2.waitForLine(/^MSG #redev realice /, T), 'MSG #redev realice back again', 'plain lines go to #redev, the current room');
  // Re-joining replayed #redev's history; what was already on screen is not shown twice.
  t.is((await rowsMatching(term, /before the restart$/)).length, 1);
});

test('if the nickname was taken while the connection was down, the client says so and uses nick_', async (t) => {
  const proxy = await CuttableProxy.start(daemon.port);
  proxies.push(proxy);
  const watch = await person(daemon.port, 'cutwatch');
  const term = await client(['--nick', 'cutalice', '--join', '#cutroom', '127.0.0.1', String(proxy.port)]);
  await term.waitForRow('cutalice #cutroom>');
  await watch.waitForLine('JOIN #lobby cutalice', T);

  await proxy.cut();
  await watch.waitForLine(/^QUIT cutalice /, T);
  await term.waitForRow(/\(connection lost: /);
  const squatter = await person(daemon.port, 'cutalice');
  await proxy.restore();

  await term.waitForRow(/\*\*\* The nickname cutalice is taken; trying cutalice_\.$/, 20_000);
  await term.waitForRow(/\*\*\* cutalice was taken, so you are cutalice_ now/);
  await term.waitForRow(/\*\*\* Reconnected to 127\.0\.0\.1:\d+ after [\d.]+ s \(.*\) as cutalice_, back in #lobby, #cutroom\.$/);
  await term.waitForRow('cutalice_ #cutroom>');
  squatter.send('/join #cutroom');
  t.regex(await squatter.waitForLine(/^NAMES #cutroom /), /\bcutalice_\b/);
});

test('an unreachable server is a clear message and exit status 3', async (t) => {
  const port = await freePort();
  const term = await client(['--nick', 'nobody', '127.0.0.1', String(port)]);
  await term.waitForRow(`mychat: cannot reach 127.0.0.1:${port}: connection refused (is mychatd running there?)`);
  t.regex(await term.waitForRow(EXIT_MARK), /status 3/);
});

test('a multi-line paste is sent as one /paste block that a raw client receives as PASTE lines with one id', async (t) => {
  const bob = await person(daemon.port, 'pastebob');
  bob.send('/join #pasteroom');
  await bob.waitForLine('OK JOIN #pasteroom Now talking in #pasteroom.');
  const term = await client(['--nick', 'pastealice', '--join', '#pasteroom', '127.0.0.1', String(daemon.port)]);
  await term.waitForRow('pastealice #pasteroom>');
  await bob.waitForLine('JOIN #pasteroom pastealice');

  // Half-typed text stays in the input line; the paste does not run into it. A pasted /quit is text.
  await term.type('not yet');
  await term.paste('def f(x):\n    return x\n\n.\n/quit is just text\n');
  const first = await bob.waitForLine(/^PASTE #pasteroom pastealice /, T);
  const at = bob.lines.indexOf(first);
  const id = first.split(' ')[3];
  t.deepEqual(bob.lines.slice(at, at + 5), [
    `PASTE #pasteroom pastealice ${id} 1/5 def f(x):`,
    `PASTE #pasteroom pastealice ${id} 2/5     return x`,
    `PASTE #pasteroom pastealice ${id} 3/5`,
    `PASTE #pasteroom pastealice ${id} 4/5 .`,
    `PASTE #pasteroom pastealice ${id} 5/5 /quit is just text`,
  ]);
  // The sender sees the block as sent and the server's confirmation; the half-typed line is intact.
  await term.waitForRow(/-- Sent 5 lines\.$/);
  const rows = await term.screen();
  const head = rows.findIndex((row) => /^\d\d:\d\d #pasteroom <pastealice> pasted 5 lines:$/.test(row));
  t.true(head >= 0, rows.join('\n'));
  t.deepEqual(rows.slice(head + 1, head + 6), ['      │ def f(x):', '      │     return x', '      │', '      │ .', '      │ /quit is just text']);
  t.is(await lastRow(term), 'pastealice #pasteroom> not yet');

  // A single pasted line goes into the input line, like typing, and Enter sends it as a message.
  await term.paste('one more line');
  await term.waitForRow('pastealice #pasteroom> not yetone more line');
  await term.press('Enter');
  t.is(await bob.waitForLine(/^MSG #pasteroom /, T), 'MSG #pasteroom pastealice not yetone more line');

  // Bob's own paste shows as one message on Alice's screen.
  bob.sendRaw('/paste\r\nfrom bob\r\n..dotted\r\n.\r\n');
  await term.waitForRow(/^\d\d:\d\d #pasteroom <pastebob> pasted 2 lines:$/);
  await term.waitForRow('      │ .dotted');
});

test('a paste over the server\'s limit is not sent at all, and the client says why', async (t) => {
  const bob = await person(daemon.port, 'bigbob');
  bob.send('/join #bigroom');
  await bob.waitForLine('OK JOIN #bigroom Now talking in #bigroom.');
  const term = await client(['--nick', 'bigalice', '--join', '#bigroom', '127.0.0.1', String(daemon.port)]);
  await term.waitForRow('bigalice #bigroom>');
  await bob.waitForLine('JOIN #bigroom bigalice');
  await term.paste(Array.from({ length: 101 }, (_, i) => `line ${i + 1}`).join('\n'));
  await term.waitForRow(/\*\*\* That paste has 101 lines \(a paste has at most 100 lines and 16384 bytes\); nothing was sent\.$/);
  // Nothing of it went out: the next thing Bob gets from Alice is the line she types now.
  await term.typeLine('only this');
  t.is(await bob.waitForLine(/^(MSG|PASTE) #bigroom bigalice /, T), 'MSG #bigroom bigalice only this');
  t.deepEqual(bob.all(/^PASTE /), []);
});

test('room windows: only the current room is shown, the status line counts unread messages and mentions, switching shows what was missed', async (t) => {
  // A daemon of its own: other tests chat in #lobby, and this one counts #lobby's unread messages.
  const own = await startDaemon(['--data-dir', tempDir()]);
  daemons.push(own);
  const daemon = own;
  const bob = await person(daemon.port, 'winbob');
  bob.send('/join #windev');
  await bob.waitForLine('OK JOIN #windev Now talking in #windev.');
  bob.send('/join #winops');
  await bob.waitForLine('OK JOIN #winops Now talking in #winops.');
  const term = await client(['--nick', 'winalice', '--join', 'windev', '--join', '#winops', '127.0.0.1', String(daemon.port)]);
  await term.waitForRow('winalice #winops>');
  await term.waitForRow('[1:#lobby] [2:#windev] [3:#winops]');
  await bob.waitForLine('JOIN #winops winalice', T);

  bob.send('ops, live');
  await term.waitForRow(/^\d\d:\d\d #winops <winbob> ops, live$/);
  bob.send('/join #windev');
  await bob.waitForLine('OK JOIN #windev Now talking in #windev.');
  bob.send('dev one');
  bob.send('dev two');
  bob.send('/join #lobby');
  await bob.waitForLine('OK JOIN #lobby Now talking in #lobby.');
  bob.send('winalice: lunch?');
  await term.waitForRow('[1:#lobby !1] [2:#windev 2] [3:#winops]');
  t.false((await term.screen()).some((row) => row.includes('dev one') || row.includes('lunch')), 'other rooms\' lines are not shown');

  // Alt-2: #windev, with what was missed marked; #winops's lines are gone from the screen.
  await term.press('M-2');
  await term.waitForRow('winalice #windev>');
  const rows = await term.screen();
  const marker = rows.indexOf('--- missed in #windev: 2 messages ---');
  t.true(marker >= 0, rows.join('\n'));
  t.regex(rows[marker + 1]!, /^\d\d:\d\d #windev <winbob> dev one$/);
  t.regex(rows[marker + 2]!, /^\d\d:\d\d #windev <winbob> dev two$/);
  t.false(rows.some((row) => row.includes('ops, live')));
  t.is(rows[rows.length - 2], '[1:#lobby !1] [2:#windev] [3:#winops]');

  // A plain line goes to the room on screen, and shows like everyone else's; the typed line is not left behind.
  await term.typeLine('reply in dev');
  t.is(await bob.waitForLine(/^MSG #\S+ winalice /, T), 'MSG #windev winalice reply in dev');
  await term.waitForRow(/^\d\d:\d\d #windev <winalice> reply in dev$/);
  t.false((await term.screen()).some((row) => row.startsWith('winalice #windev> reply')));

  // Ctrl-P goes back to window 1, where the mention waits; /window 3 and Ctrl-N wrap around to 1.
  await term.press('C-p');
  await term.waitForRow('winalice #lobby>');
  await term.waitForRow(/^\d\d:\d\d » #lobby <winbob> winalice: lunch\?$/);
  await term.waitForRow('[1:#lobby] [2:#windev] [3:#winops]');
  await term.typeLine('/window 3');
  await term.waitForRow('winalice #winops>');
  await term.waitForRow(/^\d\d:\d\d #winops <winbob> ops, live$/);
  await term.press('C-n');
  await term.waitForRow('winalice #lobby>');

  // A private message opens a window of its own, counted as a mention.
  bob.send('/msg winalice psst');
  await term.waitForRow('[1:#lobby] [2:#windev] [3:#winops] [4:winbob !1]');
  await term.press('M-4');
  await term.waitForRow('winalice @winbob>');
  await term.waitForRow(/^\d\d:\d\d \[private\] <winbob> psst$/);
  await term.typeLine('psst back');
  t.is(await bob.waitForLine(/^PRIVMSG winalice /, T), 'PRIVMSG winalice psst back');
  await term.waitForRow(/^\d\d:\d\d \[private\] <winalice> psst back$/);
  // A private message to no one is refused, and leaves no window behind.
  await term.typeLine('/msg winnobody hello?');
  await term.waitForRow(/!! No one called winnobody is online\. \[NO_SUCH_NICK\]$/);
  await term.waitForRow('[1:#lobby] [2:#windev] [3:#winops] [4:winbob]');

  // "/join lobby" without '#' switches to the window it already has; a bare /topic asks about the window's room.
  await term.typeLine('/join windev');
  await term.waitForRow('winalice #windev>');
  await term.typeLine('/topic');
  await term.waitForRow(/^\d\d:\d\d -- #windev: 2 members, no topic$/);
});

test('wide characters: the input line stays intact while lines arrive, and long lines wrap at words with a hanging indent', async (t) => {
  const bob = await person(daemon.port, 'widebob');
  const term = await client(['--nick', 'wide', '127.0.0.1', String(daemon.port)], {}, { width: 60, height: 30 });
  await term.waitForRow('wide #lobby>');
  // A room of their own (its name as long as #lobby's, so the columns below hold): lines other tests
  // send to #lobby go to that window, not to the screen this test reads.
  bob.send('/join #wides');
  await bob.waitForLine('OK JOIN #wides Now talking in #wides.', T);
  await term.typeLine('/join #wides');
  await term.waitForRow('wide #wides>');
  await bob.waitForLine('JOIN #wides wide', T);

  const typed = '漢字 and 👩‍💻 half';
  await term.type(typed);
  await term.waitForRow(`wide #wides> ${typed}`);
  // The prompt is 13 columns, the CJK characters 2 each, the ZWJ sequence one emoji of 2.
  const end = 13 + 4 + 5 + 2 + 5;
  t.is(await term.cursorSettlesAt(end), end);
  for (const n of [1, 2, 3]) {
    bob.send(`message ${n} with 中文 in it`);
    await term.waitForRow(new RegExp(`^\\d\\d:\\d\\d #wides <widebob> message ${n} with 中文 in it$`));
    t.is(await lastRow(term), `wide #wides> ${typed}`);
    t.is(await term.cursorSettlesAt(end), end, 'the cursor is still at the end of the typed text');
  }
  await term.type(' more');
  await term.waitForRow(`wide #wides> ${typed} more`);
  await term.press('Enter');
  t.is(await bob.waitForLine(/^MSG #wides wide /, T), `MSG #wides wide ${typed} more`);

  bob.send('the quick brown fox jumps over the lazy dog and keeps on running far beyond the edge');
  const first = await term.waitForRow(/^\d\d:\d\d #wides <widebob> the quick/);
  const rows = await term.visible();
  const at = rows.indexOf(first);
  const indent = ' '.repeat('00:00 #wides <widebob> '.length);
  t.deepEqual(rows.slice(at, at + 3).map((row) => row.replace(/^\d\d:\d\d/, '00:00')), [
    '00:00 #wides <widebob> the quick brown fox jumps over the',
    `${indent}lazy dog and keeps on running far`,
    `${indent}beyond the edge`,
  ]);
});
