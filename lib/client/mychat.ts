#!/usr/bin/env node
import { packageVersion } from '../version';
import { EXIT } from './exit-codes';
import { runInteractive } from './interactive';
import { parseClientOptions, UsageError, type ClientOptions } from './options';
import { runPipeMode } from './pipe-mode';

/*
 * Entry point of the `mychat` command: parses options, then runs the interactive client when both stdin
 * and stdout are terminals, or pipe mode (for scripts) otherwise, and exits with the mode's status.
 */

async function main(): Promise<number> {
  let options: ClientOptions;
  try {
    options = parseClientOptions(process.argv.slice(2), process.env, packageVersion());
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`mychat: ${error.message}\nTry 'mychat --help' for the options.\n`);
    return EXIT.usage;
  }
  if (options.tls?.insecure) {
    process.stderr.write("mychat: warning: --insecure: the server's certificate is not checked, so anyone between you and it could read and change the chat\n");
  }
  const interactive = process.stdin.isTTY === true && process.stdout.isTTY === true;
  if (interactive) {
    if (options.listen) {
      process.stderr.write('mychat: --listen is for pipe mode (redirect stdout, e.g. > log.txt)\n');
      return EXIT.usage;
    }
    return runInteractive(options, { input: process.stdin, output: process.stdout, env: process.env });
  }
  if (options.rooms.length > 0 && options.nick.length === 0) {
    // Without a nickname the first stdin line registers, so there is no moment to join before it.
    process.stderr.write('mychat: --join needs --nick (or MYCHAT_NICK) when stdin or stdout is not a terminal\n');
    return EXIT.usage;
  }
  return runPipeMode(options, { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr });
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`mychat: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(EXIT.internal);
  },
);
