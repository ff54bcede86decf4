import { fstatSync } from 'node:fs';

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
 * True when stderr is connected to the journal. systemd sets JOURNAL_STREAM to the device and inode of that
 * stream; comparing them with stderr's (as systemd.exec(5) advises) keeps a shell started from a service,
 * which inherits the variable, or a redirected stderr, from getting journal-style lines.
 */
export function stderrIsJournal(journalStream: string | undefined = process.env.JOURNAL_STREAM): boolean {
  const match = /^(\d+):(\d+)$/.exec(journalStream ?? '');
  if (!match) return false;
  try {
    const stat = fstatSync(2, { bigint: true });
    return stat.dev === BigInt(match[1]!) && stat.ino === BigInt(match[2]!);
  } catch {
    return false;
  }
}

/**
 * A logger that writes to a stream (stderr in the daemon). When stderr is the journal it writes syslog
 * priority prefixes (`<4>`, so `journalctl -p warning` works) and no timestamp, since journald adds its own;
 * otherwise each line starts with an ISO timestamp and the level.
 */
export function createLogger(
  level: LogLevel,
  write: (line: string) => void = (line) => process.stderr.write(line),
  journald: boolean = stderrIsJournal(),
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

/** Lines one event name may write per second before the rest of that second is counted instead. */
export const LOG_EVENTS_PER_SECOND = 20;

/**
 * Wraps a logger so that no event name writes more than `perSecond` lines a second: under a connect storm
 * or a flood, the excess is counted and summarised in one `log-suppressed` line per event and second, so
 * the log stays readable and its size bounded however many clients misbehave. Errors are never dropped.
 */
export function stormGuard(inner: Logger, perSecond: number = LOG_EVENTS_PER_SECOND, now: () => number = Date.now): Logger {
  let windowStart = 0;
  const written = new Map<string, number>();
  const suppressed = new Map<string, { level: LogLevel; count: number }>();
  let flushTimer: NodeJS.Timeout | undefined;
  const flush = (): void => {
    flushTimer = undefined;
    for (const [event, { level, count }] of suppressed) inner.log(level, 'log-suppressed', { event, count, seconds: 1 });
    suppressed.clear();
  };
  return {
    get level() {
      return inner.level;
    },
    set level(level: LogLevel) {
      inner.level = level;
    },
    log(level, event, fields) {
      if (LOG_LEVELS.indexOf(level) > LOG_LEVELS.indexOf(inner.level)) return;
      if (level === 'error') {
        inner.log(level, event, fields);
        return;
      }
      const t = now();
      if (t - windowStart >= 1000) {
        windowStart = t;
        written.clear();
        if (suppressed.size > 0) flush();
      }
      const count = (written.get(event) ?? 0) + 1;
      written.set(event, count);
      if (count <= perSecond) {
        inner.log(level, event, fields);
        return;
      }
      const entry = suppressed.get(event);
      if (entry) entry.count++;
      else suppressed.set(event, { level, count: 1 });
      // The summary comes at the end of the second even if nothing else is logged after it.
      flushTimer ??= setTimeout(flush, 1000 - (t - windowStart)).unref();
    },
  };
}
