import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import test, { type ExecutionContext } from 'ava';
import { register, TestClient } from '../helpers/client';
import { DAEMON_JS, daemonEnv, scratchDir, startDaemon, waitForText, type Daemon } from '../helpers/daemon';
import { killClients, runClient, within, type PipedClient } from '../helpers/mychat-client';
import { pollUntil, requireBinaries, TERMINAL_TIMEOUT_MS } from '../helpers/terminal';

/*
 * The TLS door (--tls-port) with real clients: openssl s_client and socat users chat with plain TCP users
 * in the same room. A throwaway CA and server certificates for localhost/127.0.0.1 are made with the
 * openssl binary at test time. A missing binary fails the test; nothing here is skipped.
 */

const children: ChildProcess[] = [];
const sockets: net.Socket[] = [];
const daemons: Daemon[] = [];

test.after.always(async () => {
  killClients();
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const socket of sockets) socket.destroy();
  await Promise.all(daemons.map((d) => d.stop('SIGKILL')));
});

/** The throwaway CA: its folder, certificate and key. */
interface Ca {
  dir: string;
  cert: string;
  key: string;
}

const P256 = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2'];

/** Makes a self-signed CA in a fresh scratch folder. */
function makeCa(): Ca {
  requireBinaries('openssl');
  const dir = scratchDir();
  const cert = path.join(dir, 'ca.pem');
  const key = path.join(dir, 'ca.key');
  execFileSync('openssl', ['req', '-x509', ...P256, '-subj', '/CN=mychat test CA', '-keyout', key, '-out', cert], { stdio: 'pipe' });
  return { dir, cert, key };
}

/** Makes a server certificate for localhost, 127.0.0.1 and ::1 signed by `ca`, with serial `serial` (hex). */
function makeServerCert(ca: Ca, name: string, serial: string): { cert: string; key: string } {
  const cert = path.join(ca.dir, `${name}.pem`);
  const key = path.join(ca.dir, `${name}.key`);
  execFileSync(
    'openssl',
    ['req', '-x509', '-CA', ca.cert, '-CAkey', ca.key, '-set_serial', `0x${serial}`, ...P256, '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1', '-addext', 'basicConstraints=critical,CA:FALSE', '-keyout', key, '-out', cert],
    { stdio: 'pipe' },
  );
  return { cert, key };
}

/** A daemon with the TLS door on an ephemeral port; resolves with the daemon and its TLS port. */
async function tlsDaemon(files: { cert: string; key: string }, extra: string[] = []): Promise<{ daemon: Daemon; tlsPort: number }> {
  const daemon = await startDaemon(['--tls-port', '0', '--tls-cert', files.cert, '--tls-key', files.key, ...extra]);
  daemons.push(daemon);
  const { match } = await daemon.waitForLog(/ listening .*port=(\d+) tls=true/);
  return { daemon, tlsPort: Number(match[1]) };
}

/** Opens a Node TLS connection trusting only `caFile`; resolves once the handshake completed. */
async function tlsOpen(port: number, caFile: string, extra: tls.ConnectionOptions = {}): Promise<TestClient> {
  const socket = tls.connect({ host: '127.0.0.1', port, ca: readFileSync(caFile), servername: 'localhost', ...extra });
  sockets.push(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', reject);
  });
  return new TestClient(socket);
}

/** Registers `nick` over TLS, waiting until the automatic join of #lobby completed. */
async function tlsRegister(port: number, caFile: string, nick: string): Promise<TestClient> {
  const client = await tlsOpen(port, caFile);
  await client.waitForLine(/^HELLO /);
  client.send(nick);
  await client.waitForLine('OK JOIN #lobby Now talking in #lobby.');
  return client;
}

/** The serial number of the certificate the server presents to a new connection (hex, upper case). */
async function servedSerial(port: number, caFile: string): Promise<string> {
  const client = await tlsOpen(port, caFile);
  const serial = (client.socket as tls.TLSSocket).getPeerCertificate().serialNumber.toUpperCase();
  client.socket.destroy();
  return serial;
}

/** A real client process with piped stdin and recorded stdout. */
interface Spawned {
  write(text: string): void;
  waitForLine(matcher: RegExp | string): Promise<string>;
}

