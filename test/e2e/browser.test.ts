import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import test from 'ava';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { CONTENT_SECURITY_POLICY } from '../../lib/transport/websocket/websocket-door';
import { scratchDir, startDaemon, type Daemon } from '../helpers/daemon';
import { freePort } from '../helpers/mychat-client';
import { ROOT } from '../helpers/runtime';
import { findBinary, pollUntil, requireBinaries } from '../helpers/terminal';

/*
 * The browser client (mychatd --web-port serves it at /) driven in Debian's real Chromium through
 * playwright-core, next to real `nc` users in the same rooms. One browser for the whole file, a fresh
 * context (empty profile) per test. Screenshots of the main states go to test-artifacts/browser/.
 */

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = path.join(ROOT, 'test-artifacts', 'browser');
const T = 10_000;

let browser: Browser | undefined;
const daemons: Daemon[] = [];
const children: ChildProcess[] = [];
const contexts: BrowserContext[] = [];

test.before(async () => {
  if (findBinary(path.basename(CHROMIUM)) === undefined && findBinary(CHROMIUM) === undefined) {
    throw new Error(`the browser tests need Chromium at ${CHROMIUM} (Debian package chromium; .ci/run installs it). They fail rather than skip.`);
  }
  mkdirSync(ARTIFACTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

test.after.always(async () => {
  for (const context of contexts) await context.close().catch(() => undefined);
  await browser?.close();
  for (const child of children) child.kill('SIGKILL');
  await Promise.all(daemons.map((d) => d.stop('SIGKILL')));
});

/** A daemon with the web door; resolves with its web port. */
async function webDaemon(extra: string[] = []): Promise<{ daemon: Daemon; webPort: number }> {
  const daemon = await startDaemon(['--web-port', '0', ...extra]);
  daemons.push(daemon);
  const { match } = await daemon.waitForLog(/ listening .*port=(\d+) web=true/);
  return { daemon, webPort: Number(match[1]) };
}

/** A new page (empty profile) on the client served by `webPort`, its page errors collected. */
async function openPage(webPort: number, viewport = { width: 1100, height: 700 }): Promise<{ page: Page; errors: string[] }> {
  const context = await browser!.newContext({ viewport, colorScheme: 'light' });
  contexts.push(context);
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  await page.goto(`http://127.0.0.1:${webPort}/`);
  return { page, errors };
}

/** Types a nickname into the prompt and waits for the chat (or returns the error the page shows). */
async function registerAs(page: Page, nick: string): Promise<void> {
  // As a person would: type once the page's script is running (the button is disabled until then).
  await page.locator('#login-button:enabled').waitFor({ timeout: T });
  await page.locator('#nick').fill(nick);
  await page.locator('#nick').press('Enter');
  await page.locator('#app').waitFor({ state: 'visible', timeout: T }).catch(async (error: Error) => {
    // Say what the page showed instead (a refusal, a connection message), not only that the chat did not open.
    throw new Error(`${error.message}\nthe page showed: ${JSON.stringify(await page.locator('body').innerText())}`);
  });
  await page.locator('#status', { hasText: nick }).waitFor({ timeout: T });
}

/** Types a line into the message input and sends it with Enter. */
async function say(page: Page, text: string): Promise<void> {
  await page.locator('#input').fill(text);
  await page.locator('#input').press('Enter');
}

/** The conversation list's button for `name` ('#dev', '@bob'). */
const conv = (page: Page, name: string) => page.locator('#conversations .conv', { has: page.locator('.name', { hasText: new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) }) });

/** Waits until the message pane shows an entry containing `text`. */
const entry = (page: Page, text: string) => page.locator('#entries .entry', { hasText: text });

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`) });
}

/** A real `nc` process (OpenBSD netcat) as a chat user. */
function nc(port: number): { write(text: string): void; lines(): string[]; waitForLine(m: string | RegExp): Promise<string> } {
  const proc = spawn('nc', ['-N', '127.0.0.1', String(port)], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(proc);
  let out = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  proc.stdin!.on('error', () => undefined);
  const lines = (): string[] => out.split('\r\n').slice(0, -1);
  return {
    write: (text) => proc.stdin!.write(text),
    lines,
    waitForLine: (m) =>
      pollUntil(
        () => lines().find((line) => (typeof m === 'string' ? line === m : m.test(line))),
        () => `nc never printed a line matching ${String(m)}; stdout: ${JSON.stringify(out.slice(-2000))}`,
      ),
  };
}

async function ncUser(port: number, nick: string): Promise<ReturnType<typeof nc>> {
  const user = nc(port);
  await user.waitForLine(/^HELLO /);
  user.write(`${nick}\r\n`);
  await user.waitForLine('OK JOIN #lobby Now talking in #lobby.');
  return user;
}

/** One HTTP GET; the body is decoded from gzip when the server sent it so, and `wire` is what crossed the network. */
function get(port: number, urlPath: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string; wire: number }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: urlPath, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => {
        const raw = Buffer.concat(chunks);
        const body = res.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: body.toString('utf8'), wire: raw.length });
      });
    });
    req.on('error', reject);
    req.setTimeout(T, () => req.destroy(new Error('timeout')));
    req.end();
  });
}

test.serial('the first load is under 100 KB compressed, every answer carries the security headers, and a page of another origin cannot connect', async (t) => {
  const { daemon, webPort } = await webDaemon();
  const page = await get(webPort, '/', { 'Accept-Encoding': 'gzip, deflate, br' });
  t.is(page.status, 200);
  t.regex(page.headers['content-type'] ?? '', /^text\/html; charset=utf-8/);
  t.is(page.headers['content-encoding'], 'gzip');
  t.true(page.body.includes(`port ${daemon.port} of this server`), 'the page names the plain chat port for people without JavaScript');
  const assets = [...page.body.matchAll(/(?:src|href)="([^"#:]+)"/g)].map((m) => '/' + m[1]!);
  t.deepEqual(assets.sort(), ['/app.css', '/app.js', '/icon.svg']);
  let total = page.wire;
  for (const asset of assets) {
    const answer = await get(webPort, asset, { 'Accept-Encoding': 'gzip' });
    t.is(answer.status, 200, asset);
    total += answer.wire;
  }
  t.log(`first load (/ and ${assets.join(', ')}), gzip: ${total} bytes (${(total / 1024).toFixed(1)} KiB); target < 100 KB`);
  t.true(total < 100_000, `first load is ${total} bytes compressed`);

  const answers = [
    page,
    await get(webPort, '/app.js'),
    await get(webPort, '/no-such-file'),
    await get(webPort, '/../package.json'),
    await get(webPort, '/', {}, 'POST'),
    await get(webPort, '/app.js', { 'If-None-Match': String((await get(webPort, '/app.js')).headers.etag) }),
  ];
  t.deepEqual(
    answers.map((a) => a.status),
    [200, 200, 404, 404, 405, 304],
  );
  for (const answer of answers) {
    t.is(answer.headers['content-security-policy'], CONTENT_SECURITY_POLICY);
    t.is(answer.headers['x-content-type-options'], 'nosniff');
    t.is(answer.headers['referrer-policy'], 'no-referrer');
  }
  t.regex(CONTENT_SECURITY_POLICY, /^default-src 'self';/);
  t.notRegex(CONTENT_SECURITY_POLICY, /unsafe|\*|https?:/);

  // In the browser: a page of another origin (another port) cannot open the chat's WebSocket, the served page can.
  const foreign = http.createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end(`<script>const ws = new WebSocket('ws://127.0.0.1:${webPort}/', 'mychat.json.v1'); ws.onopen = () => { document.title = 'opened'; }; ws.onerror = () => { document.title = 'refused'; };</script>`);
  });
  await new Promise<void>((resolve) => foreign.listen(0, '127.0.0.1', resolve));
  try {
    const context = await browser!.newContext();
    contexts.push(context);
    const other = await context.newPage();
    await other.goto(`http://127.0.0.1:${(foreign.address() as { port: number }).port}/`);
    await pollUntil(async () => ((await other.title()) !== '' ? true : undefined), () => 'the foreign page never heard back');
    t.is(await other.title(), 'refused');
    await daemon.waitForLog(/refused .*reason=origin/);
  } finally {
    foreign.close();
  }
});

