import fs from 'node:fs';
import path from 'node:path';
import yargs from 'yargs';
import { ConfigFileError, parseConfigText } from '../lib/config-file';
import { LOG_LEVELS, type LogLevel } from '../lib/log';
import { DEFAULT_FLOOD } from '../lib/transport/flood';
import { DEFAULT_SEND_QUEUE_BYTES } from '../lib/transport/tcp/tcp-listener';
import { DEFAULT_LARGE_ROOM, DEFAULT_MAX_PER_ADDRESS, DEFAULT_RESERVED_NICKS } from '../lib/core/chat-core';
import { nickProblem, normaliseName, roomProblem } from '../lib/protocol/text-hygiene';
import { LIMITS, LOBBY } from '../lib/protocol/limits';
import { REDIS_LAYOUTS } from '../lib/cluster/redis-layout';

/** How the history store flushes to disk: `full` survives power loss, `normal` only a crash of mychatd. */
export const SYNC_MODES = ['normal', 'full'] as const;

/** Whether the daemon stores room history at all (--history). */
export const HISTORY_MODES = ['on', 'off'] as const;

/** One history sync mode. */
export type SyncMode = (typeof SYNC_MODES)[number];

/** The daemon's settings after merging the command line, MYCHATD_* environment, config file and defaults. */
export interface DaemonOptions {
  host: string;
  port: number;
  /** TCP port of the TLS door as text: '' when TLS is off, else 0 to 65535 (0: any free port). */
  tlsPort: string;
  /** PEM file holding the TLS certificate (and any intermediates after it); re-read on reload. */
  tlsCert: string;
  /** PEM file holding the TLS private key; re-read on reload. */
  tlsKey: string;
  /** TCP port of the WebSocket door as text: '' when it is off, else 0 to 65535 (0: any free port). */
  webPort: string;
  /** Origins allowed to open a WebSocket, comma-separated; '' allows only same-origin pages. */
  webOrigins: string;
  maxClients: number;
  /** Most simultaneous connections from one address; 0 means no limit. */
  maxPerAddress: number;
  /** Most rooms on the server, #lobby included. */
  maxRooms: number;
  /** Hours a room with no members and no stored message is kept after it was last left. */
  roomUnusedHours: number;
  /** Seconds a registered user may send nothing before being disconnected; 0 means never. */
  idleTimeout: number;
  /** Members past which a room is large (presence events not fanned out, no NAMES on join); 0: never. */
  largeRoom: number;
  /** The room joined on registering; '' turns the automatic join off. */
  autoJoin: string;
  /** The message of the day as shown: the text of --motd, or the contents of --motd-file. */
  motd: string;
  /** The file the MOTD is read from (re-read on reload), or '' for none. */
  motdFile: string;
  logLevel: LogLevel;
  nickTimeout: number;
  maxSendQueue: number;
  floodBurst: number;
  floodRate: number;
  /** Lines all connections of one address may send at once. */
  floodAddressBurst: number;
  /** Lines per second all connections of one address may send; 0 turns the shared budget off. */
  floodAddressRate: number;
  /** Bytes per second one connection may send; 0 turns the byte budget off. */
  inputRate: number;
  /** Bytes per second all connections of one address may send together; 0 turns it off. */
  inputAddressRate: number;
  /** Seconds a client may keep exceeding its budget before it is disconnected; 0: never. */
  floodKick: number;
  /** New connections per second one address may open; 0: no limit. */
  connectRate: number;
  /** Directory for persistent state (the history database). */
  dataDir: string;
  /** Messages of a room's history shown to someone who joins it; 0 turns replay off. */
  historyReplay: number;
  /** Most messages kept per room; older ones are deleted. */
  historyMaxMessages: number;
  /** Days a message is kept. */
  historyMaxDays: number;
  sync: SyncMode;
  /** `off`: nothing is stored or replayed, no database is opened, and /history and /search answer NO_HISTORY. */
  history: (typeof HISTORY_MODES)[number];
  /** Comma-separated rooms whose history is not kept (see roomList); reloadable. */
  historyOffRooms: string;
  /** PostgreSQL URL holding rooms and history shared by several nodes; '' keeps them in SQLite under dataDir. */
  database: string;
  /** Comma-separated nicknames no one may take (see nickList). */
  reservedNicks: string;
  /** Seconds a nickname stays held for its address after an abrupt disconnect; 0 turns holding off. */
  nickHold: number;
  /** redis:// URL of the Redis the nodes of a cluster share; '' runs this server alone. */
  redis: string;
  /** Name of this node in logs ('' : host name and process id). */
  nodeId: string;
  /** Seconds a node's heartbeat, and so its users' nicknames, outlive it in the cluster. */
  nickLease: number;
  /** How room lines travel between nodes: one Redis channel per room, or per node. */
  redisLayout: (typeof REDIS_LAYOUTS)[number];
  /** The configuration file that was read, or undefined when there was none. */
  configFile: string | undefined;
}

