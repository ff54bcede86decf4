import type { ChatEvent } from '../core/events';

/**
 * Turns the core's events into one wire format. `encode` returns the bytes for one event: for the line
 * formats (mychat, JSON) one or more lines, each ended by CRLF, ready to be written to a byte stream or
 * split into one WebSocket text frame per line.
 */
export interface Codec {
  /** Stable name: `mychat` or `json` (what /format and the WebSocket subprotocols select). */
  readonly name: string;
  /** The bytes for `event`; the same event object asked twice in a row is encoded once (see cachedEncoder). */
  encode(event: ChatEvent): Buffer;
}

/**
 * Wraps an encoder with a one-slot identity cache. A broadcast hands the same event object to every
 * member in one loop, so remembering only the last event encodes it once per codec however many members
 * there are, without a map that could keep old events alive.
 */
export function cachedEncoder(encode: (event: ChatEvent) => Buffer): (event: ChatEvent) => Buffer {
  let lastEvent: ChatEvent | undefined;
  let lastBytes: Buffer = Buffer.alloc(0);
  return (event) => {
    if (event !== lastEvent) {
      lastBytes = encode(event);
      lastEvent = event;
    }
    return lastBytes;
  };
}
