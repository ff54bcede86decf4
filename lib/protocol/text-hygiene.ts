import { LIMITS } from './limits';

/*
 * Everything one user sends is shown on other people's terminals, so nothing in it may act as a
 * terminal control. Rather than delete such characters (which hides what was sent) we make them
 * visible and inert: C0 controls and DEL become their Unicode "control picture" (ESC shows as ␛,
 * so an escape or OSC 52 sequence arrives as harmless text), C1 controls and bidi overrides become
 * U+FFFD, a tab becomes a space, and line/paragraph separators become spaces.
 */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/gu;

function replaceUnsafe(ch: string): string {
  const c = ch.charCodeAt(0);
  if (c === 0x09 || c === 0x2028 || c === 0x2029) return ' ';
  if (c < 0x20) return String.fromCharCode(0x2400 + c);
  if (c === 0x7f) return '\u2421';
  return '\ufffd';
}

/** Returns `text` with every terminal-control character neutralised (see the comment above). */
export function neutralise(text: string): string {
  return text.replace(UNSAFE, replaceUnsafe);
}

/** True if `text` contains a character that `neutralise` would change. */
export function hasUnsafe(text: string): boolean {
  UNSAFE.lastIndex = 0;
  const found = UNSAFE.test(text);
  UNSAFE.lastIndex = 0;
  return found;
}

/** Length in Unicode code points, which is what users count and our limits are stated in. */
export function codePoints(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) i++;
    n++;
  }
  return n;
}

// Combining marks (\p{M}) may follow the first letter: scripts such as Devanagari need them.
const NICK = /^\p{L}[\p{L}\p{M}\p{N}_-]*$/u;
const ROOM = /^#[\p{L}\p{N}_-][\p{L}\p{M}\p{N}_-]*$/u;

/** Why a proposed name was refused, or undefined if it is acceptable. */
export type NameProblem = string | undefined;

/** Normalises a proposed nickname to NFC; validation and folding work on the result. */
export function normaliseName(raw: string): string {
  return raw.normalize('NFC');
}

/**
 * Key under which nicknames and room names are unique: NFKC (so full-width or ligature look-alikes
 * collide) and full case folding (upper then lower case, so "straße" and "STRASSE" collide too).
 */
export function foldName(name: string): string {
  return name.normalize('NFKC').toUpperCase().toLowerCase().normalize('NFKC');
}

/** Checks the shape of a normalised nickname (length and allowed characters); returns a human reason when it fails. */
export function nickShapeProblem(nick: string): NameProblem {
  const length = codePoints(nick);
  if (length === 0) return 'a nickname cannot be empty';
  if (length > LIMITS.maxNickLength) return `a nickname has at most ${LIMITS.maxNickLength} characters`;
  if (!NICK.test(nick)) return 'a nickname starts with a letter and has only letters, digits, _ and -';
  return undefined;
}

/** Checks a normalised nickname against every documented rule (shape, then look); returns a human reason when it fails. */
export function nickProblem(nick: string): NameProblem {
  return nickShapeProblem(nick) ?? lookProblem(nick, 'a nickname', /\p{L}/u, 'letter');
}

/** Checks the shape of a normalised room name (the #, length and allowed characters); returns a human reason when it fails. */
export function roomShapeProblem(room: string): NameProblem {
  if (!room.startsWith('#')) return 'a room name starts with #';
  const length = codePoints(room) - 1;
  if (length === 0 || length > LIMITS.maxRoomNameLength) return `a room name is # plus 1 to ${LIMITS.maxRoomNameLength} characters`;
  if (!ROOM.test(room)) return 'a room name has only letters, digits, _ and - after the #';
  return undefined;
}

/** Checks a normalised room name against every documented rule (shape, then look); returns a human reason when it fails. */
export function roomProblem(room: string): NameProblem {
  return roomShapeProblem(room) ?? lookProblem(room.slice(1), 'a room name', /[\p{L}\p{N}]/u, 'letter or digit');
}

// ---- look-alike names (Unicode Technical Standard #39) ----

/**
 * Unicode's confusable prototypes (confusables.txt of UTS #39: each source character and the string it
 * looks like) as shipped in the `unhomoglyph` package's data.json; README's design section says why.
 */
