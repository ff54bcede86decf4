import test from 'ava';
import { connect, register } from '../helpers/client';
import { startDaemon, type Daemon } from '../helpers/daemon';

let daemon: Daemon;
test.before(async () => {
  daemon = await startDaemon(['--motd', 'Be kind.\\nNo spam.']);
});
test.after.always(async () => {
  await daemon?.stop();
});

test('the MOTD is shown after registration, one NOTICE per line', async (t) => {
  const a = await connect(daemon.port);
  a.send('motdA');
  await a.waitForLine(/^OK NICK motdA/);
  t.is(await a.waitForLine(/^NOTICE/), 'NOTICE Be kind.');
  t.is(await a.waitForLine(/^NOTICE/), 'NOTICE No spam.');
  await a.waitForLine('OK JOIN #lobby Now talking in #lobby.');
  a.end();
});

test('/nick renames: peers sharing a room see NICK once, the user gets OK, the old name is free', async (t) => {
  const a = await register(daemon.port, 'nickA');
  const b = await register(daemon.port, 'nickB');
  for (const c of [a, b]) {
    c.send('/join #nickroom');
    await c.waitForLine('OK JOIN #nickroom Now talking in #nickroom.');
  }
  a.send('/NICK nickA2');
  t.is(await a.waitForLine(/^OK NICK/), 'OK NICK nickA2 You are now known as nickA2.');
  t.is(await b.waitForLine(/^NICK /), 'NICK nickA nickA2');
  await b.sync();
  t.is(b.all(/^NICK nickA /).length, 1, 'sharing two rooms still gives one NICK line');
  const c = await register(daemon.port, 'nickA');
  t.pass('old nickname can be taken again');
  b.send('/whois nickA2');
  t.regex(await b.waitForLine(/^WHOIS nickA2 rooms/), /#lobby/);
  for (const x of [a, b, c]) x.end();
});

test('/msg reaches only its target, and the sender gets OK MSG', async (t) => {
  const a = await register(daemon.port, 'pmA');
  const b = await register(daemon.port, 'pmB');
  const c = await register(daemon.port, 'pmC');
  a.send('/msg PMB psst, secret');
  t.is(await a.waitForLine(/^OK MSG/), 'OK MSG pmB Message sent to pmB.');
  t.is(await b.waitForLine(/^PRIVMSG/), 'PRIVMSG pmA psst, secret');
  await c.sync();
  t.deepEqual(c.all(/secret/), []);
  a.send('/msg nobody-here hi');
  t.regex(await a.waitForLine(/^ERR/), /^ERR NO_SUCH_NICK /);
  a.send('/msg pmB');
  t.is(await a.waitForLine(/^ERR/), 'ERR BAD_ARGS Usage: /msg NICK TEXT');
  for (const x of [a, b, c]) x.end();
});

test('/me is an ACTION in the current room', async (t) => {
  const a = await register(daemon.port, 'meA');
  const b = await register(daemon.port, 'meB');
  for (const c of [a, b]) {
    c.send('/join #merooom');
    await c.waitForLine(/^OK JOIN #merooom/);
  }
  a.send('/me waves');
  t.is(await b.waitForLine(/^ACTION/), 'ACTION #merooom meA waves');
  a.end();
  b.end();
});

test('/join creates, announces and switches; /part announces and falls back; empty rooms stay listed', async (t) => {
  const a = await register(daemon.port, 'roomA');
  const b = await register(daemon.port, 'roomB');
  a.send('/join #Garden');
  t.is(await a.waitForLine(/^ROOM #Garden/), 'ROOM #Garden 1');
  t.is(await a.waitForLine(/^NAMES #Garden/), 'NAMES #Garden roomA');
  await a.waitForLine('OK JOIN #Garden Now talking in #Garden.');
  b.send('/join #garden');
  t.is(await b.waitForLine(/^OK JOIN/), 'OK JOIN #Garden Now talking in #Garden.', 'room names are unique ignoring case');
  t.is(await a.waitForLine(/^JOIN #Garden/), 'JOIN #Garden roomB');
  b.send('flowers');
  t.is(await a.waitForLine(/^MSG #Garden/), 'MSG #Garden roomB flowers');
  // Joining a room you are in makes it current.
  b.send('/join #lobby');
  await b.waitForLine(/^OK JOIN #lobby/);
  b.send('in the lobby');
  t.is(await a.waitForLine(/^MSG #lobby roomB/), 'MSG #lobby roomB in the lobby');
  b.send('/part #Garden off to lunch');
  t.is(await b.waitForLine(/^OK PART/), 'OK PART #Garden Left #Garden; now talking in #lobby.');
  t.is(await a.waitForLine(/^PART /), 'PART #Garden roomB off to lunch');
  a.send('/part');
  t.is(await a.waitForLine(/^OK PART/), 'OK PART #Garden Left #Garden; now talking in #lobby.');
  a.send('/rooms');
  await a.waitForLine(/^OK ROOMS/);
  t.is(a.all(/^ROOM #Garden/).pop(), 'ROOM #Garden 0', 'an empty room with history is kept');
  a.send('/join #fleeting');
  await a.waitForLine(/^OK JOIN #fleeting/);
  a.send('/part');
  await a.waitForLine(/^OK PART #fleeting/);
  a.send('/rooms');
  await a.waitForLine(/^OK ROOMS/);
  t.is(a.all(/^ROOM #fleeting/).pop(), 'ROOM #fleeting 0', 'an empty room is kept even when nothing was said in it');
  a.send('/part #lobby');
  await a.waitForLine(/^OK PART #lobby Left #lobby; you are in no room now/);
  a.send('anyone?');
  t.regex(await a.waitForLine(/^ERR/), /^ERR NO_CURRENT_ROOM /);
  a.send('/part #nowhere');
  t.regex(await a.waitForLine(/^ERR/), /^ERR NO_SUCH_ROOM /);
  a.send('/join lobby');
  t.regex(await a.waitForLine(/^ERR/), /^ERR ROOM_INVALID /);
  a.send('/join #has space');
  t.is(await a.waitForLine(/^ERR/), 'ERR BAD_ARGS Usage: /join #ROOM');
  a.send(`/join #${'x'.repeat(33)}`);
  t.regex(await a.waitForLine(/^ERR/), /^ERR ROOM_INVALID /);
  a.end();
  b.end();
});

test('/rooms lists rooms with member counts and topics; /topic shows, sets, clears', async (t) => {
  const a = await register(daemon.port, 'topA');
  const b = await register(daemon.port, 'topB');
  for (const c of [a, b]) {
    c.send('/join #topical');
    await c.waitForLine(/^OK JOIN #topical/);
  }
  a.send('/topic #topical Release on Friday');
  t.is(await a.waitForLine(/^OK TOPIC/), 'OK TOPIC #topical Topic of #topical changed.');
  t.is(await b.waitForLine(/^TOPIC /), 'TOPIC #topical topA Release on Friday');
  b.send('/rooms');
  t.is(await b.waitForLine(/^ROOM #topical/), 'ROOM #topical 2 Release on Friday');
  t.regex(await b.waitForLine(/^OK ROOMS/), /^OK ROOMS \d+ /);
  b.send('/rooms TOPIC');
  t.is(await b.waitForLine(/^(ROOM|OK ROOMS)/), 'ROOM #topical 2 Release on Friday', 'a word filters rooms by name');
  t.is(await b.waitForLine(/^OK ROOMS/), 'OK ROOMS 1 1 room.');
  b.send('/topic #TOPICAL');
  t.is(await b.waitForLine(/^ROOM/), 'ROOM #topical 2 Release on Friday');
  t.regex(await b.waitForLine(/^OK TOPIC/), /^OK TOPIC #topical Topic set by topA at \d{4}-/);
  const outsider = await register(daemon.port, 'topC');
  outsider.send('/topic #topical hijack');
  t.regex(await outsider.waitForLine(/^ERR/), /^ERR NOT_IN_ROOM /);
  a.send('/topic #topical -');
  t.is(await a.waitForLine(/^OK TOPIC/), 'OK TOPIC #topical Topic of #topical cleared.');
  t.is(await b.waitForLine(/^TOPIC /), 'TOPIC #topical topA');
  a.send(`/topic #topical ${'t'.repeat(391)}`);
  t.regex(await a.waitForLine(/^ERR/), /^ERR TEXT_TOO_LONG /);
  for (const x of [a, b, outsider]) x.end();
});

test('/who lists a room or everyone; /whois shows rooms, connection time and idle seconds', async (t) => {
  const a = await register(daemon.port, 'whoA');
  const b = await register(daemon.port, 'whoB');
  b.send('/join #whoroom');
  await b.waitForLine(/^OK JOIN #whoroom/);
  a.send('/who #whoroom');
  t.is(await a.waitForLine(/^NAMES #whoroom/), 'NAMES #whoroom whoB');
  t.is(await a.waitForLine(/^OK WHO/), 'OK WHO #whoroom 1 in #whoroom.');
  a.send('/who');
  const everyone = await a.waitForLine(/^NAMES \*/);
  t.true(everyone.split(' ').includes('whoA') && everyone.split(' ').includes('whoB'));
  t.regex(await a.waitForLine(/^OK WHO \*/), /^OK WHO \* \d+ online\.$/);
  a.send('/whois WHOB');
  t.is(await a.waitForLine(/^WHOIS whoB rooms/), 'WHOIS whoB rooms #lobby #whoroom');
  const since = await a.waitForLine(/^WHOIS whoB connected/);
  t.true(Math.abs(Date.parse(since.split(' ')[3]!) - Date.now()) < 60_000);
  t.regex(await a.waitForLine(/^WHOIS whoB idle/), /^WHOIS whoB idle \d+$/);
  t.is(await a.waitForLine(/^OK WHOIS/), 'OK WHOIS whoB End of WHOIS for whoB.');
  a.send('/whois ghost');
  t.regex(await a.waitForLine(/^ERR/), /^ERR NO_SUCH_NICK /);
  a.end();
  b.end();
});

test('/help lists every command from the table and explains one; unknown commands get an error', async (t) => {
  const a = await register(daemon.port, 'helpA');
  a.send('/help');
  await a.waitForLine(/^OK HELP \*/);
  const listed = a.all(/^HELP /).map((line) => line.split(' ')[1]);
  for (const name of ['msg', 'me', 'join', 'part', 'rooms', 'who', 'whois', 'topic', 'help', 'ping', 'quit', 'nick']) {
    t.true(listed.includes(name), `/help lists ${name}`);
  }
  a.send('/help /PART');
  t.is(await a.waitForLine(/^HELP part Usage/), 'HELP part Usage: /part [#ROOM] [REASON]');
  a.send('/frobnicate');
  t.is(await a.waitForLine(/^ERR/), 'ERR UNKNOWN_COMMAND Unknown command /frobnicate. Type /help for the list.');
  a.send('/help frobnicate');
  t.regex(await a.waitForLine(/^ERR/), /^ERR UNKNOWN_COMMAND /);
  a.send('/rooms two words');
  t.is(await a.waitForLine(/^ERR/), 'ERR BAD_ARGS Usage: /rooms [WORD]');
  a.end();
});

test('/ping answers PONG with the token; //text sends a line starting with /', async (t) => {
  const a = await register(daemon.port, 'slashA');
  const b = await register(daemon.port, 'slashB');
  a.send('/ping hello-123');
  t.is(await a.waitForLine(/^PONG/), 'PONG hello-123');
  a.send('//shrug is not a command');
  t.is(await b.waitForLine(/^MSG #lobby slashA/), 'MSG #lobby slashA /shrug is not a command');
  a.end();
  b.end();
});

test('/quit says BYE, closes, and tells the rooms with the reason', async (t) => {
  const a = await register(daemon.port, 'quitA');
  const b = await register(daemon.port, 'quitB');
  a.send('/quit see you tomorrow');
  t.is(await a.waitForLine(/^BYE/), 'BYE Goodbye!');
  await a.waitClosed();
  t.is(await b.waitForLine(/^QUIT quitA/), 'QUIT quitA Quit: see you tomorrow');
  b.end();
});

test('before a nickname only /nick, /help, /ping and /quit work; others get NICK_REQUIRED', async (t) => {
  const a = await connect(daemon.port);
  a.send('/join #early');
  t.regex(await a.waitForLine(/^ERR/), /^ERR NICK_REQUIRED /);
  a.send('/ping x');
  t.is(await a.waitForLine(/^PONG/), 'PONG x');
  a.send('/nick 9lives');
  t.regex(await a.waitForLine(/^ERR/), /^ERR NICK_INVALID /);
  a.send('two words');
  t.regex(await a.waitForLine(/^ERR/), /^ERR NICK_INVALID /);
  a.send('x'.repeat(25));
  t.regex(await a.waitForLine(/^ERR/), /^ERR NICK_INVALID .*24/);
  a.send('/nick Zoë_名前');
  t.regex(await a.waitForLine(/^OK NICK/), /^OK NICK Zoë_名前 /);
  a.end();
});