/** Thrown for an invalid option or configuration file; the entry point prints it and exits with status 2. */
export class UsageError extends Error {}

/** How one option is declared and checked, and whether SIGHUP can change it. */
interface OptionSpec {
  field: Exclude<keyof DaemonOptions, 'configFile'>;
  type: 'string' | 'number';
  default: string | number;
  defaultDescription?: string;
  describe: string;
  choices?: readonly string[];
  range?: readonly [number, number];
  maxLength?: number;
  nonEmpty?: boolean;
  /** A path: relative values in a configuration file are taken relative to that file's directory. */
  path?: boolean;
  /** True when a reload (SIGHUP) applies a new value; otherwise it waits for a restart. */
  reload: boolean;
  /** A further check of the value, returning the end of a sentence when it is wrong. */
  check?: (value: string | number) => string | undefined;
}

/** The names of a comma-separated nickname list (--reserved-nicks), normalised, blanks dropped. */
export function nickList(text: string): string[] {
  return text
    .split(',')
    .map((name) => normaliseName(name.trim()))
    .filter((name) => name !== '');
}

/** Why a --reserved-nicks value is wrong: each name must be a valid nickname. */
function nickListProblem(value: string | number): string | undefined {
  for (const name of nickList(String(value))) {
    const wrong = nickProblem(name);
    if (wrong !== undefined) return `lists "${name}", which is not a valid nickname (${wrong})`;
  }
  return undefined;
}

/** The rooms of a comma-separated room list (--history-off-rooms), normalised, blanks dropped. */
export function roomList(text: string): string[] {
  return text
    .split(',')
    .map((name) => normaliseName(name.trim()))
    .filter((name) => name !== '');
}

/** Why a --history-off-rooms value is wrong: each entry must be a valid room name. */
function roomListProblem(value: string | number): string | undefined {
  for (const name of roomList(String(value))) {
    const wrong = roomProblem(name);
    if (wrong !== undefined) return `lists "${name}", which is not a valid room name (${wrong})`;
  }
  return undefined;
}

/** Why an --auto-join value is wrong: empty (off) or a valid room name. */
function autoJoinProblem(value: string | number): string | undefined {
  const text = String(value);
  if (text === '') return undefined;
  const wrong = roomProblem(normaliseName(text));
  return wrong === undefined ? undefined : `must be empty (no automatic join) or a room name: ${wrong} (got ${JSON.stringify(text)})`;
}

/** Why a --redis value is wrong: empty (no cluster) or a redis:// or rediss:// URL. */
function redisUrlProblem(value: string | number): string | undefined {
  const text = String(value);
  if (text === '') return undefined;
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  return url !== undefined && (url.protocol === 'redis:' || url.protocol === 'rediss:') && url.hostname !== ''
    ? undefined
    : `must be empty (no cluster) or a URL such as redis://127.0.0.1:6379 (got ${JSON.stringify(text)})`;
}

/** Why a --node-id value is wrong: empty (host name and pid) or 1-64 letters, digits, '.', '_', ':' or '-'. */
function nodeIdProblem(value: string | number): string | undefined {
  const text = String(value);
  return text === '' || /^[A-Za-z0-9._:-]{1,64}$/.test(text) ? undefined : `must be 1 to 64 letters, digits, ".", "_", ":" or "-" (got ${JSON.stringify(text)})`;
}

