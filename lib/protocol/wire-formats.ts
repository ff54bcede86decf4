/**
 * The wire formats a connection can speak: `mychat` lines (the default) or `json` objects, one per line
 * (JSON mode, for bots). /format switches between them; the WebSocket subprotocols pick one at the start.
 */
export const WIRE_FORMATS = ['mychat', 'json'] as const;

/** One wire format's name. */
export type WireFormat = (typeof WIRE_FORMATS)[number];

/** Whether `name` names a wire format (case-sensitive: the names are lower-case words). */
export function isWireFormat(name: string): name is WireFormat {
  return (WIRE_FORMATS as readonly string[]).includes(name);
}
