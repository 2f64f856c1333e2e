/**
 * A transport carries protocol envelopes between the renderer and the engine. It knows how to
 * open one connection; the EngineClient owns reconnecting, request ids and timeouts, so every
 * transport stays a thin adapter (WebSocket + MessagePack, or an Electron MessagePort).
 */
import type { ClientMessage } from './protocol.js';

export interface TransportHandlers {
  /** A decoded message from the engine (not yet validated beyond decoding). */
  message(message: unknown): void;
  /** The connection ended after it was open; `reason` is shown to the user. */
  close(reason: string): void;
}

export interface Connection {
  /** Sends one envelope; throws when it cannot be encoded or the connection is gone. */
  send(message: ClientMessage): void;
  /** Closes the connection; no `close` handler call follows. */
  close(): void;
}

export interface Transport {
  /** A short name for logs and the status tooltip ('websocket', 'message-port'). */
  readonly name: string;
  /** Opens a connection; rejects with a readable Error when the engine cannot be reached. */
  open(handlers: TransportHandlers): Promise<Connection>;
}