let prototypes: ReadonlyMap<string, string> | undefined;

/** The prototype map, read on first use so that programs which never compare names (the client's pipe mode) do not pay for it. */
function confusablePrototypes(): ReadonlyMap<string, string> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  prototypes ??= new Map(Object.entries(require('unhomoglyph/data.json') as Record<string, string>));
  return prototypes;
}

const IGNORABLE = /\p{Default_Ignorable_Code_Point}/gu;

/**
 * Characters that show as nothing: every default-ignorable code point (joiners, variation selectors,
 * U+034F, Mongolian FVS, Hangul fillers such as U+3164 and U+115F, tags…) plus blank symbols that are
 * not default-ignorable (U+2800 BRAILLE PATTERN BLANK).
 */
const INVISIBLE = /[\p{Default_Ignorable_Code_Point}\u2800]/u;

/**
 * The UTS #39 skeleton of `text`: NFD, default-ignorable characters removed, each character replaced by
 * its confusable prototype, NFD again. Two strings that look alike have the same skeleton.
 */
export function skeleton(text: string): string {
  const map = confusablePrototypes();
  let out = '';
  for (const ch of text.normalize('NFD').replace(IGNORABLE, '')) out += map.get(ch) ?? ch;
  return out.normalize('NFD');
}

/**
 * Key under which nicknames and room names are unique (and rooms are stored): the skeleton of the
 * case-folded name, so case variants, NFKC variants and look-alikes in any case share it.
 */
export function nameKey(name: string): string {
  return skeleton(foldName(name));
}

/**
 * Every key a name claims. Besides nameKey there is the case-folded skeleton of the name as written:
 * a capital I folds to i but looks like l, so "aIice" must also claim the key of "alice" (and "0" looks
 * like a capital O). Two names clash when their lists share a key.
 */
export function lookKeys(name: string): string[] {
  const key = nameKey(name);
  const seen = skeleton(foldName(skeleton(name)));
  return seen === key ? [key] : [key, seen];
}

/** Every script with a Unicode short name, as JS regular expressions on Script_Extensions (names the engine lacks are left out). */
const SCRIPT_NAMES = (
  'Adlm Aghb Ahom Arab Armi Armn Avst Bali Bamu Bass Batk Beng Berf Bhks Bopo Brah Brai Bugi Buhd Cakm Cans Cari Cham Cher ' +
  'Chrs Copt Cpmn Cprt Cyrl Deva Diak Dogr Dsrt Dupl Egyp Elba Elym Ethi Gara Geor Glag Gong Gonm Goth Gran Grek Gujr Gukh ' +
  'Guru Hang Hani Hano Hatr Hebr Hira Hluw Hmng Hmnp Hung Ital Java Kali Kana Kawi Khar Khmr Khoj Kits Knda Krai Kthi Lana ' +
  'Laoo Latn Lepc Limb Lina Linb Lisu Lyci Lydi Mahj Maka Mand Mani Marc Medf Mend Merc Mero Mlym Modi Mong Mroo Mtei Mult ' +
  'Mymr Nagm Nand Narb Nbat Newa Nkoo Nshu Ogam Olck Onao Orkh Orya Osge Osma Ougr Palm Pauc Perm Phag Phli Phlp Phnx Plrd ' +
  'Prti Rjng Rohg Runr Samr Sarb Saur Sgnw Shaw Shrd Sidd Sidt Sind Sinh Sogd Sogo Sora Soyo Sund Sunu Sylo Syrc Tagb Takr ' +
  'Tale Talu Taml Tang Tavt Tayo Telu Tfng Tglg Thaa Thai Tibt Tirh Tnsa Todr Tols Toto Tutg Ugar Vaii Vith Wara Wcho Xpeo ' +
  'Xsux Yezi Yiii Zanb'
).split(' ');

