/**
 * The engine's one error type. Every failure that reaches a user carries a protocol error code
 * and a message that names the thing that is wrong (a file, a parameter, a model folder) and
 * what is wrong with it.
 */
import type { ErrorCode } from './protocol/index.js';

export class EngineError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EngineError';
    this.code = code;
  }
}

/** Thrown inside a job when it was cancelled; the queue reports it as `jobCancelled`. */
export class CancelledError extends Error {
  constructor() {
    super('cancelled');
    this.name = 'CancelledError';
  }
}

export function throwIfCancelled(signal: AbortSignal): void {
  if (signal.aborted) throw new CancelledError();
}

/** The message of anything thrown, for logs and error replies. */
export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
