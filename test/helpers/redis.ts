import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { scratchDir } from './daemon';

/** Where Debian's redis-server package puts the server. */
const REDIS_SERVER = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].find((candidate) => existsSync(candidate));

/** How long a redis-server may take to accept connections. */
const START_TIMEOUT_MS = 10_000;

/** A real redis-server on 127.0.0.1, started for a test with no persistence, in a temporary directory. */
export interface RedisServer {
  port: number;
  /** redis://127.0.0.1:PORT */
  url: string;
  /** Stops the server (SIGTERM, then SIGKILL after 3 s); resolves when it has exited. */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty (it saves nothing). */
  restart(): Promise<void>;
}

/**
 * True when redis-server is installed. Tests that need it fail without it under CI=true (never a silent
 * skip there); elsewhere they are not run and their titles say so.
 */
export const haveRedis = REDIS_SERVER !== undefined;

/** A free loopback port: the kernel picks one for a throwaway listener, which is closed before Redis binds it. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address() as net.AddressInfo;
      server.close(() => resolve(address.port));
    });
  });
}

/** Resolves once something accepts connections on 127.0.0.1:`port` and answers PING, or rejects after the timeout. */
async function waitForPong(port: number, proc: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`redis-server exited (${proc.exitCode}): ${output()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.setTimeout(500);
      socket.once('connect', () => socket.write('PING\r\n'));
      socket.once('data', (data) => {
        socket.destroy();
        resolve(data.toString().startsWith('+PONG'));
      });
      socket.once('error', () => resolve(false));
      socket.once('timeout', () => {
        socket.destroy();
        resolve(false);
      });
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`redis-server did not start on port ${port}: ${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Starts redis-server on a free loopback port with `--save '' --appendonly no` in a temporary directory. */
export async function startRedis(): Promise<RedisServer> {
  if (REDIS_SERVER === undefined) throw new Error('redis-server is not installed (Debian: apt-get install redis-server)');
  const dir = scratchDir();
  const port = await freePort();
  let proc: ChildProcess;
  let output = '';
  const launch = async (): Promise<void> => {
    output = '';
    proc = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--protected-mode', 'yes'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    proc.stdout!.setEncoding('utf8').on('data', (d: string) => (output = (output + d).slice(-4000)));
    proc.stderr!.setEncoding('utf8').on('data', (d: string) => (output = (output + d).slice(-4000)));
    await waitForPong(port, proc, () => output);
  };
  const stop = async (): Promise<void> => {
    const current = proc;
    if (current.exitCode !== null || current.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => current.once('exit', () => resolve()));
    current.kill('SIGTERM');
    const timer = setTimeout(() => current.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  };
  await launch();
  process.on('exit', () => proc.kill('SIGKILL'));
  return { port, url: `redis://127.0.0.1:${port}`, stop, restart: launch };
}
