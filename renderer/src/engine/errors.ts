/**
 * The error every failed EngineClient call rejects with: the engine's own error code and message
 * for an error reply, or a client-side code when the call never got a reply.
 */
import type { ErrorCode, MethodName } from './protocol.js';

/** Codes for calls that got no reply from the engine. */
export type ClientErrorCode =
  | 'not_connected' // there was no connection when the call was made
  | 'connection_lost' // the connection dropped before the reply came
  | 'timeout' // no reply within the call's time limit
  | 'send_failed' // the message could not be encoded or sent
  | 'closed'; // the client was closed

export type EngineErrorCode = ErrorCode | ClientErrorCode;

export class EngineCallError extends Error {
  override readonly name = 'EngineCallError';

  constructor(
    readonly code: EngineErrorCode,
    message: string,
    readonly method: MethodName | null = null,
  ) {
    super(message);
  }
}

/** The message of anything thrown, for display. */
export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/** The code of an EngineCallError, or null for any other error. */
export function codeOf(error: unknown): EngineErrorCode | null {
  return error instanceof EngineCallError ? error.code : null;
}