function spawnClient(command: string, args: string[]): Spawned {
  requireBinaries(command);
  const proc = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(proc);
  let out = '';
  let err = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  proc.stdin!.on('error', () => undefined);
  return {
    write: (text) => proc.stdin!.write(text),
    waitForLine: (matcher) =>
      pollUntil(
        () => out.split('\r\n').slice(0, -1).find((line) => (typeof matcher === 'string' ? line === matcher : matcher.test(line))),
        () => `${command} never printed a line matching ${String(matcher)}; stdout: ${JSON.stringify(out)} stderr: ${JSON.stringify(err)}`,
        TERMINAL_TIMEOUT_MS,
      ),
  };
}

test('openssl s_client, socat and ncat users chat with a plain TCP user in one room, both ways', async (t) => {
  const ca = makeCa();
  const { daemon, tlsPort } = await tlsDaemon(makeServerCert(ca, 'server', '1001'));
  const plain = await register(daemon.port, 'plainpat');
  sockets.push(plain.socket);

  const ossl = spawnClient('openssl', ['s_client', '-connect', `127.0.0.1:${tlsPort}`, '-CAfile', ca.cert, '-verify_return_error', '-quiet', '-nocommands']);
  await ossl.waitForLine(/^HELLO /);
  ossl.write('ossie\n');
  await ossl.waitForLine('OK JOIN #lobby Now talking in #lobby.');
  await plain.waitForLine('JOIN #lobby ossie');

  const socat = spawnClient('socat', ['-', `OPENSSL:127.0.0.1:${tlsPort},cafile=${ca.cert}`]);
  await socat.waitForLine(/^HELLO /);
  socat.write('socky\n');
  await socat.waitForLine('OK JOIN #lobby Now talking in #lobby.');
  await plain.waitForLine('JOIN #lobby socky');

  // ncat checks only DNS names in the certificate, so it connects to "localhost" (-4: 127.0.0.1).
  const ncat = spawnClient('ncat', ['-4', '--ssl', '--ssl-verify', '--ssl-trustfile', ca.cert, 'localhost', String(tlsPort)]);
  await ncat.waitForLine(/^HELLO /);
  ncat.write('nattie\n');
  await ncat.waitForLine('OK JOIN #lobby Now talking in #lobby.');
  await plain.waitForLine('JOIN #lobby nattie');

  ossl.write('hello from openssl\n');
  await plain.waitForLine('MSG #lobby ossie hello from openssl');
  await socat.waitForLine('MSG #lobby ossie hello from openssl');
  socat.write('hello from socat\n');
  await plain.waitForLine('MSG #lobby socky hello from socat');
  await ossl.waitForLine('MSG #lobby socky hello from socat');
  ncat.write('hello from ncat\n');
  await plain.waitForLine('MSG #lobby nattie hello from ncat');
  await ossl.waitForLine('MSG #lobby nattie hello from ncat');
  plain.send('hello from plain TCP');
  await ossl.waitForLine('MSG #lobby plainpat hello from plain TCP');
  await socat.waitForLine('MSG #lobby plainpat hello from plain TCP');
  await ncat.waitForLine('MSG #lobby plainpat hello from plain TCP');

  // The plain port's TLS sniffing sees decrypted text on the TLS door, so it never fires there.
  t.notRegex(daemon.stderr(), /wrong-protocol/);
  t.regex(daemon.stderr(), / listening host=127\.0\.0\.1 port=\d+ tls=true cert=[0-9A-F:]{95} /);
});

test('SIGHUP serves a renewed certificate to new connections while an open TLS connection keeps chatting; a broken file keeps the old one', async (t) => {
  const ca = makeCa();
  const first = makeServerCert(ca, 'server', 'A1');
  const { daemon, tlsPort } = await tlsDaemon(first);
  t.is(await servedSerial(tlsPort, ca.cert), 'A1');
  const alice = await tlsRegister(tlsPort, ca.cert, 'alice');
  const bob = await register(daemon.port, 'bob');
  sockets.push(bob.socket);

  // Renewal in place, as certbot or an ACME client does it: same file names, new contents.
  const renewed = makeServerCert(ca, 'renewed', 'B2');
  writeFileSync(first.cert, readFileSync(renewed.cert));
  writeFileSync(first.key, readFileSync(renewed.key));
  daemon.proc.kill('SIGHUP');
  const reloaded = await daemon.waitForLog(/info tls-reloaded /);
  t.is(await servedSerial(tlsPort, ca.cert), 'B2', 'a new connection gets the renewed certificate');
  alice.send('still here after the reload');
  await bob.waitForLine('MSG #lobby alice still here after the reload');
  bob.send('welcome back');
  await alice.waitForLine('MSG #lobby bob welcome back');
  t.is((alice.socket as tls.TLSSocket).getPeerCertificate().serialNumber.toUpperCase(), 'A1', 'the open connection was not renegotiated');

  // A botched renewal: the certificate file is not PEM. The error is logged and B2 stays in use.
  writeFileSync(first.cert, 'not a certificate\n');
  daemon.proc.kill('SIGHUP');
  const failed = await daemon.waitForLog(/error tls-reload-failed /, reloaded.next);
  t.true(failed.line.includes(first.cert), failed.line);
  t.regex(failed.line, /kept="certificate in use"/);
  t.is(await servedSerial(tlsPort, ca.cert), 'B2');
  // A key that does not belong to the certificate is refused the same way.
  writeFileSync(first.cert, readFileSync(renewed.cert));
  writeFileSync(first.key, readFileSync(makeServerCert(ca, 'other', 'C3').key));
  daemon.proc.kill('SIGHUP');
  const mismatch = await daemon.waitForLog(/error tls-reload-failed /, failed.next);
  t.regex(mismatch.line, /cannot be used with --tls-cert/);
  t.is(await servedSerial(tlsPort, ca.cert), 'B2');
  alice.send('and after the failed ones');
  await bob.waitForLine('MSG #lobby alice and after the failed ones');
});