/** Why a --tls-port value is wrong: empty (off) or a port number. */
function tlsPortProblem(value: string | number): string | undefined {
  const text = String(value);
  if (text === '') return undefined;
  const n = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  return Number.isInteger(n) && n <= 65535 ? undefined : `must be empty (no TLS) or a whole number from 0 to 65535 (got ${JSON.stringify(text)})`;
}

/** Why a --web-port value is wrong: empty (off) or a port number. */
function webPortProblem(value: string | number): string | undefined {
  return tlsPortProblem(value)?.replace('(no TLS)', '(no WebSocket door)');
}

/** Why a --web-origins value is wrong: each entry must be an origin, scheme://host[:port]. */
function webOriginsProblem(value: string | number): string | undefined {
  for (const origin of webOriginList(String(value))) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(origin);
    } catch {
      parsed = undefined;
    }
    if (parsed === undefined || parsed.origin !== origin) return `must be a comma-separated list of origins such as https://chat.example.org (got ${JSON.stringify(origin)})`;
  }
  return undefined;
}

/** The --web-origins list (empty: same-origin only). */
export function webOriginList(value: string): string[] {
  return value
    .split(',')
    .map((o) => o.trim())
    .filter((o) => o !== '');
}

/** The WebSocket port to listen on, or undefined when the door is off. */
export function webPortOf(options: DaemonOptions): number | undefined {
  return options.webPort === '' ? undefined : Number(options.webPort);
}

/** The TLS port to listen on, or undefined when the TLS door is off. */
export function tlsPortOf(options: DaemonOptions): number | undefined {
  return options.tlsPort === '' ? undefined : Number(options.tlsPort);
}

