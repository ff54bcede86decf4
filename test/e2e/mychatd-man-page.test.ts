import test from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { DAEMON_JS } from '../helpers/daemon';
import { findBinary } from '../helpers/terminal';

const PAGE = path.join(__dirname, '..', '..', 'man', 'mychatd.8');

function requireTools(...names: string[]): void {
  const missing = names.filter((name) => findBinary(name) === undefined);
  if (missing.length > 0) throw new Error(`needs ${missing.join(', ')} on PATH (${process.env.CI ? 'CI' : 'local run'}): install mandoc and groff-base`);
}

test('mychatd(8) is clean under mandoc -T lint -W warning and groff -ww', (t) => {
  requireTools('mandoc', 'groff');
  const mandoc = spawnSync('mandoc', ['-T', 'lint', '-W', 'warning', PAGE], { encoding: 'utf8', timeout: 10_000 });
  t.is(mandoc.stdout + mandoc.stderr, '');
  t.is(mandoc.status, 0);
  const groff = spawnSync('groff', ['-ww', '-z', '-man', PAGE], { encoding: 'utf8', timeout: 10_000 });
  t.is(groff.stderr, '', 'groff always exits 0; its warnings go to stderr');
});

test('mychatd(8) documents every option --help lists, the signals and the exit statuses', (t) => {
  const help = spawnSync(process.execPath, [DAEMON_JS, '--help'], { encoding: 'utf8', timeout: 10_000 });
  const options = [...help.stdout.matchAll(/^\s+(?:-\w, )?(--[a-z-]+)/gm)].map((m) => m[1]!);
  t.true(options.length >= 17, `--help lists the options: ${options.join(' ')}`);
  // In roff source, each dash of an option is written \-.
  const page = fs.readFileSync(PAGE, 'utf8').replace(/\\-/g, '-');
  for (const option of options) t.true(page.includes(`.BI ${option} `) || page.includes(`.BR ${option}`) || page.includes(`, " ${option}`), `${option} has an entry`);
  for (const section of ['SYNOPSIS', 'OPTIONS', 'CONFIGURATION FILE', 'SIGNALS', 'ENVIRONMENT', 'FILES', 'SYSTEMD', 'EXIT STATUS', 'EXAMPLES']) {
    t.regex(page, new RegExp(`^\\.SH ${section}$`, 'm'));
  }
  for (const word of ['SIGHUP', 'SIGTERM', 'LISTEN_FDS', 'NOTIFY_SOCKET', 'JOURNAL_STREAM', 'mychatd.socket', '/etc/mychat/mychatd.conf']) t.true(page.includes(word), word);
  for (const status of ['0', '1', '2', '70']) t.regex(page, new RegExp(`^\\.TP\\n\\.B ${status}\\n`, 'm'), `exit status ${status}`);
});
