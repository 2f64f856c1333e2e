/**
 * The envelope every RPC message travels in, independent of the transport (MessagePort,
 * process IPC, WebSocket with MessagePack). Requests carry a client-chosen numeric id that the
 * response echoes; events carry no id.
 */
import { z } from 'zod';
import type { EventData, EventName, MethodName, MethodResult } from './schemas.js';

export const ErrorCode = z.enum([
  'bad_request', // the envelope is malformed
  'unknown_method',
  'invalid_params',
  'too_large',
  'version_mismatch',
  'not_found',
  'model_error', // a model file or folder is missing, corrupt or of the wrong layout
  'bad_input', // an input (image, prompt) cannot be used
  'no_model', // a job was asked for with no model loaded
  'engine_restarted', // the engine process died; the shell restarted it
  'cancelled', // the client cancelled the request (a watermark key's training)
  'internal',
]);
export type ErrorCode = z.infer<typeof ErrorCode>;

export const RequestEnvelope = z.object({
  type: z.literal('request'),
  id: z.number().int().nonnegative(),
  method: z.string().max(64),
  params: z.unknown(),
});
export type RequestEnvelope = z.infer<typeof RequestEnvelope>;

export interface RpcError {
  code: ErrorCode;
  message: string;
}

export type ResponseEnvelope<M extends MethodName = MethodName> =
  | { type: 'response'; id: number; ok: true; result: MethodResult<M> }
  | { type: 'response'; id: number | null; ok: false; error: RpcError };

/** An event message; for a union of names, the union of their envelopes. */
export type EventEnvelope<E extends EventName = EventName> = { [K in E]: { type: 'event'; event: K; data: EventData<K> } }[E];

/** Any message from the engine to a client. */
export type ServerMessage = ResponseEnvelope | EventEnvelope;

/** Any message from a client to the engine. */
export type ClientMessage = RequestEnvelope;

/** The id of a request-like message, if it carries a valid one (to answer even a malformed request). */
export function requestIdOf(message: unknown): number | null {
  if (typeof message !== 'object' || message === null || !('id' in message)) return null;
  const id = message.id;
  return typeof id === 'number' && Number.isInteger(id) && id >= 0 ? id : null;
}
