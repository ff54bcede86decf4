#!/usr/bin/env node
import net from 'node:net';
import { ChatCore } from '../lib/core/chat-core';
import os from 'node:os';
import { LocalRoomBus } from '../lib/cluster/local-bus';
import { RedisCluster } from '../lib/cluster/redis-cluster';
import { WorkerHistoryReader } from '../lib/history/history-reader';
import { startRetention } from './retention';
import { HistoryOpenError } from '../lib/history/sqlite-history-store';
import { ThreadedSqliteStore } from '../lib/history/sqlite-threaded-store';
import { DatabaseOpenError, PostgresHistoryStore, redactUrl } from '../lib/history/postgres-history-store';
import { PostgresHistoryQueries } from '../lib/history/postgres-history-queries';
import type { NewHistoryEntry } from '../lib/core/ports/history-store';
import { createLogger, stormGuard, type Logger } from '../lib/log';
import type { FloodSettings } from '../lib/transport/flood';
import { OutputTurn } from '../lib/transport/output-turn';
import { ChatListener } from '../lib/transport/tcp/tcp-listener';
import { packageVersion } from '../lib/version';
import { WebSocketDoor } from '../lib/transport/websocket/websocket-door';
import { nameKey, normaliseName } from '../lib/protocol/text-hygiene';
import { changedOptions, nickList, parseOptions, reloadedOptions, roomList, tlsPortOf, UsageError, webOriginList, webPortOf, type DaemonOptions } from './options';
import { notifySystemd, takeNamedListenFds, TLS_FD_NAME, WEB_FD_NAME } from './systemd';
import { loadTlsCredentials, TlsCredentialsError, TlsDoor, type TlsCredentials } from './tls-door';

/** How long shutdown waits for clients to take their goodbye before cutting them off. */
const SHUTDOWN_GRACE_MS = 2000;

/** How long shutdown may spend on a last attempt to write history that a storage outage left in memory. */
const HISTORY_LAST_ATTEMPT_MS = 2000;

/**
 * Accept queue length, as in mychatd.socket's Backlog=. Node's default of 511 would also shrink the queue
 * of a socket systemd passed us (listening again resets it), and after a restart every client reconnects
 * at once. The kernel caps it at net.core.somaxconn.
 */
const LISTEN_BACKLOG = 4096;

/** The listener's input budgets from the daemon's options. */
function floodOf(options: DaemonOptions): Partial<FloodSettings> {
  return {
    addressLineBurst: options.floodAddressBurst,
    addressLineRate: options.floodAddressRate,
    inputRate: options.inputRate,
    addressInputRate: options.inputAddressRate,
    floodKickSeconds: options.floodKick,
    connectRate: options.connectRate,
  };
}

/** Parses the options at start: a usage or configuration error ends the process with status 2. */
function optionsOrExit(argv: string[], version: string): DaemonOptions {
  try {
    return parseOptions(argv, version);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`mychatd: ${error.message}\nTry 'mychatd --help' for the options.\n`);
    process.exit(2);
  }
}

/** "host:port" of a listening server, for logs and the systemd status line. */
function describeAddress(server: net.Server): { host: string; port: number } {
  const address = server.address();
  if (typeof address === 'object' && address) return { host: address.address, port: address.port };
  return { host: String(address), port: 0 };
}

/**
 * Reads the TLS certificate and key at start when the TLS door is on (--tls-port, or a socket systemd
 * passed under the name "tls"): a file that cannot be used ends the process with status 2.
 */
function tlsCredentialsOrExit(options: DaemonOptions, tlsFds: number[]): TlsCredentials | undefined {
  if (tlsPortOf(options) === undefined && tlsFds.length === 0) return undefined;
  if (options.tlsCert === '' || options.tlsKey === '') {
    process.stderr.write(`mychatd: systemd passed a socket named "${TLS_FD_NAME}", which needs --tls-cert and --tls-key (PEM files)\n`);
    process.exit(2);
  }
  try {
    return loadTlsCredentials(options.tlsCert, options.tlsKey);
  } catch (error) {
    if (!(error instanceof TlsCredentialsError)) throw error;
    process.stderr.write(`mychatd: ${error.message}\n`);
    process.exit(2);
  }
}

