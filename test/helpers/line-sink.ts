import type { ClientSink } from '../../lib/core/sink';

/** A ClientSink for unit tests of the core: records each line as a string without CRLF, and whether it was closed. */
export class LineSink implements ClientSink {
  lines: string[] = [];
  closed = false;

  send(line: Buffer): void {
    this.lines.push(line.toString('utf8').replace(/\r\n$/, ''));
  }

  close(): void {
    this.closed = true;
  }
}
