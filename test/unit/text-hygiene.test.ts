import test from 'ava';
import { codePoints, foldName, hasUnsafe, lookKeys, nameKey, neutralise, nickProblem, normaliseName, roomProblem, skeleton } from '../../lib/protocol/text-hygiene';

// ---- neutralise ----

test('plain text, accents, CJK and emoji pass through unchanged', (t) => {
  for (const s of ['hello world', 'Zoë says: ¡hola!', '名前は何ですか', 'nice 😀👍🏽 family 👨‍👩‍👧', '']) {
    t.is(neutralise(s), s);
    t.false(hasUnsafe(s), s);
  }
});

test('a tab becomes a space', (t) => {
  t.is(neutralise('a\tb'), 'a b');
});

test('ESC becomes the visible ␛, so an OSC 52 clipboard-write sequence is inert', (t) => {
  const osc52 = '\x1b]52;c;SGVsbG8=\x07';
  const out = neutralise(osc52);
  t.is(out, '␛]52;c;SGVsbG8=␇');
  t.false(out.includes('\x1b'));
  t.false(out.includes('\x07'));
  t.false(hasUnsafe(out));
  t.true(hasUnsafe(osc52));
});

test('a colour escape sequence is shown, not executed', (t) => {
  t.is(neutralise('\x1b[31mred\x1b[0m'), '␛[31mred␛[0m');
});

test('other C0 controls become their control pictures', (t) => {
  t.is(neutralise('a\x00b\x01c\rd\x08e'), 'a␀b␁c␍d␈e');
});

test('DEL becomes U+2421', (t) => {
  t.is(neutralise('x\x7fy'), 'x\u2421y');
});

test('the C1 control CSI (U+009B) becomes U+FFFD', (t) => {
  t.is(neutralise('a\u009b31mb'), 'a\ufffd31mb');
  t.is(neutralise('\u0080\u0085\u009f'), '\ufffd\ufffd\ufffd');
});

test('bidi overrides and isolates (U+202A-E, U+2066-9) become U+FFFD', (t) => {
  t.is(neutralise('abc\u202Edef'), 'abc\ufffddef');
  t.is(neutralise('x\u2066y\u2069z'), 'x\ufffdy\ufffdz');
  t.is(neutralise('\u202A\u202B\u202C\u202D'), '\ufffd'.repeat(4));
});

test('line and paragraph separators become spaces', (t) => {
  t.is(neutralise('one\u2028two\u2029three'), 'one two three');
});

test('neutralise is idempotent and its output is always safe', (t) => {
  const nasty = '\x1b]0;title\x07\u202e\u009b\x7f\t\u2028end';
  const once = neutralise(nasty);
  t.is(neutralise(once), once);
  t.false(hasUnsafe(once));
});

test('hasUnsafe gives the same answer when called repeatedly (no regex lastIndex leak)', (t) => {
  for (let i = 0; i < 3; i++) {
    t.true(hasUnsafe('a\x1bb'));
    t.false(hasUnsafe('ab'));
  }
});

// ---- names ----

test('nickProblem accepts the documented nicknames', (t) => {
  for (const nick of ['a', 'Alice', 'bob_2', 'x-y', 'Zoë', '名前', 'Ωμέγα', 'Наташа', 'a'.repeat(24), 'é'.repeat(24)]) {
    t.is(nickProblem(normaliseName(nick)), undefined, nick);
  }
});

test('nickProblem rejects empty, too long, digit-first, spaces, punctuation, controls and emoji', (t) => {
  const bad = ['', 'a'.repeat(25), '1abc', '_abc', '-abc', 'Al ice', 'al!ce', 'bob\x1b', 'bob\t', '😀', 'bob😀', '#room'];
  for (const nick of bad) {
    const problem = nickProblem(normaliseName(nick));
    t.is(typeof problem, 'string', JSON.stringify(nick));
    t.true(problem!.length > 0);
  }
});

test('nickProblem counts code points, not UTF-16 units or bytes', (t) => {
  // 24 astral letters (2 UTF-16 units each) are 24 characters: accepted; 25 are not.
  const astral = '\u{1D400}'; // MATHEMATICAL BOLD CAPITAL A, a letter
  t.is(nickProblem(astral.repeat(24)), undefined);
  t.regex(nickProblem(astral.repeat(25)) ?? '', /24/);
});

test('a nickname typed in decomposed form (NFD) is accepted once normalised', (t) => {
  t.is(nickProblem(normaliseName('Zoe\u0308')), undefined);
  t.is(normaliseName('Zoe\u0308'), 'Zoë');
});

test('roomProblem accepts # plus 1 to 32 letters, digits, _ and -', (t) => {
  for (const room of ['#a', '#lobby', '#1', '#rust-lang', '#room_2', '#Café', '#名前', '#' + 'r'.repeat(32)]) {
    t.is(roomProblem(normaliseName(room)), undefined, room);
  }
});

test('roomProblem rejects a missing #, an empty name, 33 characters, spaces and other characters', (t) => {
  for (const room of ['lobby', '#', '', '#' + 'r'.repeat(33), '#a b', '##x', '#a,b', '#a\x07', '#😀']) {
    t.is(typeof roomProblem(normaliseName(room)), 'string', JSON.stringify(room));
  }
});

test('foldName makes Alice, ALICE and alice one name', (t) => {
  t.is(foldName('Alice'), foldName('ALICE'));
  t.is(foldName('alice'), foldName('ALICE'));
  t.not(foldName('Alice'), foldName('Alicia'));
  t.is(foldName('#Lobby'), foldName('#LOBBY'));
});

