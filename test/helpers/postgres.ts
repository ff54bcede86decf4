import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';

/*
 * A real PostgreSQL 15 for tests, in a temporary data directory on a loopback port. initdb refuses to run
 * as root, so as root (CI) the server runs as the `postgres` user through runuser; as anyone else it runs
 * as that user. One server serves a whole test file; each test gets a fresh database.
 */

/** Where Debian's postgresql-15 package puts the server binaries. */
export const PG_BIN = '/usr/lib/postgresql/15/bin';
/** The superuser initdb creates (trust authentication on loopback only). */
const PG_USER = 'mychat';

/** A running test server. */
export interface PostgresServer {
  port: number;
  /** The URL of database `name` on this server. */
  url(name: string): string;
  /** Creates a new, empty database and returns its URL. */
  createDatabase(): Promise<string>;
  /** Stops the server (fast shutdown: connections are cut), as an outage would. */
  stop(): void;
  /** Starts it again on the same port and data. */
  start(): void;
  /** Stops it for good and removes its files. */
  destroy(): void;
}

const asRoot = process.getuid?.() === 0;

/** Runs a PostgreSQL binary, as the postgres user when we are root; throws with its output when it fails. */
function pgRun(binary: string, args: string[]): void {
  const command = asRoot ? 'runuser' : path.join(PG_BIN, binary);
  const argv = asRoot ? ['-u', 'postgres', '--', path.join(PG_BIN, binary), ...args] : args;
  const result = spawnSync(command, argv, { encoding: 'utf8', timeout: 60_000 });
  if (result.status !== 0) throw new Error(`${binary} ${args.join(' ')} failed (${result.status ?? result.signal}): ${result.stderr}${result.stdout}${result.error?.message ?? ''}`);
}

/** A free TCP port on 127.0.0.1 (closed again before PostgreSQL binds it). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

/** Starts a fresh PostgreSQL 15 server; about 2 s. A missing installation is an error naming the package. */
export async function startPostgres(): Promise<PostgresServer> {
  if (!existsSync(path.join(PG_BIN, 'postgres'))) {
    throw new Error(`PostgreSQL 15 is not installed (no ${PG_BIN}/postgres): apt-get install postgresql (.ci/run does it)`);
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mychat-pg-'));
  if (asRoot) chownSync(dir, Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout), Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout));
  const data = path.join(dir, 'data');
  pgRun('initdb', ['-D', data, '-A', 'trust', '-U', PG_USER, '-E', 'UTF8', '--no-sync']);
  let port = 0;
  let running = false;
  const start = (): void => {
    // fsync off: the tests do not survive power loss, and it saves time on shared disks.
    pgRun('pg_ctl', ['-D', data, '-w', '-t', '30', '-l', path.join(dir, 'log'), '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`, 'start']);
    running = true;
  };
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    try {
      start();
      break;
    } catch (error) {
      // Someone took the port between freePort and the bind: try another.
      if (attempt >= 2) throw error;
    }
  }
  const stop = (): void => {
    if (!running) return;
    pgRun('pg_ctl', ['-D', data, '-w', '-m', 'fast', 'stop']);
    running = false;
  };
  const onExit = (): void => {
    if (running) spawnSync(asRoot ? 'runuser' : path.join(PG_BIN, 'pg_ctl'), [...(asRoot ? ['-u', 'postgres', '--', path.join(PG_BIN, 'pg_ctl')] : []), '-D', data, '-m', 'immediate', 'stop']);
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', onExit);
  const url = (name: string): string => `postgres://${PG_USER}@127.0.0.1:${port}/${name}`;
  let databases = 0;
  return {
    port,
    url,
    async createDatabase() {
      const name = `t${process.pid}_${++databases}`;
      const client = new pg.Client({ connectionString: url('postgres') });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return url(name);
    },
    stop,
    start,
    destroy() {
      process.removeListener('exit', onExit);
      try {
        stop();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
