import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import test from 'ava';
import WebSocket from 'ws';
import { ChatCore } from '../../lib/core/chat-core';
import { createLogger } from '../../lib/log';
import { ChatListener } from '../../lib/transport/tcp/tcp-listener';
import { CONTENT_SECURITY_POLICY, WebSocketDoor } from '../../lib/transport/websocket/websocket-door';
import { register } from '../helpers/client';
import { assertValidEvent } from '../helpers/json-schema';
import { DAEMON_JS, daemonEnv, scratchDir, startDaemon, waitForText, type Daemon } from '../helpers/daemon';
import { pollUntil, requireBinaries } from '../helpers/terminal';

/*
 * The WebSocket door (--web-port) with a real `ws` client: it chats with nc and raw TCP users in the same
 * rooms, under the same limits (frame size, per-address cap, send-queue cap, Origin allow-list).
 */

const T = 10_000;
const daemons: Daemon[] = [];
const children: ChildProcess[] = [];
const sockets: WebSocket[] = [];

test.after.always(async () => {
  for (const ws of sockets) ws.terminate();
  for (const child of children) child.kill('SIGKILL');
  await Promise.all(daemons.map((d) => d.stop('SIGKILL')));
});

/** A daemon with the WebSocket door on an ephemeral port (flood pacing off so floods are fast). */
async function webDaemon(extra: string[] = []): Promise<{ daemon: Daemon; webPort: number }> {
  const daemon = await startDaemon(['--web-port', '0', ...extra]);
  daemons.push(daemon);
  const { match } = await daemon.waitForLog(/ listening .*port=(\d+) web=true/);
  return { daemon, webPort: Number(match[1]) };
}

