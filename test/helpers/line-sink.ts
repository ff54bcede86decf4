import { MYCHAT_CODEC } from '../../lib/codec/mychat-codec';
import type { ChatEvent } from '../../lib/core/events';
import type { ClientSink } from '../../lib/core/ports/client-sink';

/** A ClientSink for unit tests of the core: records each line as a string without CRLF, and whether it was closed. */
export class LineSink implements ClientSink {
  lines: string[] = [];
  closed = false;

  deliver(event: ChatEvent): void {
    const text = MYCHAT_CODEC.encode(event).toString('utf8');
    for (const line of text.split(/(?<=\r\n)/)) this.send(Buffer.from(line, 'utf8'));
  }

  send(line: Buffer): void {
    this.lines.push(line.toString('utf8').replace(/\r\n$/, ''));
  }

  close(): void {
    this.closed = true;
  }
}
