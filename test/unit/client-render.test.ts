// A fixed zone with a half-hour offset and no daylight saving, so "local time" is checkable: UTC+05:30.
process.env.TZ = 'Asia/Kolkata';

import test from 'ava';
import { clockTime, humanDuration, lineWeight, localTimes, mentions, renderClientNotice, renderServerLine, type RenderContext } from '../../lib/client/render';
import { parseServerLine } from '../../lib/protocol/server-lines';
import { colourWanted, nickColour, NICK_COLOURS, stripStyles } from '../../lib/client/style';

/** 08:00 UTC is 13:30 in the test's time zone. */
const NOW = new Date('2026-03-10T08:00:00Z');

const plain: RenderContext = { colour: false, ownNick: 'alice', now: NOW };
const colour: RenderContext = { colour: true, ownNick: 'alice', now: NOW };

function show(line: string, ctx: RenderContext = plain): string {
  return renderServerLine(line, ctx);
}

/** SGR parameter lists used in a styled string, e.g. ['2', '31']. */
function sgr(text: string): string[] {
  // eslint-disable-next-line no-control-regex
  return [...text.matchAll(/\x1b\[([0-9;]*)m/g)].map((m) => m[1]!);
}

/** Every kind of line the server sends, with a typical example. */
const EVERY_KIND = [
  'HELLO mychatd/0.1.0 Welcome to mychat! Type a nickname and press Enter.',
  'OK NICK alice Welcome, alice! Type /help for commands; plain lines go to your current room.',
  'ERR NO_SUCH_NICK No one called carol is online.',
  'PONG abc',
  'ROOM #dev 3 Release planning',
  'NAMES #dev alice bob carol',
  'WHOIS bob rooms #dev #ops',
  'HELP join /join #ROOM - Join a room.',
  'HISTORY #dev 41 2026-03-10T07:15:00Z bob MSG earlier words',
  'HISTEND #dev 1 Replayed the last 1; /history #dev for more.',
  'BYE Goodbye!',
  'MSG #dev bob hi alice',
  'ACTION #dev bob waves',
  'PASTE #dev bob 7 1/2 first pasted line',
  'PRIVMSG bob psst',
  'JOIN #dev carol',
  'PART #dev carol lunch',
  'QUIT carol Quit: bye',
  'NICK carol caroline',
  'TOPIC #dev bob New topic',
  'NOTICE Maintenance at noon.',
];

test('live lines start with the local arrival time as HH:MM', (t) => {
  t.is(clockTime(NOW), '13:30');
  for (const line of EVERY_KIND.filter((l) => !l.startsWith('HISTORY') && !l.startsWith('HISTEND'))) {
    t.true(show(line).startsWith('13:30 '), line);
  }
});

test('room messages and actions name the room and the speaker', (t) => {
  t.is(show('MSG #dev bob hi there'), '13:30 #dev <bob> hi there');
  t.is(show('ACTION #dev bob waves at everyone'), '13:30 #dev * bob waves at everyone');
  t.is(show('MSG #dev bob  two  spaces kept'), '13:30 #dev <bob>  two  spaces kept');
});

test('a message that mentions the user is marked, in any letter case, as a whole word only', (t) => {
  t.is(show('MSG #dev bob hey Alice, look'), '13:30 » #dev <bob> hey Alice, look');
  t.is(show('ACTION #dev bob pokes alice'), '13:30 » #dev * bob pokes alice');
  t.is(show('MSG #dev bob malice and alice_b are other words'), '13:30 #dev <bob> malice and alice_b are other words');
  t.true(mentions('@alice: ping', 'alice'));
  t.false(mentions('alice-b', 'alice'), 'a hyphen belongs to nicknames, so alice-b is someone else');
  t.false(mentions('anything', ''), 'before registering nothing is a mention');
});

test('private messages are labelled as private', (t) => {
  t.is(show('PRIVMSG bob lunch at 12?'), '13:30 [private] <bob> lunch at 12?');
});

test('joins, parts, quits, nick changes and topics read as sentences', (t) => {
  t.is(show('JOIN #dev carol'), '13:30 --> carol joined #dev');
  t.is(show('PART #dev carol lunch'), '13:30 <-- carol left #dev (lunch)');
  t.is(show('PART #dev carol'), '13:30 <-- carol left #dev');
  t.is(show('QUIT carol Quit: bye'), '13:30 <-- carol quit (Quit: bye)');
  t.is(show('NICK carol caroline'), '13:30 --- carol is now known as caroline');
  t.is(show('TOPIC #dev bob Release on Friday'), '13:30 --- bob changed the topic of #dev to: Release on Friday');
  t.is(show('TOPIC #dev bob'), '13:30 --- bob cleared the topic of #dev');
});

test('replies to the user\'s own commands are readable', (t) => {
  t.is(show('HELLO mychatd/0.1.0 Welcome to mychat!'), '13:30 -- Connected to mychatd/0.1.0: Welcome to mychat!');
  t.is(show('OK JOIN #dev Now talking in #dev.'), '13:30 -- Now talking in #dev.');
  t.is(show('OK REPLAY on'), '13:30 -- OK REPLAY on', 'an OK without text still says what succeeded');
  t.is(show('PONG abc'), '13:30 -- pong abc');
  t.is(show('PONG'), '13:30 -- pong');
  t.is(show('ROOM #dev 3 Release planning'), '13:30 -- #dev: 3 members, topic: Release planning');
  t.is(show('ROOM #dev 1'), '13:30 -- #dev: 1 member, no topic');
  t.is(show('NAMES #dev alice bob'), '13:30 -- #dev: alice bob');
  t.is(show('NAMES * alice bob carol'), '13:30 -- online: alice bob carol');
  t.is(show('HELP join /join #ROOM - Join a room.'), '13:30 -- /join #ROOM - Join a room.');
  t.is(show('NOTICE Maintenance at noon.'), '13:30 -!- Maintenance at noon.');
  t.is(show('BYE Goodbye!'), '13:30 <-- Disconnected (Goodbye!)');
});

test('errors show their message and their code', (t) => {
  t.is(show('ERR NO_SUCH_NICK No one called carol is online.'), '13:30 !! No one called carol is online. [NO_SUCH_NICK]');
});

test('WHOIS shows rooms, the connection time in local time and idle time in words', (t) => {
  t.is(show('WHOIS bob rooms #dev #ops'), '13:30 -- bob is in #dev #ops');
  t.is(show('WHOIS bob rooms'), '13:30 -- bob is in no room');
  t.is(show('WHOIS bob connected 2026-03-10T06:00:00.000Z'), '13:30 -- bob connected at 11:30');
  t.is(show('WHOIS bob connected 2026-03-08T06:00:00.000Z'), '13:30 -- bob connected at 2026-03-08 11:30');
  t.is(show('WHOIS bob idle 200'), '13:30 -- bob has been idle 3m 20s');
  t.is(humanDuration(5), '5s');
  t.is(humanDuration(3 * 3600 + 120), '3h 2m');
  t.is(humanDuration(2 * 86_400 + 3600), '2d 1h');
});

test('history replays show the original time in local time, in brackets, instead of the arrival time', (t) => {
  t.is(show('HISTORY #dev 41 2026-03-10T07:15:00Z bob MSG earlier words'), '[12:45] #dev <bob> earlier words');
  t.is(show('HISTORY #dev 42 2026-03-10T07:16:00Z bob ACTION yawns'), '[12:46] #dev * bob yawns');
  t.is(show('HISTORY #dev 43 2026-03-10T07:17:00Z bob TOPIC Plans'), '[12:47] #dev bob changed the topic to: Plans');
  t.is(show('HISTORY #dev 44 2026-03-10T07:18:00Z bob TOPIC'), '[12:48] #dev bob cleared the topic');
  // 20:00 UTC on the 9th is 01:30 on the 10th locally: today. 18:00 UTC on the 9th is the 9th locally.
  t.is(show('HISTORY #dev 45 2026-03-09T20:00:00Z bob MSG just after midnight'), '[01:30] #dev <bob> just after midnight');
  t.is(show('HISTORY #dev 46 2026-03-09T18:00:00Z bob MSG yesterday'), '[2026-03-09 23:30] #dev <bob> yesterday');
  t.is(show('HISTEND #dev 1 Replayed the last 1; /history #dev for more.'), '-- #dev history: Replayed the last 1; /history #dev for more.');
  t.false(show('HISTORY #dev 41 2026-03-10T07:15:00Z bob MSG hi alice').includes('»'), 'old mentions are not flagged as new');
});

test('history lines are dim as a whole, so they stand apart from live chat', (t) => {
  const line = show('HISTORY #dev 41 2026-03-10T07:15:00Z bob MSG earlier words', colour);
  t.true(line.startsWith('\x1b[2m'), JSON.stringify(line));
  t.true(line.endsWith('\x1b[22m'), JSON.stringify(line));
  const live = show('MSG #dev bob live words', colour);
  t.true(live.startsWith('\x1b[2m13:30\x1b[22m '), 'a live line dims only its time');
});

test('unknown keywords and malformed history are shown as they came, not dropped', (t) => {
  t.is(show('FUTURE #dev something new'), '13:30 FUTURE #dev something new');
  t.is(show('HISTORY #dev 41 yesterday bob MSG hi'), 'HISTORY #dev 41 yesterday bob MSG hi');
  t.is(show('HISTORY #dev 41 2026-03-10T07:15:00Z bob POLL what now'), '[12:45] #dev bob POLL what now');
});

test('terminal controls in anything the server sends are made harmless', (t) => {
  const line = show('MSG #dev bob \x1b]52;c;ZXZpbA==\x07 \x1b[2J gotcha');
  t.false(line.includes('\x1b'), JSON.stringify(line));
  t.true(line.includes('␛]52;c;ZXZpbA==␇'));
  t.false(show('WEIRD \x1b[31mred').includes('\x1b'));
});

test('without colour no escape sequence is ever written', (t) => {
  for (const line of EVERY_KIND) t.false(show(line).includes('\x1b'), line);
  t.false(renderClientNotice('Reconnecting', plain).includes('\x1b'));
});

test('with colour the words are the same, only styled', (t) => {
  for (const line of EVERY_KIND) t.is(stripStyles(show(line, colour)), show(line), line);
});

test('errors are red and bold; private messages magenta; mentions get a yellow mark and the name reversed', (t) => {
  const err = show('ERR NICK_IN_USE The nickname bob is taken; pick another.', colour);
  t.true(sgr(err).includes('31') && sgr(err).includes('1'), JSON.stringify(err));
  const pm = show('PRIVMSG bob psst', colour);
  t.true(sgr(pm).includes('35'), JSON.stringify(pm));
  const mention = show('MSG #dev bob hey ALICE look', colour);
  t.true(mention.includes('\x1b[7mALICE\x1b[27m'), JSON.stringify(mention));
  t.true(mention.includes('\x1b[33m\x1b[1m»'), JSON.stringify(mention));
  t.false(sgr(show('MSG #dev bob no mention here', colour)).includes('7'));
});

test('a nickname always gets the same colour, ignoring case, and different people mostly differ', (t) => {
  const bob = show('MSG #dev bob hi', colour);
  const code = `\x1b[${nickColour('bob').on}m`;
  t.true(bob.includes(`${code}bob\x1b[39m`), JSON.stringify(bob));
  t.deepEqual(nickColour('Bob'), nickColour('bob'));
  t.true(show('JOIN #dev bob', colour).includes(`${code}bob`), 'the same colour in every kind of line');
  const names = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi', 'ivan', 'judy', 'mallory', 'oscar'];
  const used = new Set(names.map((n) => nickColour(n).on));
  t.true(used.size >= 6, `12 names use only ${used.size} colours`);
  for (const c of used) t.true(NICK_COLOURS.some((n) => n.on === c));
});

test('colour only on a terminal, and never with NO_COLOR or TERM=dumb', (t) => {
  t.true(colourWanted({}, true));
  t.false(colourWanted({}, false));
  t.false(colourWanted({ NO_COLOR: '1' }, true));
  t.true(colourWanted({ NO_COLOR: '' }, true), 'an empty NO_COLOR does not count (no-color.org)');
  t.false(colourWanted({ TERM: 'dumb' }, true));
});

test('client notices are set apart from server lines', (t) => {
  t.is(renderClientNotice('Connection lost; reconnecting in 0.5 s…', plain), '13:30 *** Connection lost; reconnecting in 0.5 s…');
});

test('a UTC time inside a reply\'s text is shown in local time, like every other time', (t) => {
  t.is(localTimes('Topic set by al at 2026-03-10T07:45:12.100Z.', NOW), 'Topic set by al at 13:15.');
  t.is(localTimes('since 2026-03-08T07:45:00Z', NOW), 'since 2026-03-08 13:15');
  t.is(show('OK TOPIC #dev Topic set by al at 2026-03-10T07:45:12.100Z.'), '13:30 -- Topic set by al at 13:15.');
  t.is(show('NOTICE Restart at 2026-03-10T09:00:00Z'), '13:30 -!- Restart at 14:30');
});

test('messages count as unread and mentions; private messages always mention; a paste block counts once', (t) => {
  const weight = (text: string) => lineWeight(parseServerLine(text)!, 'alice');
  t.deepEqual(weight('MSG #dev bob hello'), { message: true, mention: false });
  t.deepEqual(weight('MSG #dev bob hello Alice!'), { message: true, mention: true });
  t.deepEqual(weight('ACTION #dev bob pokes alice'), { message: true, mention: true });
  t.deepEqual(weight('PRIVMSG bob psst'), { message: true, mention: true });
  t.deepEqual(weight('PASTE #dev bob 7 1/2 first'), { message: true, mention: false });
  t.deepEqual(weight('PASTE #dev bob 7 2/2 second'), { message: false, mention: false });
  t.deepEqual(weight('JOIN #dev bob'), { message: false, mention: false });
  t.deepEqual(weight('HISTORY #dev 4 2026-03-10T07:00:00Z bob MSG alice?'), { message: false, mention: false });
});
