/**
 * MessagePack framing for the WebSocket transport: one envelope per binary frame. Byte fields
 * (images) travel as msgpack `bin` and decode to Uint8Array. Undefined properties are left out
 * rather than sent as nil, since the engine's schemas accept a missing optional field but not null.
 */
import { decode, encode } from '@msgpack/msgpack';
import type { ClientMessage } from './protocol.js';

export function encodeEnvelope(message: ClientMessage): Uint8Array<ArrayBuffer> {
  return encode(message, { ignoreUndefined: true });
}

/** Decodes one frame; throws on malformed MessagePack. The result is not validated. */
export function decodeEnvelope(frame: Uint8Array): unknown {
  return decode(frame);
}