test.serial('register with the server rules, chat with an nc user both ways, rooms with unread counts and mentions, private talk, completion, paste, search', async (t) => {
  requireBinaries('nc');
  const { daemon, webPort } = await webDaemon();
  const bob = await ncUser(daemon.port, 'bob');
  const { page, errors } = await openPage(webPort);
  await page.locator('#login-status', { hasText: 'Pick a nickname' }).waitFor({ timeout: T });
  await shot(page, '01-nickname-prompt');

  // The server's rules and words: a bad nickname, then one in use (a look-alike of bob).
  await page.locator('#nick').fill('9lives');
  await page.locator('#nick').press('Enter');
  await page.locator('#nick-error', { hasText: /letter/i }).waitFor({ timeout: T });
  await page.locator('#nick').fill('BOB');
  await page.locator('#nick').press('Enter');
  await page.locator('#nick-error', { hasText: 'The nickname BOB is taken' }).waitFor({ timeout: T });
  await shot(page, '02-nickname-refused');
  await registerAs(page, 'alice');
  await bob.waitForLine('JOIN #lobby alice');

  // Both ways in #lobby; the nc user's mention of alice is highlighted.
  bob.write('hi alice, welcome\r\n');
  await entry(page, 'hi alice, welcome').waitFor({ timeout: T });
  t.true(await entry(page, 'hi alice, welcome').evaluate((li) => li.classList.contains('mention')));
  await say(page, 'hello bob');
  await bob.waitForLine('MSG #lobby alice hello bob');
  t.deepEqual(await page.locator('#member-list button').allTextContents(), ['alice', 'bob']);

  // A second room; activity in #lobby shows as unread counts and a mention badge.
  await say(page, '/join dev');
  await conv(page, '#dev').and(page.locator('[aria-current=page]')).waitFor({ timeout: T });
  bob.write('one\r\ntwo\r\nalice: are you there?\r\n');
  await conv(page, '#lobby').locator('.badge.unread', { hasText: '3' }).waitFor({ timeout: T });
  t.is(await conv(page, '#lobby').locator('.badge.mention').textContent(), '!1');
  bob.write('/topic #lobby Plans for Friday\r\n');
  await bob.waitForLine(/^OK TOPIC #lobby/);
  await shot(page, '03-unread-and-mentions');

  // Keyboard only: Alt+1 is the server pane, Alt+2 #dev, Alt+3 #lobby; switching clears the badges.
  await page.locator('#input').focus();
  await page.keyboard.press('Alt+3');
  await page.locator('#title', { hasText: '#lobby' }).waitFor({ timeout: T });
  await page.locator('#topic', { hasText: 'Plans for Friday' }).waitFor({ timeout: T });
  await entry(page, 'bob set the topic: Plans for Friday').waitFor({ timeout: T });
  t.is(await conv(page, '#lobby').locator('.badge').count(), 0);
  await page.keyboard.press('Shift+Tab');
  await page.keyboard.press('Shift+Tab');
  // Evaluated in the page (a string: the tests' type check has no DOM library).
  const outline = (await page.evaluate(
    '(() => { const a = document.activeElement; const s = getComputedStyle(a); return { tag: a.tagName, style: s.outlineStyle }; })()',
  )) as { tag: string; style: string };
  t.not(outline.style, 'none', `keyboard focus is visible on ${outline.tag}`);
  await page.locator('#input').focus();

  // Completion: a command, then a nickname addressed at the start of a line.
  await page.locator('#input').fill('/jo');
  await page.locator('#input').press('Tab');
  t.is(await page.locator('#input').inputValue(), '/join ');
  await page.locator('#input').fill('bo');
  await page.locator('#input').press('Tab');
  t.is(await page.locator('#input').inputValue(), 'bob: ');
  await page.locator('#input').fill('');

  // A private conversation is its own entry, both ways.
  bob.write('/msg alice psst, a secret\r\n');
  await conv(page, '@bob').locator('.badge.mention').waitFor({ timeout: T });
  await conv(page, '@bob').click();
  await entry(page, 'psst, a secret').waitFor({ timeout: T });
  await say(page, 'safe with me');
  await bob.waitForLine('PRIVMSG alice safe with me');

  // Twelve lines are one paste block, after one confirmation.
  await page.keyboard.press('Alt+3');
  await page.locator('#title', { hasText: '#lobby' }).waitFor({ timeout: T });
  const lines = Array.from({ length: 12 }, (_, i) => (i === 5 ? '.dotted line' : `line ${i + 1} of the paste`));
  await page.locator('#input').fill(lines.join('\n'));
  await page.locator('#input').press('Enter');
  await page.locator('#confirm', { hasText: 'Send 12 lines' }).waitFor({ timeout: T });
  await shot(page, '04-paste-confirmation');
  await page.keyboard.press('Enter');
  await bob.waitForLine(/^PASTE #lobby alice \S+ 12\/12 line 12 of the paste$/);
  t.true(bob.lines().some((l) => /^PASTE #lobby alice \S+ 6\/12 \.dotted line$/.test(l)));
  await say(page, 'after the paste');
  await bob.waitForLine('MSG #lobby alice after the paste');
  bob.write('/msg alice nice paste, thanks\r\n');
  await conv(page, '@bob').locator('.badge.mention').waitFor({ timeout: T });
  await shot(page, '05-chat');

  // /search results are their own entry, newest first.
  await say(page, '/search are you');
  await conv(page, 'search #lobby: are you').waitFor({ timeout: T });
  await entry(page, 'alice: are you there?').waitFor({ timeout: T });
  await shot(page, '06-search');

  // Phone width and dark mode.
  await page.keyboard.press('Alt+3');
  await page.setViewportSize({ width: 390, height: 760 });
  await page.emulateMedia({ colorScheme: 'dark' });
  await entry(page, 'after the paste').waitFor({ timeout: T });
  t.true(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth'), 'no sideways scrolling at phone width');
  await shot(page, '07-phone-dark');
  t.deepEqual(errors, []);
});

test.serial('replayed history is marked with its original times, and scrolling up loads every older page', async (t) => {
  requireBinaries('nc');
  const { daemon, webPort } = await webDaemon();
  const writer = await ncUser(daemon.port, 'scribe');
  writer.write('/join #old\r\n');
  await writer.waitForLine('OK JOIN #old Now talking in #old.');
  const total = 130;
  writer.write(`${Array.from({ length: total }, (_, i) => `old message ${i + 1}`).join('\r\n')}\r\n/history #old 1\r\n`);
  await writer.waitForLine(/^OK HISTORY #old/);
  const last = await writer.waitForLine(/^HISTORY #old \d+ \S+ scribe MSG old message 130$/);
  const at = last.split(' ')[3]!;

  const { page, errors } = await openPage(webPort, { width: 1000, height: 600 });
  await registerAs(page, 'reader');
  await say(page, '/join #old');
  await entry(page, 'old message 130').waitFor({ timeout: T });
  const newest = entry(page, 'old message 130');
  t.true(await newest.evaluate((li) => li.classList.contains('history')), 'a replayed line is marked as history');
  t.is(await newest.locator('.tag').textContent(), 'history');
  // The mychat line gives the time to the second, JSON mode to the millisecond.
  t.is((await newest.locator('time').getAttribute('datetime'))?.slice(0, 19), at.slice(0, 19), 'with its original time');
  await page.locator('#entries .marker', { hasText: /stored messages above, from the history/ }).waitFor({ timeout: T });
  await shot(page, '08-history-replay');

  // Scroll to the top until the first message is there: each time near the top the page before is asked for.
  await pollUntil(
    async () => {
      await page.locator('#pane').evaluate((pane) => pane.scrollTo(0, 0));
      return (await page.locator('#entries .entry .text', { hasText: /^old message 1$/ }).count()) > 0 ? true : undefined;
    },
    () => 'the first stored message never appeared',
    30_000,
  );
  const texts = await page.locator('#entries .entry.message .text').allTextContents();
  t.deepEqual(texts, Array.from({ length: total }, (_, i) => `old message ${i + 1}`), 'every stored message once, in order');
  await page.locator('#older').waitFor({ state: 'hidden', timeout: T });
  await shot(page, '09-scrolled-back');
  t.deepEqual(errors, []);
});

test.serial('a hostile message (HTML, terminal escapes, bidi overrides) is shown as inert text', async (t) => {
  requireBinaries('nc');
  const { daemon, webPort } = await webDaemon();
  const { page, errors } = await openPage(webPort);
  await registerAs(page, 'victim');
  const mallory = await ncUser(daemon.port, 'mallory');
  const hostile = [
    '<img src=x onerror="window.pwned=1">',
    '<script>window.pwned=2</script><b>bold?</b>',
    '\x1b[31mred\x1b[0m \x1b]52;c;SGVsbG8=\x07 \x1b]8;;http://example.invalid\x07link',
    'abc\u202Eevil\u202C \u2067isolate\u2069 end',
  ];
  mallory.write(hostile.map((line) => line + '\r\n').join(''));
  mallory.write('/topic #lobby <img src=y onerror="window.pwned=3"> \x1b[2J\r\n/me <svg onload="window.pwned=4">\r\n');
  await entry(page, 'svg onload').waitFor({ timeout: T });
  const shown = await page.locator('#entries').textContent();
  t.true(shown!.includes('<img src=x onerror="window.pwned=1">'), 'the HTML is shown as the characters it is');
  t.true(shown!.includes('<script>window.pwned=2</script><b>bold?</b>'));
  t.true(shown!.includes('\u241b[31mred\u241b[0m'), 'ESC shows as ␛');
  // eslint-disable-next-line no-control-regex
  t.false(/[\u202a-\u202e\u2066-\u2069\u001b]/.test(shown!), 'no bidi control or ESC reaches the page');
  t.is(await page.locator('#entries img, #entries script, #entries b, #entries svg, #topic img').count(), 0);
  t.is(await page.evaluate('window.pwned'), undefined);
  // Trusted Types (required by the page's CSP): even code on the page could not turn a string into markup.
  t.is(await page.evaluate('(() => { try { document.body.insertAdjacentHTML("beforeend", "<b>x</b>"); return "inserted"; } catch (e) { return e.name; } })()'), 'TypeError');
  t.true((await page.locator('#topic').textContent())!.startsWith('<img src=y'));
  await shot(page, '10-hostile-text');
  t.deepEqual(errors, ["This document requires 'TrustedHTML' assignment. The action has been blocked."], 'the only error is the blocked insertion above');
});

test.serial('after a daemon restart on the same port the page reconnects, registers again and resumes its rooms', async (t) => {
  requireBinaries('nc');
  const dataDir = scratchDir();
  const webPort = await freePort();
  const args = ['--web-port', String(webPort), '--data-dir', dataDir];
  const first = await startDaemon(args);
  daemons.push(first);
  await first.waitForLog(/ listening .*web=true/);
  const { page, errors } = await openPage(webPort);
  await registerAs(page, 'carol');
  await say(page, '/join #ops');
  await conv(page, '#ops').and(page.locator('[aria-current=page]')).waitFor({ timeout: T });
  await say(page, 'before the restart');

  t.is(await first.stop('SIGTERM'), 0);
  await page.locator('#offline', { hasText: /Reconnecting in/ }).waitFor({ timeout: T });
  await shot(page, '11-reconnecting');

  const second = await startDaemon(args);
  daemons.push(second);
  await second.waitForLog(/ listening .*web=true/);
  await page.locator('#offline').waitFor({ state: 'hidden', timeout: 45_000 });
  await page.locator('#status', { hasText: 'carol' }).waitFor({ timeout: T });
  const dave = await ncUser(second.port, 'dave');
  dave.write('/join #ops\r\n');
  await dave.waitForLine(/^NAMES #ops .*carol/);
  dave.write('welcome back\r\n');
  await entry(page, 'welcome back').waitFor({ timeout: T });
  t.is(await entry(page, 'before the restart').count(), 1, 'the replay after the reconnect does not repeat what is shown');
  await say(page, 'glad to be back');
  await dave.waitForLine('MSG #ops carol glad to be back');
  await shot(page, '12-reconnected');
  t.deepEqual(errors.filter((e) => !/WebSocket|ERR_CONNECTION_REFUSED/.test(e)), []);
});
