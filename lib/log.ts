/** Log levels, most severe first. */
export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;

/** One log level. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** syslog priorities for journald's "<N>" line prefix. */
const PRIORITY: Record<LogLevel, number> = { error: 3, warn: 4, info: 6, debug: 7 };

/** Key/value details of one event; values are quoted when they contain spaces. */
export type LogFields = Record<string, string | number | boolean | undefined>;

/** A logger writes one event per line; the core and adapters depend only on this interface. */
export interface Logger {
  level: LogLevel;
  log(level: LogLevel, event: string, fields?: LogFields): void;
}

function formatFields(fields: LogFields | undefined): string {
  if (!fields) return '';
  let out = '';
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    const text = String(value);
    // JSON-quote anything that could break the one-event-per-line format or be mistaken for another field.
    out += ` ${key}=${/^[^\s"=\\\p{C}]+$/u.test(text) ? text : JSON.stringify(text)}`;
  }
  return out;
}

/**
 * A logger that writes to a stream (stderr in the daemon). Under systemd (JOURNAL_STREAM set) it writes
 * syslog priority prefixes and no timestamp, since journald adds its own.
 */
export function createLogger(
  level: LogLevel,
  write: (line: string) => void = (line) => process.stderr.write(line),
  journald: boolean = Boolean(process.env.JOURNAL_STREAM),
): Logger {
  return {
    level,
    log(eventLevel, event, fields) {
      if (LOG_LEVELS.indexOf(eventLevel) > LOG_LEVELS.indexOf(this.level)) return;
      const body = `${event}${formatFields(fields)}`;
      write(journald ? `<${PRIORITY[eventLevel]}>${body}\n` : `${new Date().toISOString()} ${eventLevel} ${body}\n`);
    },
  };
}

/** A logger that discards everything, for unit tests. */
export const silentLogger: Logger = { level: 'error', log: () => undefined };