/** A real `ws` client that records every text frame as a line. */
class WsClient {
  readonly lines: string[] = [];
  closeCode: number | undefined;
  readonly closed: Promise<number>;
  private waiters: Array<() => void> = [];

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      this.lines.push(isBinary ? '<binary>' : data.toString());
      this.wake();
    });
    ws.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      ws.on('close', (code) => {
        this.closeCode = code;
        this.wake();
        resolve(code);
      }),
    );
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  send(text: string): void {
    this.ws.send(text);
  }

  /** Waits for a line matching `matcher` (anywhere in what was received); rejects on close or after T ms. */
  waitForLine(matcher: string | RegExp): Promise<string> {
    const find = (): string | undefined => this.lines.find((l) => (typeof matcher === 'string' ? l === matcher : matcher.test(l)));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no line matching ${String(matcher)}; got ${JSON.stringify(this.lines.slice(-10))}`)), T);
      const check = (): void => {
        const line = find();
        if (line !== undefined) {
          clearTimeout(timer);
          resolve(line);
        } else if (this.closeCode !== undefined) {
          clearTimeout(timer);
          reject(new Error(`closed (${this.closeCode}) before a line matching ${String(matcher)}; got ${JSON.stringify(this.lines.slice(-10))}`));
        } else this.waiters.push(check);
      };
      check();
    });
  }
}

/** Opens a WebSocket to the door; resolves once open (rejects with the HTTP status if refused). */
function wsOpen(port: number, protocols: string | string[] = 'mychat.v1', headers: Record<string, string> = {}): Promise<WsClient> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, protocols, { headers });
  sockets.push(ws);
  const client = new WsClient(ws);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(client));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => reject(new Error(`HTTP ${res.statusCode} ${body}`)));
    });
    ws.once('error', reject);
  });
}

/** Opens a WebSocket and registers `nick`; resolves once it is in #lobby. */
async function wsRegister(port: number, nick: string): Promise<WsClient> {
  const client = await wsOpen(port);
  await client.waitForLine(/^HELLO /);
  client.send(nick);
  await client.waitForLine('OK JOIN #lobby Now talking in #lobby.');
  return client;
}

/** A real `nc -N` process with piped stdin. */
function spawnNc(port: number): { write(text: string): void; waitForLine(m: string | RegExp): Promise<string> } {
  const proc = spawn('nc', ['-N', '127.0.0.1', String(port)], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(proc);
  let out = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  proc.stdin!.on('error', () => undefined);
  return {
    write: (text) => proc.stdin!.write(text),
    waitForLine: (m) =>
      pollUntil(
        () => out.split('\r\n').slice(0, -1).find((line) => (typeof m === 'string' ? line === m : m.test(line))),
        () => `nc never printed a line matching ${String(m)}; stdout: ${JSON.stringify(out)}`,
      ),
  };
}

/** A plain HTTP request to the door. */
function httpGet(port: number, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', headers }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.setTimeout(T, () => req.destroy(new Error('timeout')));
  });
}

test('a ws client (mychat.v1) and an nc user chat both ways in one room, one text frame per line', async (t) => {
  requireBinaries('nc');
  const { daemon, webPort } = await webDaemon();
  const web = await wsOpen(webPort);
  t.is(web.ws.protocol, 'mychat.v1');
  t.regex(await web.waitForLine(/^HELLO /), /^HELLO mychatd\/\d+\.\d+\.\d+ /);
  web.send('webby');
  await web.waitForLine('OK JOIN #lobby Now talking in #lobby.');
  t.false(web.lines.some((l) => l.includes('\r') || l.includes('\n')), 'no frame carries a line end');

  const nc = spawnNc(daemon.port);
  await nc.waitForLine(/^HELLO /);
  nc.write('ncuser\n/join #mixed\n');
  await nc.waitForLine(/^OK JOIN #mixed /);
  web.send('/join #mixed');
  await web.waitForLine(/^OK JOIN #mixed /);
  await nc.waitForLine('JOIN #mixed webby');

  web.send('hello from the browser side');
  t.is(await nc.waitForLine(/^MSG #mixed webby /), 'MSG #mixed webby hello from the browser side');
  nc.write('hello from nc\n');
  t.is(await web.waitForLine(/^MSG #mixed ncuser /), 'MSG #mixed ncuser hello from nc');

  web.ws.close(1000);
  t.is(await nc.waitForLine(/^QUIT webby/), 'QUIT webby Connection closed');
});

test('a frame with CR or LF, or a binary frame, gets ERR BAD_FRAME and is not posted; the session goes on', async (t) => {
  const { daemon, webPort } = await webDaemon();
  const watcher = await register(daemon.port, 'frameWatch');
  const web = await wsRegister(webPort, 'framer');
  web.send('two\nlines');
  t.regex(await web.waitForLine(/^ERR BAD_FRAME /), /must not contain CR or LF/);
  web.ws.send(Buffer.from('binary'), { binary: true });
  await pollUntil(
    () => (web.lines.filter((l) => l.startsWith('ERR BAD_FRAME ')).length === 2 ? true : undefined),
    () => `second ERR BAD_FRAME missing: ${JSON.stringify(web.lines)}`,
  );
  web.send('one good line');
  t.is(await watcher.waitForLine(/^MSG #lobby framer /, T), 'MSG #lobby framer one good line');
  t.false(watcher.lines.some((l) => l.includes('two') || l.includes('binary')), 'neither refused frame reached the room');
  watcher.end();
});

test('a frame over the line cap closes the connection with 1009 (message too big)', async (t) => {
  const { webPort } = await webDaemon();
  const web = await wsRegister(webPort, 'bigframe');
  web.send('x'.repeat(4097));
  t.is(await web.closed, 1009);
});

test('Origin: a foreign page is refused with 403, same-origin and --web-origins entries are served', async (t) => {
  const { webPort } = await webDaemon();
  await t.throwsAsync(wsOpen(webPort, 'mychat.v1', { Origin: 'https://evil.example' }), { message: /^HTTP 403 / });
  const same = await wsOpen(webPort, 'mychat.v1', { Origin: `http://127.0.0.1:${webPort}` });
  await same.waitForLine(/^HELLO /);
  const listed = await webDaemon(['--web-origins', 'https://chat.example.org']);
  const ok = await wsOpen(listed.webPort, 'mychat.v1', { Origin: 'https://chat.example.org' });
  await ok.waitForLine(/^HELLO /);
  await t.throwsAsync(wsOpen(listed.webPort, 'mychat.v1', { Origin: `http://127.0.0.1:${listed.webPort}` }), { message: /^HTTP 403 / });
});

test('subprotocols: an unknown one is refused with 400; the first known one offered is chosen', async (t) => {
  const { webPort } = await webDaemon();
  await t.throwsAsync(wsOpen(webPort, 'irc'), { message: /^HTTP 400 Unknown subprotocol/ });
  const both = await wsOpen(webPort, ['irc', 'mychat.json.v1', 'mychat.v1']);
  t.is(both.ws.protocol, 'mychat.json.v1');
  const lines = await wsOpen(webPort, ['mychat.v1', 'mychat.json.v1']);
  t.is(lines.ws.protocol, 'mychat.v1');
});

