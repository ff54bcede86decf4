import yargs from 'yargs';
import { LOG_LEVELS, type LogLevel } from '../lib/log';
import { DEFAULT_SEND_QUEUE_BYTES } from '../lib/net/tcp-listener';

/** The daemon's settings after parsing the command line and MYCHATD_* environment variables. */
export interface DaemonOptions {
  host: string;
  port: number;
  maxClients: number;
  motd: string;
  logLevel: LogLevel;
  nickTimeout: number;
  maxSendQueue: number;
  floodBurst: number;
  floodRate: number;
}

/** Thrown for an invalid option; the entry point prints it and exits with status 2. */
export class UsageError extends Error {}

function integerIn(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new UsageError(`--${name} must be a whole number from ${min} to ${max} (got ${Number.isNaN(value) ? 'not a number' : value})`);
  }
}

/**
 * Parses argv (without node and script) and the environment. `--help` and `--version` print to stdout and
 * exit 0 (yargs' own behaviour); invalid input throws UsageError.
 */
export function parseOptions(argv: string[], version: string): DaemonOptions {
  const parsed = yargs(argv)
    .scriptName('mychatd')
    .usage('$0 [options]\n\nThe mychat chat daemon: a line-based chat server any nc or telnet session can use.')
    .env('MYCHATD')
    // A repeated option means the last one wins, as in most daemons (and systemd drop-ins that append flags).
    .parserConfiguration({ 'duplicate-arguments-array': false })
    .option('host', { type: 'string', default: '', describe: 'Address to listen on (empty: all interfaces) [env MYCHATD_HOST]' })
    .option('port', { type: 'number', default: 7777, describe: 'TCP port to listen on (0: any free port) [env MYCHATD_PORT]' })
    .option('max-clients', { type: 'number', default: 10000, describe: 'Most simultaneous connections [env MYCHATD_MAX_CLIENTS]' })
    .option('motd', { type: 'string', default: '', describe: 'Message of the day shown after login; \\n separates lines [env MYCHATD_MOTD]' })
    .option('log-level', { type: 'string', choices: LOG_LEVELS as unknown as string[], default: 'info', describe: 'Least severe events logged to stderr [env MYCHATD_LOG_LEVEL]' })
    .option('nick-timeout', { type: 'number', default: 60, describe: 'Seconds a new connection has to pick a nickname [env MYCHATD_NICK_TIMEOUT]' })
    .option('max-send-queue', { type: 'number', default: DEFAULT_SEND_QUEUE_BYTES, describe: 'Bytes of unsent output after which a client that does not read is dropped [env MYCHATD_MAX_SEND_QUEUE]' })
    .option('flood-burst', { type: 'number', default: 20, describe: 'Lines a client may send at once before flood control paces it [env MYCHATD_FLOOD_BURST]' })
    .option('flood-rate', { type: 'number', default: 5, describe: 'Lines per second a client may send after its burst; 0 turns flood control off [env MYCHATD_FLOOD_RATE]' })
    .version(version)
    .alias('h', 'help')
    .alias('v', 'version')
    .strict()
    .fail((message, error) => {
      throw new UsageError(error?.message ?? message);
    })
    .parseSync();

  if (parsed._.length > 0) throw new UsageError(`unexpected argument: ${String(parsed._[0])}`);
  integerIn('port', parsed.port, 0, 65535);
  integerIn('max-clients', parsed['max-clients'], 1, 1_000_000);
  integerIn('nick-timeout', parsed['nick-timeout'], 1, 86_400);
  integerIn('max-send-queue', parsed['max-send-queue'], 65536, 1024 * 1024 * 1024);
  integerIn('flood-burst', parsed['flood-burst'], 1, 100_000);
  integerIn('flood-rate', parsed['flood-rate'], 0, 100_000);
  if (parsed.motd.length > 4096) throw new UsageError('--motd is longer than 4096 characters');
  return {
    host: parsed.host,
    port: parsed.port,
    maxClients: parsed['max-clients'],
    motd: parsed.motd.replace(/\\n/g, '\n'),
    logLevel: parsed['log-level'] as LogLevel,
    nickTimeout: parsed['nick-timeout'],
    maxSendQueue: parsed['max-send-queue'],
    floodBurst: parsed['flood-burst'],
    floodRate: parsed['flood-rate'],
  };
}
