#!/usr/bin/env node
import { ChatCore } from '../lib/core/chat-core';
import { createLogger } from '../lib/log';
import { ChatListener } from '../lib/net/tcp-listener';
import { packageVersion } from '../lib/version';
import { parseOptions, UsageError, type DaemonOptions } from './options';

/** How long shutdown waits for clients to take their goodbye before cutting them off. */
const SHUTDOWN_GRACE_MS = 2000;

function main(): void {
  const version = packageVersion();
  let options: DaemonOptions;
  try {
    options = parseOptions(process.argv.slice(2), version);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`mychatd: ${error.message}\nTry 'mychatd --help' for the options.\n`);
    process.exit(2);
  }

  const log = createLogger(options.logLevel);
  const core = new ChatCore({
    serverName: 'mychat',
    version,
    motd: options.motd,
    maxClients: options.maxClients,
    registrationTimeoutMs: options.nickTimeout * 1000,
    log,
  });
  const listener = new ChatListener(core, {
    maxSendQueueBytes: options.maxSendQueue,
    floodBurst: options.floodBurst,
    floodRate: options.floodRate,
    log,
  });

  listener.server.once('error', (error: NodeJS.ErrnoException) => {
    log.log('error', 'listen-failed', { host: options.host || '*', port: options.port, error: error.code ?? error.message });
    process.exit(1);
  });
  listener.server.listen({ host: options.host || undefined, port: options.port }, () => {
    const address = listener.server.address();
    const port = typeof address === 'object' && address ? address.port : options.port;
    log.log('info', 'listening', { host: options.host || '*', port, version });
  });

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) {
      log.log('warn', 'forced-exit', { signal });
      process.exit(1);
    }
    stopping = true;
    log.log('info', 'shutting-down', { signal, clients: listener.connectionCount });
    void (async () => {
      const closed = listener.stopAccepting();
      core.shutdown();
      await listener.drain(SHUTDOWN_GRACE_MS);
      await closed;
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

main();