/** The history store and its reader chosen by the options (none with --history off); exits 1 when the store cannot be opened. */
async function openHistory(
  options: DaemonOptions,
  log: Logger,
  onOutage: (unsaved: readonly NewHistoryEntry[]) => void,
  onRoomExisted: (roomKey: string, creator: string) => void,
): Promise<{ history?: ThreadedSqliteStore | PostgresHistoryStore; reader?: WorkerHistoryReader | PostgresHistoryQueries }> {
  // --history off: no database at all; the core then stores nothing and answers NO_HISTORY.
  if (options.history === 'off') return {};
  try {
    if (options.database !== '') {
      // Rooms and the creation log are read here, before the core starts: the core's loads are synchronous.
      const history = await PostgresHistoryStore.open({ url: options.database, log, onOutage, onRoomExisted, keyOf: nameKey });
      log.log('info', 'history-store', { store: 'postgres', database: redactUrl(options.database), node: history.node });
      // Reads go to PostgreSQL over their own small pool; the server enforces each query's time budget.
      return { history, reader: new PostgresHistoryQueries({ url: options.database, log, store: history }) };
    }
    // Commits, search indexing and WAL checkpoints (with their fsyncs) run on a writer thread, off the event loop.
    const history = new ThreadedSqliteStore({ dataDir: options.dataDir, sync: options.sync, log, onOutage });
    // History reads a client can ask for run in worker threads, so no query blocks chat; each waits for
    // the writer to commit what was queued before it.
    return { history, reader: new WorkerHistoryReader({ dataDir: options.dataDir, log, store: history }) };
  } catch (error) {
    if (!(error instanceof HistoryOpenError) && !(error instanceof DatabaseOpenError)) throw error;
    // Refuse to start rather than fail later or replace what is there: the message says what to do.
    log.log('error', 'history-unavailable', { error: error.message });
    process.stderr.write(`mychatd: ${error.message}\n`);
    process.exit(1);
  }
}

