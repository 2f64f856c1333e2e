/**
 * A message transport between the engine and one peer. The engine process uses one over
 * process IPC (web shell, `child_process.fork` with structured-clone serialization) or over
 * Electron's utilityProcess parent port; tests and the CLI use an in-process pair.
 */
import type { ServerMessage } from '../protocol/index.js';

export interface Transport {
  send(message: ServerMessage): void;
  onMessage(handler: (message: unknown) => void): void;
}