test('foldName makes composed and decomposed forms one name', (t) => {
  t.is(foldName('Zo\u00eb'), foldName('Zoe\u0308'));
  t.is(foldName('ZOË'), foldName('zoe\u0308'));
});

test('codePoints counts astral characters as one', (t) => {
  t.is(codePoints(''), 0);
  t.is(codePoints('abc'), 3);
  t.is(codePoints('é€'), 2);
  t.is(codePoints('😀'), 1);
  t.is(codePoints('a😀b😀'), 4);
  t.is('😀'.length, 2);
});

test('look-alike names collide: full case folding and compatibility forms', (t) => {
  t.is(foldName('straße'), foldName('STRASSE'));
  t.is(foldName('ａｌｉｃｅ'), foldName('alice'), 'full-width letters');
  t.is(foldName('ﬁsh'), foldName('fish'), 'ligature');
  t.not(foldName('alice'), foldName('alicia'));
});

test('names in scripts that need combining marks are accepted, but not starting with one', (t) => {
  t.is(nickProblem(normaliseName('हिन्दी')), undefined);
  t.is(roomProblem(normaliseName('#தமிழ்')), undefined);
  t.not(nickProblem('\u0301abc'), undefined);
});

// ---- look-alike names (UTS #39) ----

/** True when two names may not coexist: their lookKeys meet. */
const clash = (a: string, b: string): boolean => lookKeys(normaliseName(a)).some((key) => lookKeys(normaliseName(b)).includes(key));

test('every look-alike of alice seen in the wild clashes with alice: Cyrillic, Greek, ɑ, capital I, invisible suffixes', (t) => {
  const lookAlikes = {
    'Cyrillic а': '\u0430lice',
    'Cyrillic е': 'alic\u0435',
    'Cyrillic і': 'al\u0456ce',
    'Greek Α': '\u0391lice',
    'Latin alpha ɑ': '\u0251lice',
    'capital I for l': 'aIice',
    'capital A and I': 'AIice',
    'U+034F suffix': 'alice\u034f',
    'U+FE0F suffix': 'alice\ufe0f',
    'U+180B suffix': 'alice\u180b',
    'full-width': 'ａｌｉｃｅ',
    'upper case': 'ALICE',
  };
  for (const [what, name] of Object.entries(lookAlikes)) t.true(clash(name, 'alice'), what);
  t.is(nameKey('\u0430lice'), nameKey('alice'), 'the room/storage key is the same too');
});

test('lookKeys keep different names apart (alicia, ian and lan) but join visual twins (Ian and lan, rn and m, O0 and oo)', (t) => {
  t.false(clash('alicia', 'alice'));
  t.false(clash('ian', 'lan'), 'lowercase i and l look different');
  t.true(clash('Ian', 'lan'), 'but a capital I looks like l');
  t.true(clash('rn', 'm'), 'r followed by n looks like m');
  t.true(clash('O0', 'oo'), 'zero looks like a capital O');
});

test('skeleton follows UTS #39: ignorables vanish, prototypes replace characters', (t) => {
  t.is(skeleton('a\u034fb'), 'ab');
  t.is(skeleton('\u0430'), 'a');
  t.is(skeleton('m'), 'rn');
  t.is(skeleton('\u3164'), '', 'a Hangul filler is default-ignorable');
});

test('a nickname or room name may not mix scripts; digits, _ and - go with any script, and Latin, Chinese, Japanese and Korean mix (UTS #39 Highly Restrictive)', (t) => {
  for (const nick of ['\u0430lice', 'alic\u0435', '\u0391lice', 'Ωmega', 'Вasya', 'Zoë名Вася', 'abc한국ひら']) t.regex(nickProblem(normaliseName(nick)) ?? '', /cannot mix scripts/, nick);
  t.regex(nickProblem('\u0430lice') ?? '', /а \(U\+0430\) and l \(U\+006C\)/, 'the reason names the two letters');
  for (const nick of ['Вася_2', 'Наташа', 'Ωμέγα-7', '山田たろう', 'ヤマダ太郎', '김철수漢', 'हिन्दी', 'ɑlpha', 'Zoë_名前', 'Kim한국', 'Taroたろう漢']) t.is(nickProblem(normaliseName(nick)), undefined, nick);
  t.regex(roomProblem('#t\u0435am') ?? '', /cannot mix scripts/);
  t.is(roomProblem('#команда'), undefined);
});

test('invisible characters are refused in nicknames and room names, and a name needs something visible', (t) => {
  for (const nick of ['alice\u034f', 'alice\ufe0f', 'alice\u180b', '\u3164', '\u3164\u3164', '\u115fbob', 'bob\u1160', 'bob\uffa0', 'bo\u17b4b']) {
    t.regex(nickProblem(normaliseName(nick)) ?? '', /invisible characters \(it has U\+[0-9A-F]{4}\)/, JSON.stringify(nick));
  }
  t.regex(nickProblem('alice\u034f') ?? '', /U\+034F/);
  t.regex(roomProblem('#lobby\u034f') ?? '', /invisible/);
  t.regex(roomProblem('#\u3164') ?? '', /invisible/);
  t.regex(roomProblem('#_') ?? '', /needs at least one visible letter or digit/);
  t.regex(roomProblem('#-_-') ?? '', /needs at least one visible letter or digit/);
  t.is(roomProblem('#1'), undefined);
});