test('mychat.json.v1: JSON from the greeting on, one object per frame, JSON commands in; it chats with an nc user and every frame fits the schema', async (t) => {
  const { daemon, webPort } = await webDaemon();
  const bot = await wsOpen(webPort, 'mychat.json.v1');
  const hello = JSON.parse(await bot.waitForLine(/^\{"type":"hello"/)) as Record<string, unknown>;
  t.regex(String(hello.server), /^mychatd\//);
  bot.send(JSON.stringify({ cmd: 'nick', name: 'wsbot' }));
  await bot.waitForLine(/^\{"type":"reply","command":"JOIN","subject":"#lobby"/);
  const human = await register(daemon.port, 'wshuman');
  human.send('hi bot');
  const message = JSON.parse(await bot.waitForLine(/"type":"message".*"from":"wshuman"/)) as Record<string, unknown>;
  t.like(message, { room: '#lobby', text: 'hi bot' });
  bot.send(JSON.stringify({ cmd: 'say', text: 'hello from JSON' }));
  t.is(await human.waitForLine(/^MSG #lobby wsbot/), 'MSG #lobby wsbot hello from JSON');
  bot.send('{"cmd":');
  await bot.waitForLine(/"type":"failure","code":"BAD_JSON"/);
  bot.send('/ping done');
  await bot.waitForLine('{"type":"pong","token":"done"}');
  for (const line of bot.lines) assertValidEvent(t, line);
  human.end();
});

test('a plain GET gets the browser client, which names the plain chat port, with the security headers', async (t) => {
  const { daemon, webPort } = await webDaemon();
  const page = await httpGet(webPort);
  t.is(page.status, 200);
  t.regex(page.headers['content-type'] ?? '', /^text\/html/);
  t.is(page.headers['x-content-type-options'], 'nosniff');
  t.is(page.headers['referrer-policy'], 'no-referrer');
  t.is(page.headers['content-security-policy'], CONTENT_SECURITY_POLICY);
  t.true(page.body.includes(`port ${daemon.port} of this server`), page.body);
  t.regex(page.body, /<script src="app.js" defer><\/script>/);
});

test('--max-per-address counts WebSocket connections too', async (t) => {
  const { daemon, webPort } = await webDaemon(['--max-per-address', '1']);
  const tcp = await register(daemon.port, 'firstOne');
  const web = await wsOpen(webPort);
  t.regex(await web.waitForLine(/^ERR /), /^ERR TOO_MANY_CONNECTIONS /);
  await web.closed;
  tcp.end();
});

test('a ws client that stops reading is dropped at its send-queue cap while the others keep chatting', async (t) => {
  const { daemon, webPort } = await webDaemon(['--max-send-queue', '65536', '--flood-rate', '0', '--input-rate', '0', '--input-address-rate', '0']);
  const talker = await register(daemon.port, 'wsTalker');
  const listener = await register(daemon.port, 'wsListener');
  const slow = await wsRegister(webPort, 'wsSlow');
  const reader = await wsRegister(webPort, 'wsReader');
  for (const c of [talker, listener]) {
    c.send('/join #flood');
    await c.waitForLine(/^OK JOIN #flood/);
  }
  for (const c of [slow, reader]) {
    c.send('/join #flood');
    await c.waitForLine(/^OK JOIN #flood/);
  }
  await listener.waitForLine('JOIN #flood wsReader', T);
  slow.ws.pause(); // stop reading: the kernel buffers fill, then ws.bufferedAmount and the daemon's queue
  const payload = 'p'.repeat(4000);
  let quitLine: string | undefined;
  // Bounded: at most 20 000 lines (about 80 MB); loopback buffers plus the 64 KiB cap fill long before.
  for (let i = 0; i < 20_000 && quitLine === undefined; i++) {
    talker.send(`${i} ${payload}`);
    if (i % 50 === 49) {
      await talker.sync();
      quitLine = listener.all(/^QUIT wsSlow/)[0];
    }
  }
  quitLine ??= await listener.waitForLine(/^QUIT wsSlow/, T);
  t.is(quitLine, 'QUIT wsSlow Send queue exceeded');
  talker.send('after the drop');
  await listener.waitForLine('MSG #flood wsTalker after the drop', T);
  t.is(await reader.waitForLine('MSG #flood wsTalker after the drop'), 'MSG #flood wsTalker after the drop');
  reader.send('the reader still talks');
  await talker.waitForLine('MSG #flood wsReader the reader still talks', T);
  talker.end();
  listener.end();
});

test('keepalive: a client that stops answering pings is closed, one that answers stays', async (t) => {
  // In process, with a 250 ms ping interval instead of the daemon's 30 s.
  const log: string[] = [];
  const core = new ChatCore({ log: createLogger('info', (line) => log.push(line), false) });
  const listener = new ChatListener(core, { maxSendQueueBytes: 1 << 20, floodBurst: 10, floodRate: 0, log: core.options.log });
  const door = new WebSocketDoor((source, channel, address) => listener.acceptChannel(source, channel, address), { origins: [], chatPort: () => 0, log: core.options.log, pingIntervalMs: 250 });
  await new Promise<void>((resolve) => door.server.listen(0, '127.0.0.1', resolve));
  const port = (door.server.address() as net.AddressInfo).port;
  /** Rejects after T ms, so a missing event fails the test instead of hanging it. */
  const bounded = <V>(promise: Promise<V>, what: string): Promise<V> =>
    Promise.race([promise, new Promise<V>((_, reject) => setTimeout(() => reject(new Error(`timed out: ${what}`)), T).unref())]);
  try {
    const alive = await wsOpen(port);
    let pings = 0;
    const pinged = new Promise<void>((resolve, reject) => {
      alive.ws.on('ping', () => ++pings === 4 && resolve());
      void alive.closed.then((code) => reject(new Error(`the client that answers pings was closed (${code}) after ${pings} pings`)));
    });
    const mute = new WsClient(new WebSocket(`ws://127.0.0.1:${port}/`, 'mychat.v1', { autoPong: false }));
    sockets.push(mute.ws);
    t.is(await bounded(mute.closed, 'the mute client was not closed'), 1006, 'closed without a close handshake');
    await bounded(pinged, 'four pings');
    t.is(alive.ws.readyState, WebSocket.OPEN, 'the client that answers is still connected after 4 pings');
    t.true(log.some((line) => / ping-timeout /.test(line)));
  } finally {
    core.shutdown();
    door.cut();
    await door.close();
  }
});

/** Two ports that were free a moment ago on 127.0.0.1. */
async function freePorts(): Promise<number[]> {
  const servers = await Promise.all(
    [0, 1].map(
      () =>
        new Promise<net.Server>((resolve) => {
          const server = net.createServer();
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((server) => (server.address() as net.AddressInfo).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

test('socket activation: a socket passed with FileDescriptorName=web is served as the WebSocket port, the other as plain', async (t) => {
  requireBinaries('systemd-socket-activate');
  let activated: { ports: number[]; stderr: () => string } | undefined;
  // Another process may take a port between freePorts and the bind; a few fresh attempts settle that.
  for (let attempt = 1; activated === undefined; attempt++) {
    const ports = await freePorts();
    const proc = spawn(
      'systemd-socket-activate',
      [...ports.flatMap((port) => ['-l', `127.0.0.1:${port}`]), '--fdname=mychatd.socket:web', process.execPath, DAEMON_JS, '--config', '', '--data-dir', scratchDir()],
      { env: daemonEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.push(proc);
    let err = '';
    proc.stderr!.setEncoding('utf8').on('data', (text: string) => (err += text));
    const exited = new Promise<string>((resolve) => proc.on('exit', (code) => resolve(`exited with ${code}`)));
    const outcome = await Promise.race([waitForText(() => err, new RegExp(`Listening on 127\\.0\\.0\\.1:${ports[1]} as 4`)).then(() => 'ready'), exited]);
    if (outcome === 'ready') activated = { ports, stderr: () => err };
    else if (attempt === 3) throw new Error(`systemd-socket-activate failed: ${err}`);
  }
  const [plainPort, webPort] = activated.ports as [number, number];
  // The first connection (WebSocket) starts the daemon; its upgrade request waits in the queue meanwhile.
  const web = await wsRegister(webPort, 'webact');
  const pat = await register(plainPort, 'plainpat');
  await web.waitForLine('JOIN #lobby plainpat');
  pat.send('hello over the plain socket');
  await web.waitForLine('MSG #lobby plainpat hello over the plain socket');
  web.send('hello over the web socket');
  await pat.waitForLine('MSG #lobby webact hello over the web socket', T);
  const { line } = await waitForText(activated.stderr, / listening .*web=true/);
  t.regex(line, new RegExp(`port=${webPort} web=true fd=4 activation=systemd`));
  pat.end();
});
