import type { WireFormat } from '../protocol/wire-formats';
import type { Codec } from './codec';
import { jsonCodec } from './json-codec';
import { MYCHAT_CODEC } from './mychat-codec';

/** The process's one JSON codec, shared by every JSON-mode connection so a broadcast is encoded once. */
export const JSON_CODEC: Codec = jsonCodec();

/** The shared codec of a wire format. */
export function codecFor(format: WireFormat): Codec {
  return format === 'json' ? JSON_CODEC : MYCHAT_CODEC;
}
