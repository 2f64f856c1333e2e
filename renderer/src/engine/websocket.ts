/**
 * The web shell's transport: a WebSocket to `ws(s)://<page host>/rpc`, one MessagePack-encoded
 * envelope per binary frame. The shell hands the page a per-run token in the `token` query
 * parameter and also sets it as an HttpOnly cookie, so a reload without the query still works;
 * the socket then connects without the query and the cookie authenticates it.
 */
import { decodeEnvelope, encodeEnvelope } from './codec.js';
import type { Connection, Transport, TransportHandlers } from './transport.js';

/** What the transport needs of a WebSocket (the DOM's, or a test double). */
export interface SocketLike {
  binaryType: BinaryType;
  readonly readyState: number;
  onopen: ((event: Event) => void) | null;
  onmessage: ((event: MessageEvent) => void) | null;
  onclose: ((event: CloseEvent) => void) | null;
  onerror: ((event: Event) => void) | null;
  send(data: Uint8Array<ArrayBuffer>): void;
  close(code?: number, reason?: string): void;
}

export type SocketFactory = (url: string) => SocketLike;

/** WebSocket.OPEN; the constant is restated so a test double needs no static fields. */
const OPEN = 1;

/** The engine socket's URL for a page: same host, ws or wss by the page's scheme. */
export function engineSocketUrl(page: { protocol: string; host: string; search: string }): string {
  const scheme = page.protocol === 'https:' ? 'wss:' : 'ws:';
  const token = new URLSearchParams(page.search).get('token');
  const query = token ? `?token=${encodeURIComponent(token)}` : '';
  return `${scheme}//${page.host}/rpc${query}`;
}

/** The URL without its token, for messages. */
function displayUrl(url: string): string {
  return url.replace(/\?.*$/, '');
}

function frameBytes(data: unknown): Uint8Array | null {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return null;
}

export class WebSocketTransport implements Transport {
  readonly name = 'websocket';

  constructor(
    private readonly url: string,
    private readonly createSocket: SocketFactory = (url) => new WebSocket(url),
  ) {}

  open(handlers: TransportHandlers): Promise<Connection> {
    return new Promise((resolve, reject) => {
      let socket: SocketLike;
      try {
        socket = this.createSocket(this.url);
      } catch (error) {
        reject(error instanceof Error ? error : new Error(String(error)));
        return;
      }
      socket.binaryType = 'arraybuffer';
      let opened = false;
      let closedByUs = false;
      const connection: Connection = {
        send: (message) => {
          if (socket.readyState !== OPEN) throw new Error('the socket is not open');
          socket.send(encodeEnvelope(message));
        },
        close: () => {
          closedByUs = true;
          socket.close(1000, 'client closed');
        },
      };
      socket.onopen = () => {
        opened = true;
        resolve(connection);
      };
      socket.onmessage = (event) => {
        const bytes = frameBytes(event.data);
        if (!bytes) {
          console.warn('engine socket: ignored a non-binary frame');
          return;
        }
        let message: unknown;
        try {
          message = decodeEnvelope(bytes);
        } catch (error) {
          console.warn('engine socket: ignored a frame that is not valid MessagePack', error);
          return;
        }
        handlers.message(message);
      };
      socket.onclose = (event) => {
        if (!opened) {
          reject(new Error(`could not connect to ${displayUrl(this.url)} (code ${event.code})`));
          return;
        }
        if (closedByUs) return;
        const reason = event.reason ? `: ${event.reason}` : '';
        handlers.close(`the socket closed (code ${event.code}${reason})`);
      };
      socket.onerror = () => {
        // A close event always follows; it carries the outcome.
      };
    });
  }
}