const SCRIPTS = new Map<string, RegExp>();
for (const name of SCRIPT_NAMES) {
  try {
    SCRIPTS.set(name, new RegExp(`\\p{Script_Extensions=${name}}`, 'u'));
  } catch {
    // A script newer than this Node's Unicode data: its letters have no script here, so they mix with nothing.
  }
}
// UTS #39 augments Han with the scripts written alongside it, so Japanese (Han + kana) and Korean
// (Han + Hangul) names are single-script.
SCRIPTS.set('Hanb', /[\p{Script_Extensions=Hani}\p{Script_Extensions=Bopo}]/u);
SCRIPTS.set('Jpan', /[\p{Script_Extensions=Hani}\p{Script_Extensions=Hira}\p{Script_Extensions=Kana}]/u);
SCRIPTS.set('Kore', /[\p{Script_Extensions=Hani}\p{Script_Extensions=Hang}]/u);

/** Characters used with every script (digits, _, -, combining marks that inherit their base's script). */
const ANY_SCRIPT = /[\p{Script_Extensions=Common}\p{Script_Extensions=Inherited}]/u;

/** Scripts found for recent first letters: testing a letter against every script is the costly step of a name check. */
const scriptCache = new Map<string, readonly string[]>();
const SCRIPT_CACHE_SIZE = 1024;

/** Every script (augmented as in UTS #39) whose Script_Extensions include `ch`. */
function scriptsOf(ch: string): readonly string[] {
  let found = scriptCache.get(ch);
  if (found === undefined) {
    found = [...SCRIPTS].filter(([, pattern]) => pattern.test(ch)).map(([name]) => name);
    // A letter of a script this engine does not know: alone it is fine, with any other letter it mixes.
    if (found.length === 0) found = [`U+${ch.codePointAt(0)!.toString(16)}`];
    if (scriptCache.size >= SCRIPT_CACHE_SIZE) scriptCache.clear();
    scriptCache.set(ch, found);
  }
  return found;
}

/**
 * The first letter of `text` and the first one that shares no script with the letters before it, or
 * undefined when every letter shares one (UTS #39: the resolved script set is not empty).
 */
function firstScriptClash(text: string): [string, string] | undefined {
  let scripts: Set<string> | undefined;
  let first = '';
  for (const ch of text) {
    if (ANY_SCRIPT.test(ch)) continue;
    if (scripts === undefined) {
      first = ch;
      scripts = new Set(scriptsOf(ch));
      continue;
    }
    for (const name of scripts) if (!SCRIPTS.get(name)?.test(ch)) scripts.delete(name);
    if (scripts.size === 0) return [first, ch];
  }
  return undefined;
}

const LATIN = /\p{Script_Extensions=Latn}/u;
const CJK = ['Hanb', 'Jpan', 'Kore'];

/**
 * When `text` mixes scripts beyond what UTS #39's "Highly Restrictive" level allows (one script, or
 * Latin with Chinese, Japanese or Korean writing, as in Zoë_名前), two letters from different scripts;
 * otherwise undefined. So Latin with Cyrillic or Greek is refused.
 */
export function mixedScripts(text: string): [string, string] | undefined {
  const clash = firstScriptClash(text);
  if (clash === undefined) return undefined;
  const others = [...text].filter((ch) => !ANY_SCRIPT.test(ch) && !LATIN.test(ch));
  if (CJK.some((name) => others.every((ch) => SCRIPTS.get(name)!.test(ch)))) return undefined;
  return clash;
}

/** "U+034F": how a character is named in messages, since an invisible one cannot be shown. */
function codePointName(ch: string): string {
  return `U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * The look rules shared by nicknames and room names: nothing invisible, one script only, and at least one
 * visible `needs` character (a letter for nicknames). `what` starts the reason ("a nickname").
 */
function lookProblem(name: string, what: string, needs: RegExp, needsWord: string): NameProblem {
  const hidden = INVISIBLE.exec(name);
  if (hidden) return `${what} cannot contain invisible characters (it has ${codePointName(hidden[0])})`;
  const mixed = mixedScripts(name);
  if (mixed !== undefined) {
    const [a, b] = mixed.map((ch) => `${ch} (${codePointName(ch)})`);
    return `${what} cannot mix scripts, such as Latin and Cyrillic: ${a} and ${b} are from different scripts`;
  }
  if (!needs.test(name)) return `${what} needs at least one visible ${needsWord}`;
  return undefined;
}
