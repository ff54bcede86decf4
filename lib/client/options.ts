import fs from 'node:fs';
import yargs from 'yargs';
import { foldName, nickProblem, normaliseName, roomProblem } from '../protocol/text-hygiene';
import { EXIT_HELP } from './exit-codes';

/** The default server address. */
export const DEFAULT_HOST = 'localhost';

/** The default server port (mychatd's default). */
export const DEFAULT_PORT = 7777;

/** The default port with --tls (the port mychatd's documentation uses for --tls-port). */
export const DEFAULT_TLS_PORT = 7778;

/** How the client speaks TLS (--tls): whom it trusts, or that it checks nothing (--insecure). */
export interface ClientTls {
  /** PEM certificates to trust instead of the system's CAs (--ca), or undefined for the system's. */
  ca: Buffer | undefined;
  /** Skip verifying the server's certificate (--insecure): encrypted, but anyone in the path can read it. */
  insecure: boolean;
}

/** The client's settings after parsing the command line and MYCHAT_* environment variables. */
export interface ClientOptions {
  host: string;
  port: number;
  /** Nickname to register with; '' lets the user type it (interactive) or the first stdin line be it (pipe mode). */
  nick: string;
  /** Rooms to join after registering, each with its '#', in order. */
  rooms: string[];
  /** Pipe mode: do not read stdin; print what the server sends until killed or disconnected. */
  listen: boolean;
  /** TLS settings with --tls; undefined for plain TCP. */
  tls: ClientTls | undefined;
  /** Ring the terminal bell on mentions and private messages (--bell on|off). */
  bell: boolean;
}

/** Thrown for invalid options or arguments; the entry point prints it and exits with status 2. */
export class UsageError extends Error {}

function parsePort(text: string, where: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) {
    throw new UsageError(`${where} must be a port number from 1 to 65535 (got ${JSON.stringify(text)})`);
  }
  return Number(text);
}

/**
 * Works out the server address from the positional arguments and the environment: `HOST`, `HOST PORT`,
 * `HOST:PORT`, `[IPV6]:PORT`, `[IPV6]` or a bare IPv6 address; whatever is not given comes from
 * MYCHAT_HOST / MYCHAT_PORT, then the defaults.
 */
export function parseAddress(positionals: readonly string[], env: NodeJS.ProcessEnv, defaultPort = DEFAULT_PORT): { host: string; port: number } {
  if (positionals.length > 2) throw new UsageError(`too many arguments: ${positionals.slice(2).join(' ')} (expected [HOST] [PORT])`);
  const envPort = env.MYCHAT_PORT !== undefined && env.MYCHAT_PORT !== '' ? parsePort(env.MYCHAT_PORT, 'MYCHAT_PORT') : undefined;
  let host = env.MYCHAT_HOST !== undefined && env.MYCHAT_HOST !== '' ? env.MYCHAT_HOST : DEFAULT_HOST;
  let port = envPort ?? defaultPort;
  const [first, second] = positionals;
  if (first !== undefined) {
    if (first.length === 0) throw new UsageError('HOST is empty');
    const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(first);
    const colons = first.split(':').length - 1;
    let inlinePort: string | undefined;
    if (bracketed) {
      host = bracketed[1]!;
      inlinePort = bracketed[2];
    } else if (colons === 1) {
      host = first.slice(0, first.indexOf(':'));
      inlinePort = first.slice(first.indexOf(':') + 1);
      if (host.length === 0) throw new UsageError(`HOST is missing in ${JSON.stringify(first)}`);
    } else {
      if (/^\d+$/.test(first)) throw new UsageError(`${first} looks like a port; give the host first, e.g. mychat localhost ${first}`);
      host = first; // a host name, or a bare IPv6 address (two or more colons)
    }
    if (inlinePort !== undefined) {
      if (second !== undefined) throw new UsageError(`the port is given twice: in ${JSON.stringify(first)} and as ${JSON.stringify(second)}`);
      port = parsePort(inlinePort, 'PORT');
    }
  }
  if (second !== undefined) port = parsePort(second, 'PORT');
  return { host, port };
}

