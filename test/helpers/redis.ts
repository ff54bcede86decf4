import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { scratchDir, startDaemon, type Daemon } from './daemon';

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
  /** The server's process id (for CPU figures). */
  pid(): number;
}

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

/**
 * Starts redis-server on a free loopback port with `--save '' --appendonly no` in a temporary directory.
 * Without redis-server it throws, so a cluster test fails (in CI and locally alike) rather than skip.
 */
export async function startRedis(): Promise<RedisServer> {
  if (REDIS_SERVER === undefined) {
    throw new Error(`cluster tests need redis-server (${process.env.CI ? 'CI' : 'local run'}): install the Debian package redis-server`);
  }
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
  return { port, url: `redis://127.0.0.1:${port}`, stop, restart: launch, pid: () => proc.pid! };
}

/** Options every test node gets: a short lease, so a killed node's names free themselves in about two seconds. */
export const TEST_LEASE_ARGS = ['--nick-lease', '2'];

/** A Redis and `count` mychatd nodes sharing it, each logged `cluster-ready`. */
export interface TestCluster {
  redis: RedisServer;
  nodes: Daemon[];
  /** Stops every node, then Redis. */
  stop(): Promise<void>;
}

/** Starts a Redis and `count` nodes (node ids n1, n2, ...) with `args` added, and waits until each joined. */
export async function startCluster(count: number, args: string[] = []): Promise<TestCluster> {
  const redis = await startRedis();
  // One after another: on a loaded machine, daemons starting together can each miss startDaemon's deadline.
  const nodes: Daemon[] = [];
  try {
    for (let i = 1; i <= count; i++) {
      const node = await startDaemon(['--redis', redis.url, '--node-id', `n${i}`, ...TEST_LEASE_ARGS, ...args]);
      nodes.push(node);
      await node.waitForLog(/cluster-ready/, 0, 10_000);
    }
  } catch (error) {
    await Promise.all(nodes.map((node) => node.stop('SIGKILL')));
    await redis.stop();
    throw error;
  }
  return {
    redis,
    nodes,
    stop: async () => {
      await Promise.all(nodes.map((node) => node.stop()));
      await redis.stop();
    },
  };
}

/** A TCP relay to a loopback port that delays every chunk, each way, as a distant network would. */
export interface LatencyProxy {
  port: number;
  /** Closes the listener and every relayed connection. */
  close(): Promise<void>;
}

/**
 * Relays connections on a free loopback port to 127.0.0.1:`targetPort`, holding each chunk `delayMs` in
 * each direction (order kept: timers of equal delay fire in the order they were set). A node given the
 * proxy's URL is a node far from its Redis, which widens the races between nodes that tests must cover.
 */
export async function startLatencyProxy(targetPort: number, delayMs: number): Promise<LatencyProxy> {
  const sockets = new Set<net.Socket>();
  const relay = (from: net.Socket, to: net.Socket): void => {
    from.on('data', (chunk) => {
      setTimeout(() => {
        if (!to.destroyed) to.write(chunk);
      }, delayMs);
    });
    from.on('close', () => setTimeout(() => to.destroy(), delayMs));
    from.on('error', () => undefined);
  };
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    }
    relay(client, upstream);
    relay(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Sends one command to the Redis on 127.0.0.1:`port` and resolves with its reply as text (simple or bulk string). */
export function redisQuery(port: number, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let reply = Buffer.alloc(0);
    socket.setTimeout(5000, () => socket.destroy(new Error('Redis did not answer in time')));
    socket.once('error', reject);
    socket.once('connect', () => socket.write(`*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('')}`));
    socket.on('data', (chunk: Buffer) => {
      reply = Buffer.concat([reply, chunk]);
      const end = reply.indexOf('\r\n');
      if (end < 0) return;
      const head = reply.subarray(0, end).toString();
      if (head.startsWith('$')) {
        const length = Number(head.slice(1));
        if (reply.length < end + 2 + Math.max(0, length)) return;
        socket.end();
        resolve(length < 0 ? '' : reply.subarray(end + 2, end + 2 + length).toString());
      } else {
        socket.end();
        if (head.startsWith('-')) reject(new Error(head));
        else resolve(head.slice(1));
      }
    });
  });
}
