import test from 'ava';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ERROR_CODES } from '../../lib/protocol/errors';
import { KEYWORDS } from '../../lib/protocol/server-lines';

/*
 * Every page in man/ must be clean under both formatters people will use: mandoc's linter at warning
 * level and groff with all warnings. The pages are hand-written roff, so this is their compiler.
 * The tools are required, never skipped: a missing tool fails the test (in CI and locally alike).
 */

const MAN_DIR = path.join(__dirname, '..', '..', 'man');
const PROTOCOL_PAGE = path.join(MAN_DIR, 'mychat-protocol.7');

/** Every man page in man/: files named NAME.SECTION, section 1-9 with an optional suffix (e.g. 3p). */
function manPages(): string[] {
  return fs
    .readdirSync(MAN_DIR)
    .filter((name) => /\.[1-9][a-z]*$/.test(name))
    .sort()
    .map((name) => path.join(MAN_DIR, name));
}

/** Runs a formatter, failing with an install hint when it is not on PATH. */
function run(tool: 'mandoc' | 'groff', args: string[]): SpawnSyncReturns<string> {
  const result = spawnSync(tool, args, { encoding: 'utf8', timeout: 20_000 });
  const error = result.error as NodeJS.ErrnoException | undefined;
  if (error?.code === 'ENOENT') {
    const where = process.env.CI ? 'CI must provide it' : 'install it to run this test';
    throw new Error(`${tool} is not installed (${where}): on Debian, apt-get install mandoc groff-base`);
  }
  if (error) throw error;
  return result;
}

test('man/ holds the protocol page', (t) => {
  const pages = manPages();
  t.true(pages.includes(PROTOCOL_PAGE), `pages found: ${pages.map((p) => path.basename(p)).join(', ')}`);
});

for (const page of manPages()) {
  const name = path.relative(path.join(MAN_DIR, '..'), page);

  test(`${name} is clean under mandoc -T lint -W warning`, (t) => {
    const result = run('mandoc', ['-T', 'lint', '-W', 'warning', page]);
    t.is(result.stdout + result.stderr, '', 'mandoc reports nothing');
    t.is(result.status, 0, 'mandoc exits 0');
  });

  test(`${name} is clean under groff -ww -z -man`, (t) => {
    const result = run('groff', ['-ww', '-z', '-man', page]);
    // groff exits 0 even when it warns: its warnings go to stderr.
    t.is(result.stderr, '', 'groff warns about nothing');
    t.is(result.status, 0, 'groff exits 0');
  });
}

/** The page's source with roff escapes for '-' undone, so names like NO_SUCH_NICK read as in the code. */
function protocolSource(): string {
  return fs.readFileSync(PROTOCOL_PAGE, 'utf8').replace(/\\-/g, '-');
}

test('the protocol page documents every error code in lib/protocol/errors.ts', (t) => {
  const page = protocolSource();
  t.true(ERROR_CODES.length > 0);
  const missing = ERROR_CODES.filter((code) => !new RegExp(`(^|[^A-Z_])${code}([^A-Z_]|$)`, 'm').test(page));
  t.deepEqual(missing, [], 'error codes missing from man/mychat-protocol.7');
  // Each code has its own entry in the ERRORS section.
  const errors = page.slice(page.indexOf('\n.SH ERRORS\n'), page.indexOf('\n.SH LIMITS\n'));
  t.true(errors.length > 0, 'the page has an ERRORS section followed by LIMITS');
  const unlisted = ERROR_CODES.filter((code) => !errors.includes(`\n.TP\n.B ${code}\n`));
  t.deepEqual(unlisted, [], 'error codes without an entry under ERRORS');
});

test('the protocol page documents every server line keyword in lib/protocol/server-lines.ts', (t) => {
  const page = protocolSource();
  t.true(KEYWORDS.length > 0);
  // Each keyword has its own entry (".TP" then the keyword in bold) under SERVER LINES.
  const lines = page.slice(page.indexOf('\n.SH SERVER LINES\n'), page.indexOf('\n.SH ERRORS\n'));
  t.true(lines.length > 0, 'the page has a SERVER LINES section followed by ERRORS');
  const missing = KEYWORDS.filter((keyword) => !lines.includes(`\n.TP\n\\fB${keyword}\\fP`));
  t.deepEqual(missing, [], 'keywords without an entry under SERVER LINES');
});