async function main(): Promise<void> {
  const version = packageVersion();
  const argv = process.argv.slice(2);
  let options = optionsOrExit(argv, version);
  // Read before anything can spawn a child, so none inherits the variables. Sockets named "tls"
  // (FileDescriptorName=tls) are TLS ports; the others are plain.
  const inherited = takeNamedListenFds();
  const inheritedFds = inherited.filter((s) => s.name !== TLS_FD_NAME && s.name !== WEB_FD_NAME).map((s) => s.fd);
  const inheritedWebFds = inherited.filter((s) => s.name === WEB_FD_NAME).map((s) => s.fd);
  const inheritedTlsFds = inherited.filter((s) => s.name === TLS_FD_NAME).map((s) => s.fd);
  const tlsCredentials = tlsCredentialsOrExit(options, inheritedTlsFds);

  const log: Logger = stormGuard(createLogger(options.logLevel));
  // onOutage can only fire after an append, so `core` (declared below) exists by then.
  const { history, reader } = await openHistory(
    options,
    log,
    (unsaved) => core.historyOutage(unsaved),
    (roomKey, creator) => core.roomExisted(roomKey, creator),
  );
  // --redis: this server is one node of a cluster; rooms, presence and nicknames span the nodes through Redis.
  const cluster =
    options.redis === ''
      ? undefined
      : new RedisCluster({
          url: options.redis,
          nodeId: options.nodeId || `${os.hostname()}-${process.pid}`,
          leaseMs: options.nickLease * 1000,
          layout: options.redisLayout,
          log,
          // With one database shared by the nodes, a line reaches other nodes once it is in the database.
          ...(history instanceof PostgresHistoryStore ? { stored: () => history.written() } : {}),
        });
  const core: ChatCore = new ChatCore({
    serverName: 'mychat',
    version,
    motd: options.motd,
    maxClients: options.maxClients,
    maxPerAddress: options.maxPerAddress,
    registrationTimeoutMs: options.nickTimeout * 1000,
    maxRooms: options.maxRooms,
    roomUnusedMs: options.roomUnusedHours * 3_600_000,
    idleTimeoutMs: options.idleTimeout * 1000,
    largeRoom: options.largeRoom,
    autoJoin: normaliseName(options.autoJoin),
    log,
    history,
    historyQueries: reader,
    historyReplay: options.historyReplay,
    historyOffRooms: roomList(options.historyOffRooms),
    reservedNicks: nickList(options.reservedNicks),
    nickHoldMs: options.nickHold * 1000,
    // One process: room events reach this process's members; in a cluster, the other nodes' members too.
    bus: cluster ?? new LocalRoomBus(),
    presence: cluster,
    nicks: cluster?.nickRegistry(() => core.options),
  });
  cluster?.start(core);
  const stopRetention = startRetention(core, {
    maxMessagesPerRoom: options.historyMaxMessages,
    maxAgeMs: options.historyMaxDays * 86_400_000,
  });
  // One output turn for every door: a turn's messages go to the history store before any of its output
  // leaves, whatever the transport (with --sync full, committed and on disk: see sqlite-threaded-store.ts).
  const turn = new OutputTurn();
  if (history !== undefined) turn.beforeFlush = () => history.commit();
  const listener = new ChatListener(core, { maxSendQueueBytes: options.maxSendQueue, floodBurst: options.floodBurst, floodRate: options.floodRate, flood: floodOf(options), log }, turn);

  // Socket activation may pass several listening sockets (one per ListenStream=); the first is the
  // listener's own server, the others feed the same listener.
  const extraServers = inheritedFds.slice(1).map(() => net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => listener.accept(socket)));
  const servers = [listener.server, ...extraServers];
  // The TLS doors: decrypted sockets go to the same listener, after the handshake. One per TLS socket
  // systemd passed, else one on --tls-port.
  const tlsFds: Array<number | undefined> = !tlsCredentials ? [] : inheritedTlsFds.length > 0 ? inheritedTlsFds : [undefined];
  const tlsDoors = tlsFds.map(() => new TlsDoor(tlsCredentials!, (socket) => listener.accept(socket), log, options.maxClients));
  // The WebSocket doors: one per socket systemd passed under the name "web", else one on --web-port. Their
  // connections go through the listener too (same budgets, caps and output turn).
  const webFds: Array<number | undefined> = inheritedWebFds.length > 0 ? inheritedWebFds : webPortOf(options) !== undefined ? [undefined] : [];
  const webDoors = webFds.map(
    () =>
      new WebSocketDoor((source, channel, address, codec) => listener.acceptChannel(source, channel, address, codec), {
        origins: webOriginList(options.webOrigins),
        chatPort: () => describeAddress(listener.server).port,
        maxConnections: options.maxClients,
        log,
      }),
  );
  let pending = servers.length + tlsDoors.length + webDoors.length;
  const listenWeb = (): void => {
    webDoors.forEach((door, i) => {
      const fd = webFds[i];
      door.server.once('error', (error: NodeJS.ErrnoException) => {
        const where = fd === undefined ? { host: options.host || '*', port: webPortOf(options) } : { fd };
        log.log('error', 'listen-failed', { ...where, web: true, error: error.code ?? error.message });
        process.exit(1);
      });
      const onListening = (): void => {
        const { host, port } = describeAddress(door.server);
        log.log('info', 'listening', { host, port, web: true, fd, activation: fd === undefined ? undefined : 'systemd' });
        if (--pending === 0) notifySystemd(log, ['--ready', `--status=Listening on port ${describeAddress(listener.server).port}, WebSocket port ${port}`]);
      };
      if (fd === undefined) door.server.listen({ host: options.host || undefined, port: webPortOf(options), backlog: LISTEN_BACKLOG }, onListening);
      else door.server.listen({ fd }, LISTEN_BACKLOG, onListening);
    });
  };
  const listenTls = (): void => {
    tlsDoors.forEach((door, i) => {
      const fd = tlsFds[i];
      const tlsPort = tlsPortOf(options);
      door.server.once('error', (error: NodeJS.ErrnoException) => {
        const where = fd === undefined ? { host: options.host || '*', port: tlsPort } : { fd };
        log.log('error', 'listen-failed', { ...where, tls: true, error: error.code ?? error.message });
        process.exit(1);
      });
      const onListening = (): void => {
        const { host, port } = describeAddress(door.server);
        log.log('info', 'listening', { host, port, tls: true, fd, activation: fd === undefined ? undefined : 'systemd', cert: tlsCredentials!.fingerprint, expires: tlsCredentials!.validTo });
        if (--pending === 0) notifySystemd(log, ['--ready', `--status=Listening on port ${describeAddress(listener.server).port}, TLS port ${port}`]);
      };
      if (fd === undefined) door.server.listen({ host: options.host || undefined, port: tlsPort, backlog: LISTEN_BACKLOG }, onListening);
      else door.server.listen({ fd }, LISTEN_BACKLOG, onListening);
    });
  };
  servers.forEach((server, i) => {
    const fd = inheritedFds[i];
    server.once('error', (error: NodeJS.ErrnoException) => {
      const where = fd === undefined ? { host: options.host || '*', port: options.port } : { fd };
      log.log('error', 'listen-failed', { ...where, error: error.code ?? error.message });
      process.exit(1);
    });
    const onListening = (): void => {
      const { host, port } = describeAddress(server);
      log.log('info', 'listening', { host, port, fd, activation: fd === undefined ? undefined : 'systemd', version, config: options.configFile });
      // The TLS port is logged after the plain one, so "the first listening line" stays the plain port.
      if (server === listener.server) {
        listenTls();
        listenWeb();
      }
      if (--pending === 0) notifySystemd(log, ['--ready', `--status=Listening on port ${port}`]);
    };
    if (fd === undefined) server.listen({ host: options.host || undefined, port: options.port, backlog: LISTEN_BACKLOG }, onListening);
    // With a handle, Node reads the backlog only from the second argument, not from the object.
    else server.listen({ fd }, LISTEN_BACKLOG, onListening);
  });

  const reload = (): void => {
    let next: DaemonOptions;
    try {
      next = parseOptions(argv, version);
    } catch (error) {
      // A broken file must not take a running server down: keep serving with what we have.
      log.log('error', 'reload-failed', { error: error instanceof Error ? error.message : String(error), kept: 'running configuration' });
      return;
    }
    const { reloadable, restartOnly } = changedOptions(options, next);
    if (restartOnly.length > 0) log.log('warn', 'restart-needed', { options: restartOnly.join(','), note: 'these take effect at the next restart' });
    core.reconfigure({
      motd: next.motd,
      maxClients: next.maxClients,
      maxPerAddress: next.maxPerAddress,
      registrationTimeoutMs: next.nickTimeout * 1000,
      reservedNicks: nickList(next.reservedNicks),
      nickHoldMs: next.nickHold * 1000,
      maxRooms: next.maxRooms,
      roomUnusedMs: next.roomUnusedHours * 3_600_000,
      idleTimeoutMs: next.idleTimeout * 1000,
      largeRoom: next.largeRoom,
      autoJoin: normaliseName(next.autoJoin),
      historyOffRooms: roomList(next.historyOffRooms),
    });
    listener.reconfigure({ maxSendQueueBytes: next.maxSendQueue, floodBurst: next.floodBurst, floodRate: next.floodRate, flood: floodOf(next) });
    if (tlsDoors.length > 0) reloadTls(tlsDoors, next);
    for (const door of webDoors) door.setMaxConnections(next.maxClients);
    // Restart-only settings keep describing what is running, so a later reload warns about them again.
    options = reloadedOptions(options, next);
    // Confirmed at the level in force when the signal came, so lowering the level still shows that it worked.
    log.log('info', 'reloaded', { changed: reloadable.join(',') || 'nothing', config: next.configFile });
    log.level = next.logLevel;
  };
  // A certificate renewed on disk takes effect for new handshakes; established connections are not touched.
  // A file that cannot be used keeps the certificate in force, so a botched renewal cannot take TLS down.
  const reloadTls = (doors: TlsDoor[], next: DaemonOptions): void => {
    for (const door of doors) door.setMaxConnections(next.maxClients);
    try {
      const credentials = loadTlsCredentials(next.tlsCert, next.tlsKey);
      for (const door of doors) door.useCredentials(credentials);
      log.log('info', 'tls-reloaded', { cert: credentials.fingerprint, expires: credentials.validTo });
    } catch (error) {
      if (!(error instanceof TlsCredentialsError)) throw error;
      log.log('error', 'tls-reload-failed', { error: error.message, kept: 'certificate in use' });
    }
  };
  process.on('SIGHUP', reload);

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) {
      log.log('warn', 'forced-exit', { signal });
      process.exit(1);
    }
    stopping = true;
    log.log('info', 'shutting-down', { signal, clients: listener.connectionCount });
    void (async () => {
      const closed = Promise.all([
        listener.stopAccepting(),
        ...extraServers.map((s) => new Promise((r) => s.close(r))),
        ...tlsDoors.map((door) => door.close()),
        ...webDoors.map((door) => door.close()),
      ]);
      core.shutdown();
      await listener.drain(SHUTDOWN_GRACE_MS);
      for (const door of tlsDoors) door.cutHandshakes();
      // WebSocket clients were told goodbye by core.shutdown(); give their close handshakes the same grace.
      const webDeadline = Date.now() + SHUTDOWN_GRACE_MS;
      while (webDoors.some((door) => door.connectionCount > 0) && Date.now() < webDeadline) await new Promise((r) => setTimeout(r, 20));
      for (const door of webDoors) door.cut();
      await closed;
      stopRetention();
      // After core.shutdown(): the other nodes have been told that this node's users left.
      await cluster?.close();
      await reader?.close();
      // Logs exactly how many messages were not kept (history-closed notKept=N).
      await history?.close(HISTORY_LAST_ATTEMPT_MS);
      log.log('info', 'stopped');
      process.exit(0);
    })();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('uncaughtException', (error) => {
    // Per-connection faults are caught in the adapter; reaching here means shared state may be broken.
    log.log('error', 'uncaught-exception', { error: error.stack ?? error.message });
    process.exit(70);
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`mychatd: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(70);
});
