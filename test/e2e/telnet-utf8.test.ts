import test from 'ava';
import { register, type TestClient } from '../helpers/client';
import { startDaemon, type Daemon } from '../helpers/daemon';
import { hex, pollUntil, RecordingProxy, requireBinaries, TERMINAL_TIMEOUT_MS, TmuxTerminal } from '../helpers/terminal';

/*
 * UTF-8 through the real inetutils telnet. Outside binary mode telnet strips the 8th bit of each typed
 * byte before comparing it with its escape and interrupt characters: the Hebrew final mem (D7 9D) reads
 * as Ctrl-] and drops the user at "telnet>", "ă" (C4 83) as Ctrl-C, "✓" (E2 9C 93) as Ctrl-\. The daemon
 * asks a client that speaks telnet (it has sent a telnet command) to send in binary mode, after which
 * those characters go through as typed. A client that sends no telnet command (nc, or telnet on a port
 * other than 23, which negotiates nothing) is never sent one.
 */

const T = TERMINAL_TIMEOUT_MS;
const IAC_DO_BINARY = Buffer.from([0xff, 0xfd, 0x00]);
const IAC_WILL_BINARY = Buffer.from([0xff, 0xfb, 0x00]);
/** Characters inetutils telnet mangles outside binary mode, one of each kind. */
const HARD = 'ם ă ✓';

let daemon: Daemon;
const terminals: TmuxTerminal[] = [];
const proxies: RecordingProxy[] = [];
const clients: TestClient[] = [];

test.before(async () => {
  daemon = await startDaemon();
});

test.after.always(async () => {
  await Promise.all(terminals.map((term) => term.kill()));
  for (const client of clients) client.socket.destroy();
  await Promise.all(proxies.map((proxy) => proxy.close()));
  await daemon?.stop();
});

async function watcher(nick: string): Promise<TestClient> {
  const client = await register(daemon.port, nick);
  clients.push(client);
  return client;
}

/** Runs the real telnet with `args` in tmux, through a recording proxy, and registers `nick`. */
async function telnet(args: (port: number) => string, nick: string, watch: TestClient): Promise<{ term: TmuxTerminal; proxy: RecordingProxy }> {
  requireBinaries('telnet', 'tmux');
  const proxy = await RecordingProxy.start(daemon.port);
  proxies.push(proxy);
  const term = await TmuxTerminal.start(`exec telnet ${args(proxy.port)}`);
  terminals.push(term);
  await term.waitForRow(/^HELLO mychatd\/\d+\.\d+\.\d+ Welcome/);
  await term.typeLine(nick);
  await term.waitForRow('OK JOIN #lobby Now talking in #lobby.');
  await watch.waitForLine(`JOIN #lobby ${nick}`, T);
  return { term, proxy };
}

test('telnet that negotiates (port written "-PORT") is asked for binary input, and Hebrew, ă and ✓ go both ways intact', async (t) => {
  const watch = await watcher('utfwatch');
  // A port starting with "-" makes inetutils telnet negotiate options as it does on port 23.
  const { term, proxy } = await telnet((port) => `-- 127.0.0.1 -${port}`, 'utfneg', watch);
  const tap = await proxy.tap();
  await pollUntil(
    () => (tap.down().includes(IAC_DO_BINARY) && tap.up().includes(IAC_WILL_BINARY) ? true : undefined),
    () => `no DO/WILL TRANSMIT-BINARY exchange; daemon sent ${hex(tap.down().subarray(0, 64))}, telnet sent ${hex(tap.up().subarray(0, 64))}`,
  );

  await term.typeLine(`typed: ${HARD} done`);
  t.is(await watch.waitForLine(/^MSG #lobby utfneg /, T), `MSG #lobby utfneg typed: ${HARD} done`);
  watch.send(`received: ${HARD} done`);
  await term.waitForRow(`MSG #lobby utfwatch received: ${HARD} done`);
  t.false((await term.screen()).some((row) => row.startsWith('telnet>')), 'telnet never dropped to its command prompt');
  // The daemon keeps sending as text (it refuses DO BINARY), so telnet keeps its terminal's CR/LF handling.
  t.false(tap.down().includes(IAC_WILL_BINARY));
});

test('plain telnet is sent no telnet command until it sends one; after that it is asked for binary input', async (t) => {
  const watch = await watcher('plainwatch');
  const { term, proxy } = await telnet((port) => `127.0.0.1 ${port}`, 'utfplain', watch);
  const tap = await proxy.tap();
  // On a port other than 23 telnet negotiates nothing, so the daemon cannot tell it from nc: no IAC.
  await term.typeLine('ascii only');
  await watch.waitForLine('MSG #lobby utfplain ascii only', T);
  t.false(tap.down().includes(0xff), `the daemon sent telnet bytes unasked: ${hex(tap.down())}`);

  // Ctrl-C makes telnet send IAC IP IAC DO TIMING-MARK: now it has shown it speaks telnet.
  await term.press('C-c');
  await pollUntil(
    () => (tap.up().includes(IAC_WILL_BINARY) ? true : undefined),
    () => `telnet did not agree to send in binary mode; daemon sent ${hex(tap.down())}, telnet sent ${hex(tap.up())}`,
  );
  t.true(tap.down().includes(IAC_DO_BINARY));
  await term.typeLine(`after ctrl-c: ${HARD}`);
  t.is(await watch.waitForLine(/^MSG #lobby utfplain after/, T), `MSG #lobby utfplain after ctrl-c: ${HARD}`);
  t.false((await term.screen()).some((row) => row.startsWith('telnet>')));
});