/** The address as people write it: host:port, with an IPv6 address in brackets. */
export function displayAddress(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** Checks and normalises a --nick value the way the server would; throws UsageError with its reason. */
export function checkNick(raw: string): string {
  const nick = normaliseName(raw.trim());
  const problem = nickProblem(nick);
  if (problem !== undefined) throw new UsageError(`invalid nickname ${JSON.stringify(raw)}: ${problem}`);
  return nick;
}

/**
 * Checks --join values: each may hold several rooms separated by commas, and the '#' may be left out
 * (a shell treats an unquoted word starting with '#' as a comment). Duplicates, ignoring case, go.
 */
export function checkRooms(values: readonly string[]): string[] {
  const rooms: string[] = [];
  for (const value of values) {
    for (const part of value.split(',')) {
      const trimmed = part.trim();
      if (trimmed.length === 0) continue;
      const room = normaliseName(trimmed.startsWith('#') ? trimmed : '#' + trimmed);
      const problem = roomProblem(room);
      if (problem !== undefined) throw new UsageError(`invalid room ${JSON.stringify(part)}: ${problem}`);
      if (!rooms.some((r) => foldName(r) === foldName(room))) rooms.push(room);
    }
  }
  return rooms;
}

/**
 * Parses argv (without node and script) and the environment. `--help` and `--version` print to stdout
 * and exit 0 (yargs' own behaviour); anything invalid throws UsageError.
 */
export function parseClientOptions(argv: string[], env: NodeJS.ProcessEnv, version: string): ClientOptions {
  const parsed = yargs(argv)
    .scriptName('mychat')
    .usage(
      '$0 [options] [HOST] [PORT]\n$0 [options] HOST:PORT\n\n' +
        'The mychat client. On a terminal it is an interactive chat client; with stdin or stdout\n' +
        'redirected it sends stdin lines as typed and prints the server\'s lines unchanged.',
    )
    // Host names and ports stay strings: "0777" or an IPv6 address must not be turned into numbers.
    .parserConfiguration({ 'parse-positional-numbers': false, 'duplicate-arguments-array': true })
    .option('nick', { alias: 'n', type: 'string', describe: 'Nickname to register with [env MYCHAT_NICK]' })
    // Not `array: true`, which would swallow the HOST and PORT after it: repeating the option collects values.
    .option('join', { alias: 'j', type: 'string', describe: 'Room to join after registering (repeatable; "#" optional; commas separate several)' })
    .option('listen', { type: 'boolean', default: false, describe: 'Pipe mode: ignore stdin and print what the server sends until killed' })
    .option('tls', { type: 'boolean', default: false, describe: `Connect with TLS (default port ${DEFAULT_TLS_PORT}), verifying the server's certificate against the system's CAs` })
    .option('ca', { type: 'string', describe: 'With --tls: trust the PEM certificates in this file instead of the system CAs (e.g. a self-signed server)' })
    .option('bell', { type: 'string', describe: 'Ring the terminal bell when someone mentions you or sends you a private message: on (default) or off [env MYCHAT_BELL]' })
    .option('insecure', { type: 'boolean', default: false, describe: 'With --tls: do not verify the server (encrypted, but anyone in the path could read it)' })
    .version(version)
    .alias('h', 'help')
    .alias('v', 'version')
    .epilog(
      'Environment: MYCHAT_HOST, MYCHAT_PORT, MYCHAT_NICK, MYCHAT_BELL give defaults (the command line wins); NO_COLOR turns colours off.\n\n' +
        `Exit status:\n  ${EXIT_HELP}\n\nSee mychat(1).`,
    )
    .strictOptions()
    .fail((message, error) => {
      throw new UsageError(error?.message ?? message);
    })
    .parseSync();

  const positionals = parsed._.map(String);
  const { host, port } = parseAddress(positionals, env, parsed.tls ? DEFAULT_TLS_PORT : DEFAULT_PORT);
  const tls = tlsOptions(parsed.tls, parsed.ca, parsed.insecure);
  // A repeated --nick is collected into an array like --join; the last one wins, as with most options.
  const nicks = ([] as unknown[]).concat(parsed.nick ?? []).map(String);
  const joins = ([] as unknown[]).concat(parsed.join ?? []).map(String);
  const optionNick = nicks[nicks.length - 1];
  if (optionNick !== undefined && optionNick.trim().length === 0) throw new UsageError('--nick needs a nickname');
  const rawNick = optionNick ?? (env.MYCHAT_NICK !== undefined && env.MYCHAT_NICK !== '' ? env.MYCHAT_NICK : undefined);
  return {
    host,
    port,
    nick: rawNick === undefined ? '' : checkNick(rawNick),
    rooms: checkRooms(joins),
    listen: parsed.listen,
    tls,
    // A repeated --bell is collected into an array; the last one wins. The command line beats MYCHAT_BELL.
    bell: parseBell(parsed.bell !== undefined ? String(([] as unknown[]).concat(parsed.bell).pop()) : env.MYCHAT_BELL ?? 'on'),
  };
}

/** Reads an on|off value of --bell (or MYCHAT_BELL); anything else is a usage error. */
function parseBell(value: string): boolean {
  const word = value.trim().toLowerCase();
  if (word === 'on' || word === '') return true;
  if (word === 'off') return false;
  throw new UsageError(`--bell must be on or off (got ${JSON.stringify(value)})`);
}

/** The TLS settings from --tls, --ca and --insecure; the CA file is read now, so a wrong path is a usage error. */
function tlsOptions(enabled: boolean, caOption: string | string[] | undefined, insecure: boolean): ClientTls | undefined {
  // A repeated --ca is collected into an array (duplicate-arguments-array); the last one wins.
  const caFile = Array.isArray(caOption) ? caOption[caOption.length - 1] : caOption;
  if (!enabled) {
    if (caFile !== undefined || insecure) throw new UsageError(`${caFile !== undefined ? '--ca' : '--insecure'} needs --tls`);
    return undefined;
  }
  if (caFile !== undefined && insecure) throw new UsageError('--ca and --insecure contradict each other: choose one');
  if (caFile === '') throw new UsageError('--ca needs a file');
  let ca: Buffer | undefined;
  if (caFile !== undefined) {
    try {
      ca = fs.readFileSync(caFile);
    } catch (error) {
      throw new UsageError(`cannot read --ca ${caFile}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  }
  return { ca, insecure };
}