/** Why a --database value is wrong: empty (SQLite) or a postgres:// URL. The password, if any, is never shown. */
function databaseProblem(value: string | number): string | undefined {
  const text = String(value);
  if (text === '') return undefined;
  let parsed: URL | undefined;
  try {
    parsed = new URL(text);
  } catch {
    parsed = undefined;
  }
  if (parsed === undefined || (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') || parsed.pathname.length <= 1) {
    return 'must be empty (SQLite in --data-dir) or a PostgreSQL URL such as postgres://mychat@db.example.org:5432/mychat';
  }
  return undefined;
}

/** Longest --motd text or MOTD file, in characters. */
const MAX_MOTD_CHARS = 4096;

/** Default configuration file inside the configuration directory. */
const CONFIG_FILE_NAME = 'mychatd.conf';

/** The configuration directory when systemd did not set $CONFIGURATION_DIRECTORY. */
const DEFAULT_CONFIG_DIR = '/etc/mychat';

/** Every option, in --help order; the keys are the long option names and configuration file keys. */
const SPECS: Record<string, OptionSpec> = {
  host: { field: 'host', type: 'string', default: '', describe: 'Address to listen on (empty: all interfaces)', reload: false },
  port: { field: 'port', type: 'number', default: 7777, describe: 'TCP port to listen on (0: any free port)', range: [0, 65535], reload: false },
  'tls-port': {
    field: 'tlsPort',
    type: 'string',
    default: '',
    describe: 'TCP port for TLS connections, e.g. 7778 (empty: no TLS; 0: any free port); needs --tls-cert and --tls-key',
    check: tlsPortProblem,
    reload: false,
  },
  'tls-cert': { field: 'tlsCert', type: 'string', default: '', describe: 'PEM certificate file (chain after it) for --tls-port; re-read on reload', path: true, reload: true },
  'tls-key': { field: 'tlsKey', type: 'string', default: '', describe: 'PEM private key file for --tls-port; re-read on reload', path: true, reload: true },
  'web-port': {
    field: 'webPort',
    type: 'string',
    default: '',
    describe: 'TCP port for WebSocket connections (subprotocol mychat.v1) and a short HTTP page (empty: off; 0: any free port)',
    check: webPortProblem,
    reload: false,
  },
  'web-origins': {
    field: 'webOrigins',
    type: 'string',
    default: '',
    describe: 'Origins whose pages may open a WebSocket, comma-separated, e.g. https://chat.example.org (empty: same-origin only)',
    check: webOriginsProblem,
    reload: false,
  },
  'max-clients': { field: 'maxClients', type: 'number', default: 10000, describe: 'Most simultaneous connections', range: [1, 1_000_000], reload: true },
  'max-per-address': {
    field: 'maxPerAddress',
    type: 'number',
    default: DEFAULT_MAX_PER_ADDRESS,
    describe: 'Most simultaneous connections from one address (0: no limit)',
    range: [0, 1_000_000],
    reload: true,
  },
  'max-rooms': {
    field: 'maxRooms',
    type: 'number',
    default: LIMITS.maxRooms,
    describe: 'Most rooms on the server; at the cap a new room replaces the one unused longest',
    range: [1, 1_000_000],
    reload: true,
  },
  'room-unused-hours': {
    field: 'roomUnusedHours',
    type: 'number',
    default: 1,
    describe: 'Hours a room nobody is in and nobody spoke in is kept after the last one left (0: forgotten at once)',
    range: [0, 8760],
    reload: true,
  },
  'large-room': {
    field: 'largeRoom',
    type: 'number',
    default: DEFAULT_LARGE_ROOM,
    describe: 'Members past which a room is large: joins, parts, quits and nick changes are not shown in it and joiners get a count, not every name (0: no room is large)',
    range: [0, 1_000_000],
    reload: true,
  },
  'auto-join': {
    field: 'autoJoin',
    type: 'string',
    default: LOBBY,
    describe: 'Room every user joins on registering (empty: none)',
    check: autoJoinProblem,
    reload: true,
  },
  motd: { field: 'motd', type: 'string', default: '', describe: 'Message of the day shown after login; \\n separates lines', maxLength: MAX_MOTD_CHARS, reload: true },
  'motd-file': { field: 'motdFile', type: 'string', default: '', describe: 'File holding the message of the day (re-read on reload); not with --motd', path: true, reload: true },
  'log-level': { field: 'logLevel', type: 'string', default: 'info', describe: 'Least severe events logged to stderr', choices: LOG_LEVELS, reload: true },
  'nick-timeout': { field: 'nickTimeout', type: 'number', default: 60, describe: 'Seconds a new connection has to pick a nickname', range: [1, 86_400], reload: true },
  'idle-timeout': {
    field: 'idleTimeout',
    type: 'number',
    default: 0,
    describe: 'Seconds a registered user may send nothing (not even /ping) before being disconnected; 0: never',
    range: [0, 604_800],
    reload: true,
  },
  'max-send-queue': {
    field: 'maxSendQueue',
    type: 'number',
    default: DEFAULT_SEND_QUEUE_BYTES,
    describe: 'Bytes of unsent output after which a client that does not read is dropped',
    range: [65536, 1024 * 1024 * 1024],
    reload: true,
  },
  'flood-burst': { field: 'floodBurst', type: 'number', default: 20, describe: 'Lines a client may send at once before flood control paces it', range: [1, 100_000], reload: true },
  'flood-rate': { field: 'floodRate', type: 'number', default: 5, describe: 'Lines per second a client may send after its burst; 0 turns flood control off', range: [0, 100_000], reload: true },
  'flood-address-burst': {
    field: 'floodAddressBurst',
    type: 'number',
    default: DEFAULT_FLOOD.addressLineBurst,
    describe: 'Lines all connections from one address (IPv6: one /64) may send at once',
    range: [1, 1_000_000],
    reload: true,
  },
  'flood-address-rate': {
    field: 'floodAddressRate',
    type: 'number',
    default: DEFAULT_FLOOD.addressLineRate,
    describe: 'Lines per second all connections from one address may send after their burst; 0: no shared limit',
    range: [0, 1_000_000],
    reload: true,
  },
  'input-rate': {
    field: 'inputRate',
    type: 'number',
    default: DEFAULT_FLOOD.inputRate,
    describe: 'Bytes per second one connection may send (burst: 8 s of it; before a nickname: 1/16 of it); more is discarded; 0: no limit',
    range: [0, 1024 * 1024 * 1024],
    reload: true,
  },
  'input-address-rate': {
    field: 'inputAddressRate',
    type: 'number',
    default: DEFAULT_FLOOD.addressInputRate,
    describe: 'Bytes per second all connections from one address may send together; 0: no limit',
    range: [0, 1024 * 1024 * 1024],
    reload: true,
  },
  'flood-kick': {
    field: 'floodKick',
    type: 'number',
    default: DEFAULT_FLOOD.floodKickSeconds,
    describe: 'Seconds a client may keep sending past its budget (input being dropped) before it is disconnected; 0: never',
    range: [0, 86_400],
    reload: true,
  },
  'connect-rate': {
    field: 'connectRate',
    type: 'number',
    default: DEFAULT_FLOOD.connectRate,
    describe: 'New connections per second one address may open (burst: 8 s of it); 0: no limit',
    range: [0, 1_000_000],
    reload: true,
  },
  'data-dir': {
    field: 'dataDir',
    type: 'string',
    default: './data',
    defaultDescription: '$STATE_DIRECTORY, else ./data',
    describe: 'Directory for persistent state (the message history)',
    nonEmpty: true,
    path: true,
    reload: false,
  },
  'history-replay': { field: 'historyReplay', type: 'number', default: 20, describe: 'Past messages shown on joining a room (0: off)', range: [0, 1000], reload: false },
  'history-max-messages': { field: 'historyMaxMessages', type: 'number', default: 100_000, describe: 'Most messages kept per room', range: [1, 100_000_000], reload: false },
  'history-max-days': { field: 'historyMaxDays', type: 'number', default: 365, describe: 'Days messages are kept', range: [1, 36_500], reload: false },
  'reserved-nicks': {
    field: 'reservedNicks',
    type: 'string',
    default: DEFAULT_RESERVED_NICKS.join(','),
    describe: 'Comma-separated nicknames no one may take, nor anything that looks like them',
    maxLength: 4096,
    check: nickListProblem,
    reload: true,
  },
  'nick-hold': {
    field: 'nickHold',
    type: 'number',
    default: 60,
    describe: 'Seconds the nickname of a user who dropped without /quit stays held for their address (0: off)',
    range: [0, 86_400],
    reload: true,
  },
  history: {
    field: 'history',
    type: 'string',
    default: 'on',
    describe: 'Store room history (on), or keep nothing: no database, no replay, /history and /search answer NO_HISTORY (off)',
    choices: HISTORY_MODES,
    reload: false,
  },
  'history-off-rooms': {
    field: 'historyOffRooms',
    type: 'string',
    default: '',
    describe: 'Comma-separated rooms whose history is not kept: nothing said there is stored or replayed, /history and /search answer NO_HISTORY',
    maxLength: 4096,
    check: roomListProblem,
    reload: true,
  },
  database: {
    field: 'database',
    type: 'string',
    default: '',
    describe: 'PostgreSQL URL, e.g. postgres://mychat@db.example.org/mychat, for rooms and history shared by several nodes (empty: SQLite in --data-dir)',
    check: databaseProblem,
    reload: false,
  },
  redis: {
    field: 'redis',
    type: 'string',
    default: '',
    describe: 'URL of the Redis shared by the nodes of a cluster, e.g. redis://10.0.0.5:6379 (empty: this server runs alone)',
    check: redisUrlProblem,
    reload: false,
  },
  'node-id': {
    field: 'nodeId',
    type: 'string',
    default: '',
    defaultDescription: 'host name and process id',
    describe: 'Name of this node in the cluster, for logs',
    check: nodeIdProblem,
    reload: false,
  },
  'nick-lease': {
    field: 'nickLease',
    type: 'number',
    default: 10,
    describe: "Seconds a node's heartbeat outlives it: a node that dies (kill -9) frees its users' nicknames and leaves /who within this",
    range: [1, 3600],
    reload: false,
  },
  'redis-layout': {
    field: 'redisLayout',
    type: 'string',
    default: 'room',
    describe: 'How room lines travel between nodes: one Redis channel per room (room) or per node (node)',
    choices: REDIS_LAYOUTS,
    reload: false,
  },
  sync: { field: 'sync', type: 'string', default: 'normal', describe: 'History durability: normal (survives a crash of mychatd) or full (survives power loss, slower)', choices: SYNC_MODES, reload: false },
};

/** The environment variable for an option, e.g. MYCHATD_MAX_CLIENTS for max-clients. */
function envName(name: string): string {
  return `MYCHATD_${name.toUpperCase().replace(/-/g, '_')}`;
}

/** What is wrong with `value` for option `name`, as the end of a sentence, or undefined when it is fine. */
function problem(name: string, value: string | number, shown?: string): string | undefined {
  const spec = SPECS[name]!;
  if (spec.range) {
    const [min, max] = spec.range;
    const n = value as number;
    if (!Number.isInteger(n) || n < min || n > max) {
      return `must be a whole number from ${min} to ${max} (got ${shown ?? (Number.isNaN(n) ? 'not a number' : n)})`;
    }
  }
  if (spec.choices && !spec.choices.includes(value as string)) return `must be one of ${spec.choices.join(', ')} (got ${shown ?? String(value)})`;
  if (spec.maxLength !== undefined && (value as string).length > spec.maxLength) return `is longer than ${spec.maxLength} characters`;
  if (spec.nonEmpty && value === '') return 'must not be empty';
  return spec.check?.(value);
}

/** The first directory of a systemd *_DIRECTORY variable (it lists several, colon-separated, when a unit names several). */
function firstDirectory(value: string | undefined): string | undefined {
  const first = value?.split(':')[0];
  return first ? first : undefined;
}

/**
 * Finds the configuration file: --config or MYCHATD_CONFIG when given (an empty value means none), else
 * mychatd.conf in $CONFIGURATION_DIRECTORY (set by systemd's ConfigurationDirectory=) or /etc/mychat.
 */
function locateConfig(argv: string[]): { file: string; explicit: boolean } {
  const located = yargs(argv)
    .env('MYCHATD')
    .option('config', { type: 'string' })
    .parserConfiguration({ 'duplicate-arguments-array': false })
    .help(false)
    .version(false)
    .parseSync();
  if (located.config !== undefined) return { file: located.config, explicit: true };
  const dir = firstDirectory(process.env.CONFIGURATION_DIRECTORY) ?? DEFAULT_CONFIG_DIR;
  return { file: path.join(dir, CONFIG_FILE_NAME), explicit: false };
}

/**
 * Reads and checks a configuration file into option values. A missing default file is no error (the
 * daemon runs on its defaults); a missing file named with --config is.
 */
function readConfig(file: string, explicit: boolean): Record<string, string | number> | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !explicit) return undefined;
    throw new UsageError(`cannot read configuration file ${file}: ${code ?? (error as Error).message}`);
  }
  let entries;
  try {
    entries = parseConfigText(text, file);
  } catch (error) {
    if (error instanceof ConfigFileError) throw new UsageError(error.message);
    throw error;
  }
  const values: Record<string, string | number> = {};
  for (const { key, value, line } of entries) {
    const where = `${file}:${line}`;
    if (key === 'config') throw new UsageError(`${where}: "config" cannot be set inside a configuration file`);
    const spec = SPECS[key];
    if (spec === undefined) {
      throw new UsageError(`${where}: unknown key "${key}" (the keys are the long option names: ${Object.keys(SPECS).join(', ')})`);
    }
    let typed: string | number = value;
    if (spec.type === 'number') typed = /^[+-]?\d+$/.test(value) ? Number(value) : NaN;
    if (spec.path && value !== '') typed = path.resolve(path.dirname(file), value);
    const wrong = problem(key, typed, JSON.stringify(value));
    if (wrong !== undefined) throw new UsageError(`${where}: ${key} ${wrong}`);
    values[key] = typed;
  }
  return values;
}

