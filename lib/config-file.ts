/*
 * The configuration file format: one `key = value` setting per line, the keys being the daemon's long
 * option names. It is the shape systemd's own files and EnvironmentFile= use, needs no dependency, allows
 * comments (JSON does not), and maps one to one onto the command line, so yargs can merge it.
 */

/** One `key = value` line of a configuration file, with its line number for error messages. */
export interface ConfigEntry {
  key: string;
  value: string;
  line: number;
}

/** A malformed configuration file; the message starts with `FILE:LINE:` like a compiler's. */
export class ConfigFileError extends Error {}

const KEY = /^[a-z][a-z0-9-]*$/;

/**
 * Parses configuration text. Blank lines and lines starting with `#` are skipped; `#` elsewhere is part
 * of the value, so a message of the day may contain it. Spaces around the key and value are dropped;
 * double quotes around the whole value are removed, which keeps leading or trailing spaces.
 */
export function parseConfigText(text: string, file: string): ConfigEntry[] {
  const entries: ConfigEntry[] = [];
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, '').trim();
    if (line === '' || line.startsWith('#')) continue;
    const at = line.indexOf('=');
    const key = at < 0 ? '' : line.slice(0, at).trim();
    if (!KEY.test(key)) {
      throw new ConfigFileError(`${file}:${i + 1}: expected "key = value" (keys are long option names such as port), got: ${line}`);
    }
    let value = line.slice(at + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    entries.push({ key, value, line: i + 1 });
  }
  return entries;
}
