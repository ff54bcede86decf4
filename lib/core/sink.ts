/**
 * What the chat core knows of a connection: it can queue an encoded line and ask for the connection
 * to be closed. TCP today, TLS and WebSocket later, are adapters that implement this.
 */
export interface ClientSink {
  /** Queues one encoded line (CRLF included). The same Buffer may be handed to many sinks. */
  send(line: Buffer): void;
  /** Flushes what is queued and closes the connection; `reason` is for the adapter's log. */
  close(reason: string): void;
}

/** Timer functions the core uses, injectable so that unit tests control time. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The real clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};