/** Reads the MOTD file; a trailing newline is not an extra empty line. */
function readMotdFile(file: string): string {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read --motd-file ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  if (text.length > MAX_MOTD_CHARS) throw new UsageError(`--motd-file ${file} is longer than ${MAX_MOTD_CHARS} characters`);
  return text.replace(/\r?\n$/, '');
}

/**
 * Parses argv (without node and script), the MYCHATD_* environment and the configuration file, in that
 * order of precedence, over the defaults. `--help` and `--version` print to stdout and exit 0 (yargs' own
 * behaviour); anything invalid throws UsageError. Called again on SIGHUP to reload.
 */
export function parseOptions(argv: string[], version: string): DaemonOptions {
  const { file, explicit } = locateConfig(argv);
  const fileValues = file === '' ? undefined : readConfig(file, explicit);

  let parser = yargs(argv)
    .scriptName('mychatd')
    .usage('$0 [options]\n\nThe mychat chat daemon: a line-based chat server any nc or telnet session can use.')
    .env('MYCHATD')
    // A repeated option means the last one wins, as in most daemons (and systemd drop-ins that append flags).
    .parserConfiguration({ 'duplicate-arguments-array': false })
    .option('config', {
      type: 'string',
      describe: `Configuration file of "key = value" lines, keys as the long options; '' for none [env MYCHATD_CONFIG]`,
      defaultDescription: `$CONFIGURATION_DIRECTORY/${CONFIG_FILE_NAME}, else ${DEFAULT_CONFIG_DIR}/${CONFIG_FILE_NAME}`,
    });
  const stateDir = firstDirectory(process.env.STATE_DIRECTORY);
  for (const [name, spec] of Object.entries(SPECS)) {
    parser = parser.option(name, {
      type: spec.type,
      default: name === 'data-dir' && stateDir !== undefined ? stateDir : spec.default,
      ...(spec.defaultDescription !== undefined ? { defaultDescription: spec.defaultDescription } : {}),
      ...(spec.choices ? { choices: spec.choices as unknown as string[] } : {}),
      describe: `${spec.describe} [env ${envName(name)}]`,
    });
  }
  const parsed = parser
    // yargs gives the command line precedence over the environment, and both over this object.
    .config(fileValues ?? {})
    .epilog(
      'Precedence: command line, then MYCHATD_* environment, then the configuration file, then the defaults.\n' +
        'SIGHUP re-reads the configuration and the TLS certificate; host, port, tls-port, data-dir, database, sync and history-* (but history-off-rooms) need a restart. See mychatd(8).',
    )
    .version(version)
    .alias('h', 'help')
    .alias('v', 'version')
    .strict()
    .fail((message, error) => {
      throw new UsageError(error?.message ?? message);
    })
    .parseSync() as unknown as Record<string, string | number | unknown[]>;

  if (parsed._ instanceof Array && parsed._.length > 0) throw new UsageError(`unexpected argument: ${String(parsed._[0])}`);
  const options: Record<string, unknown> = { configFile: fileValues === undefined ? undefined : file };
  for (const [name, spec] of Object.entries(SPECS)) {
    const value = parsed[name] as string | number;
    const wrong = problem(name, value);
    if (wrong !== undefined) throw new UsageError(`--${name} ${wrong}`);
    options[spec.field] = value;
  }
  const result = options as unknown as DaemonOptions;
  result.motd = result.motd.replace(/\\n/g, '\n');
  if (result.motdFile !== '') {
    if (result.motd !== '') throw new UsageError('--motd and --motd-file cannot both be set: choose one (an empty value unsets either)');
    result.motd = readMotdFile(result.motdFile);
  }
  if (result.tlsPort !== '' && (result.tlsCert === '' || result.tlsKey === '')) {
    throw new UsageError('--tls-port needs both --tls-cert and --tls-key (PEM files): see "TLS" in mychatd(8)');
  }
  return result;
}

/** Names of the options that differ between two sets, split by whether a reload can apply them. */
export function changedOptions(before: DaemonOptions, after: DaemonOptions): { reloadable: string[]; restartOnly: string[] } {
  const reloadable: string[] = [];
  const restartOnly: string[] = [];
  for (const [name, spec] of Object.entries(SPECS)) {
    if (before[spec.field] !== after[spec.field]) (spec.reload ? reloadable : restartOnly).push(name);
  }
  return { reloadable, restartOnly };
}

/** The options a reload leaves running: `next` for what SIGHUP can change, `running` for the rest. */
export function reloadedOptions(running: DaemonOptions, next: DaemonOptions): DaemonOptions {
  const result: Record<string, unknown> = { ...next };
  for (const spec of Object.values(SPECS)) if (!spec.reload) result[spec.field] = running[spec.field];
  return result as unknown as DaemonOptions;
}
