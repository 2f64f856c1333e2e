/**
 * Picks the transport for the shell the page runs in: the Electron bridge's MessagePort when
 * `window.atelier` exists, otherwise a WebSocket to the web shell that served the page.
 */
import { RpcClient, type EngineClient, type RpcClientOptions } from './client.js';
import { MessagePortTransport } from './message-port.js';
import type { Transport } from './transport.js';
import { WebSocketTransport, engineSocketUrl } from './websocket.js';

export function createTransport(win: Window): Transport {
  if (win.atelier) return new MessagePortTransport(win.atelier, win);
  return new WebSocketTransport(engineSocketUrl(win.location));
}

export function createEngineClient(win: Window, options?: RpcClientOptions): EngineClient {
  return new RpcClient(createTransport(win), options);
}