test('a TLS 1.1 client is refused; TLS 1.2 is enough', async (t) => {
  const ca = makeCa();
  const { tlsPort } = await tlsDaemon(makeServerCert(ca, 'server', '1001'));
  // OpenSSL 3 would refuse TLS 1.1 on the client side already; security level 0 makes the client really try.
  const old = { minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' } as const;
  const error = await t.throwsAsync(tlsOpen(tlsPort, ca.cert, old));
  t.regex(String((error as NodeJS.ErrnoException).code), /PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL/, 'the server refused the version');
  const modern = await tlsOpen(tlsPort, ca.cert, { maxVersion: 'TLSv1.2' });
  t.is((modern.socket as tls.TLSSocket).getProtocol(), 'TLSv1.2');
  await modern.waitForLine(/^HELLO /);
});

test('a plaintext client on the TLS port gets no chat text and is closed promptly', async (t) => {
  const ca = makeCa();
  const { daemon, tlsPort } = await tlsDaemon(makeServerCert(ca, 'server', '1001'), ['--log-level', 'debug']);
  const socket = net.connect({ host: '127.0.0.1', port: tlsPort });
  sockets.push(socket);
  const client = new TestClient(socket);
  await new Promise((resolve) => socket.once('connect', resolve));
  client.send('mallory');
  client.send('/join #dev');
  await pollUntil(() => (client.closed ? true : undefined), () => 'the daemon kept a plaintext client open on the TLS port', 5000);
  t.notRegex(client.raw.toString('latin1'), /HELLO|mychat|OK |ERR /, 'nothing in clear text was sent');
  await daemon.waitForLog(/debug tls-handshake-failed addr=127\.0\.0\.1 /);
  t.notRegex(daemon.stderr(), /register .*nick=mallory/);
});

test('TLS and plain connections count together against the per-address limit', async (t) => {
  const ca = makeCa();
  const { daemon, tlsPort } = await tlsDaemon(makeServerCert(ca, 'server', '1001'), ['--max-per-address', '2']);
  sockets.push((await register(daemon.port, 'plainpat')).socket);
  await tlsRegister(tlsPort, ca.cert, 'tess');
  // Two from 127.0.0.1 already, one on each port: a third is refused on either port.
  const overTls = await tlsOpen(tlsPort, ca.cert);
  t.regex(await overTls.waitForLine(/^ERR /), /^ERR TOO_MANY_CONNECTIONS /);
  await overTls.closedPromise;
  const overPlain = new TestClient(net.connect({ host: '127.0.0.1', port: daemon.port }));
  sockets.push(overPlain.socket);
  t.regex(await overPlain.waitForLine(/^ERR /), /^ERR TOO_MANY_CONNECTIONS /);
});

test('a TLS client that stops reading is dropped at its send-queue cap, like a plain one', async (t) => {
  const ca = makeCa();
  const { daemon, tlsPort } = await tlsDaemon(makeServerCert(ca, 'server', '1001'), ['--max-send-queue', '65536']);
  const talker = await register(daemon.port, 'talker');
  sockets.push(talker.socket);
  const slow = await tlsRegister(tlsPort, ca.cert, 'slowtls');
  await talker.waitForLine('JOIN #lobby slowtls');
  slow.socket.pause(); // stop reading: the kernel buffers fill, then the daemon's queue
  const payload = 'p'.repeat(4000);
  let quitLine: string | undefined;
  // Bounded: at most 20 000 lines (about 80 MB); loopback buffers plus the 64 KiB cap fill long before.
  for (let i = 0; i < 20_000 && quitLine === undefined; i++) {
    talker.send(`${i} ${payload}`);
    if (i % 50 === 49) {
      await talker.sync();
      quitLine = talker.all(/^QUIT slowtls/)[0];
    }
  }
  quitLine ??= await talker.waitForLine(/^QUIT slowtls/, 10_000);
  t.is(quitLine, 'QUIT slowtls Send queue exceeded');
  t.false(talker.closed);
});

test('SIGTERM says goodbye to TLS users and closes the TLS port', async (t) => {
  const ca = makeCa();
  const { daemon, tlsPort } = await tlsDaemon(makeServerCert(ca, 'server', '1001'));
  const alice = await tlsRegister(tlsPort, ca.cert, 'alice');
  // A connection that never starts its handshake must not hold the shutdown up.
  const silent = net.connect({ host: '127.0.0.1', port: tlsPort });
  sockets.push(silent);
  silent.on('error', () => undefined);
  await new Promise((resolve) => silent.once('connect', resolve));
  const exited = daemon.stop('SIGTERM');
  t.is(await alice.waitForLine(/^BYE/), 'BYE Server shutting down');
  t.is(await exited, 0);
  await t.throwsAsync(tlsOpen(tlsPort, ca.cert), { code: 'ECONNREFUSED' });
});

/** Runs the daemon expecting it to refuse to start; resolves with its exit status and stderr. */
function refusedStart(t: ExecutionContext, args: string[]): Promise<{ code: number | null; stderr: string }> {
  const proc = spawn(process.execPath, [DAEMON_JS, '--host', '127.0.0.1', '--port', '0', ...args], { env: daemonEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(proc);
  let stderr = '';
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
  // 'close', not 'exit': only then has everything the daemon wrote to stderr been read.
  return new Promise((resolve) =>
    proc.on('close', (code) => {
      clearTimeout(timer);
      t.notRegex(stderr, /listening/, 'it never listened');
      resolve({ code, stderr });
    }),
  );
}

test('the daemon refuses to start with a TLS port but no usable certificate and key', async (t) => {
  const ca = makeCa();
  const good = makeServerCert(ca, 'server', '1001');
  const missingKey = await refusedStart(t, ['--tls-port', '0', '--tls-cert', good.cert]);
  t.is(missingKey.code, 2);
  t.regex(missingKey.stderr, /--tls-port needs both --tls-cert and --tls-key/);

  const junk = path.join(ca.dir, 'junk.pem');
  writeFileSync(junk, '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n');
  const badPem = await refusedStart(t, ['--tls-port', '0', '--tls-cert', junk, '--tls-key', good.key]);
  t.is(badPem.code, 2);
  t.true(badPem.stderr.includes(`--tls-cert ${junk} is not a PEM certificate`), badPem.stderr);

  const absent = path.join(ca.dir, 'absent.key');
  const unreadable = await refusedStart(t, ['--tls-port', '0', '--tls-cert', good.cert, '--tls-key', absent]);
  t.is(unreadable.code, 2);
  t.true(unreadable.stderr.includes(`cannot read --tls-key ${absent}: ENOENT`), unreadable.stderr);

  const wrongKey = await refusedStart(t, ['--tls-port', '0', '--tls-cert', good.cert, '--tls-key', ca.key]);
  t.is(wrongKey.code, 2);
  t.regex(wrongKey.stderr, /cannot be used with --tls-cert/);

  const badPort = await refusedStart(t, ['--tls-port', 'yes', '--tls-cert', good.cert, '--tls-key', good.key]);
  t.is(badPort.code, 2);
  t.regex(badPort.stderr, /--tls-port must be empty \(no TLS\) or a whole number from 0 to 65535/);
});

/** The client's exit status, once it exited and its stderr was read to the end (exit can come first). */
async function finished(run: PipedClient): Promise<number | string> {
  const code = await within(run.exited, 10_000, () => run.stderr());
  const stderr = run.proc.stderr!;
  if (!stderr.readableEnded) await within(new Promise((resolve) => stderr.once('end', resolve)), 10_000, () => run.stderr());
  return code;
}

test('mychat --tls verifies the server: it chats when given the CA, and refuses an unknown CA unless --insecure (with a warning)', async (t) => {
  const ca = makeCa();
  const { daemon, tlsPort } = await tlsDaemon(makeServerCert(ca, 'server', '1001'));
  const plain = await register(daemon.port, 'plainpat');
  sockets.push(plain.socket);

  const verified = runClient(['--tls', '--ca', ca.cert, '--nick', 'tess', '127.0.0.1', String(tlsPort)]);
  await plain.waitForLine('JOIN #lobby tess');
  verified.proc.stdin!.write('hello over TLS\n');
  await plain.waitForLine('MSG #lobby tess hello over TLS');
  plain.send('hello tess');
  await verified.waitForLine('MSG #lobby plainpat hello tess');
  verified.proc.stdin!.end();
  t.is(await finished(verified), 0, verified.stderr());
  t.is(verified.stderr(), '');

  // The throwaway CA is not among the system's: without --ca the handshake is refused and nothing is sent.
  const untrusted = runClient(['--tls', '--nick', 'ursula', '127.0.0.1', String(tlsPort)], {}, 'ignore');
  t.is(await finished(untrusted), 3);
  t.regex(untrusted.stderr(), /certificate is not signed by a CA this client trusts.*--ca FILE/);
  t.notRegex(daemon.stderr(), /nick=ursula/);

  const insecure = runClient(['--tls', '--insecure', '--nick', 'ivan', '127.0.0.1', String(tlsPort)]);
  await plain.waitForLine('JOIN #lobby ivan');
  insecure.proc.stdin!.end('unverified but encrypted\n');
  await plain.waitForLine('MSG #lobby ivan unverified but encrypted');
  t.is(await finished(insecure), 0);
  t.regex(insecure.stderr(), /^mychat: warning: --insecure: the server's certificate is not checked/);
});

test('mychat refuses --ca and --insecure without --tls, and an unreadable --ca file', async (t) => {
  for (const [args, message] of [
    [['--ca', '/nonexistent/ca.pem', '127.0.0.1'], /--ca needs --tls/],
    [['--insecure', '127.0.0.1'], /--insecure needs --tls/],
    [['--tls', '--ca', '/nonexistent/ca.pem', '127.0.0.1'], /cannot read --ca \/nonexistent\/ca\.pem: ENOENT/],
  ] as const) {
    const run = runClient([...args], {}, 'ignore');
    t.is(await finished(run), 2, args.join(' '));
    t.regex(run.stderr(), message);
  }
});

/** Two ports that were free a moment ago (systemd-socket-activate cannot listen on port 0). */
async function freePorts(): Promise<number[]> {
  const servers = await Promise.all(
    [0, 1].map(() => new Promise<net.Server>((resolve) => {
      const server = net.createServer();
      server.listen(0, '127.0.0.1', () => resolve(server));
    })),
  );
  const ports = servers.map((server) => (server.address() as net.AddressInfo).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

test('socket activation: a socket passed with FileDescriptorName=tls is served as the TLS port, the other as plain', async (t) => {
  requireBinaries('systemd-socket-activate');
  const ca = makeCa();
  const files = makeServerCert(ca, 'server', '1001');
  let activated: { ports: number[]; stderr: () => string } | undefined;
  // Another process may take a port between freePorts and the bind; a few fresh attempts settle that.
  for (let attempt = 1; activated === undefined; attempt++) {
    const ports = await freePorts();
    const proc = spawn(
      'systemd-socket-activate',
      [...ports.flatMap((port) => ['-l', `127.0.0.1:${port}`]), '--fdname=mychatd.socket:tls', process.execPath, DAEMON_JS, '--config', '', '--data-dir', scratchDir(), '--tls-cert', files.cert, '--tls-key', files.key],
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
  const [plainPort, tlsPort] = activated.ports as [number, number];
  // The first connection (TLS) starts the daemon; its handshake waits in the queue meanwhile.
  const tess = await tlsRegister(tlsPort, ca.cert, 'tess');
  const pat = await register(plainPort, 'plainpat');
  sockets.push(pat.socket);
  await tess.waitForLine('JOIN #lobby plainpat');
  pat.send('hello over the plain socket');
  await tess.waitForLine('MSG #lobby plainpat hello over the plain socket');
  tess.send('hello over the TLS socket');
  await pat.waitForLine('MSG #lobby tess hello over the TLS socket');
  const { line } = await waitForText(activated.stderr, / listening .*tls=true/);
  t.regex(line, new RegExp(`port=${tlsPort} tls=true fd=4 activation=systemd `));
  t.regex(activated.stderr(), new RegExp(`listening host=127\\.0\\.0\\.1 port=${plainPort} fd=3 activation=systemd`));
});
