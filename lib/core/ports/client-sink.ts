import type { WireFormat } from '../../protocol/wire-formats';
import type { ChatEvent } from '../events';

/**
 * What the chat core knows of a connection: it can hand it an event and ask for it to be closed. The
 * adapter behind it (TCP, TLS, WebSocket) picks the codec that turns events into bytes.
 */
export interface ClientSink {
  /** Queues one event for the connection. The same event object may be handed to many sinks: never change it. */
  deliver(event: ChatEvent): void;
  /**
   * Makes every later event go out in `format` (/format): the event delivered next, the reply to /format
   * itself, is already in the new format.
   */
  switchFormat(format: WireFormat): void;
  /** Flushes what is queued and closes the connection; `reason` is for the adapter's log. */
  close(reason: string): void;
}
