/**
 * The Electron shell's transport: a MessagePort to the engine, handed over by the preload bridge.
 * `window.atelier.connectEngine()` asks the main process for a port, which arrives as a window
 * `message` event whose data is ENGINE_PORT_MESSAGE (in `event.ports[0]`). Envelopes travel as is
 * (structured clone, so image bytes stay Uint8Array). Electron adds a `close` event to ports,
 * which tells us the engine went away. A port that arrives unasked (the shell restarted the
 * engine) replaces the current connection.
 */
import { ENGINE_PORT_MESSAGE, type AtelierBridge } from './protocol.js';
import type { Connection, Transport, TransportHandlers } from './transport.js';

/** What the transport needs of a MessagePort (the DOM's, or a test double). */
export interface PortLike {
  postMessage(message: unknown): void;
  start(): void;
  close(): void;
  addEventListener(type: 'message', listener: (event: MessageEvent) => void): void;
  addEventListener(type: 'close', listener: () => void): void;
  removeEventListener(type: 'message', listener: (event: MessageEvent) => void): void;
  removeEventListener(type: 'close', listener: () => void): void;
}

/** The window the port message arrives on (the DOM's, or a test double). */
export interface PortWindow {
  addEventListener(type: 'message', listener: (event: MessageEvent) => void): void;
  removeEventListener(type: 'message', listener: (event: MessageEvent) => void): void;
}

interface Active {
  port: PortLike;
  handlers: TransportHandlers;
  detach(): void;
}

export class MessagePortTransport implements Transport {
  readonly name = 'message-port';
  private waiting: ((port: PortLike) => void) | null = null;
  private spare: PortLike | null = null;
  private active: Active | null = null;

  constructor(
    private readonly bridge: Pick<AtelierBridge, 'connectEngine'>,
    private readonly target: PortWindow,
  ) {
    target.addEventListener('message', this.onWindowMessage);
  }

  open(handlers: TransportHandlers): Promise<Connection> {
    return new Promise((resolve) => {
      const take = (port: PortLike): void => resolve(this.attach(port, handlers));
      const spare = this.spare;
      if (spare) {
        this.spare = null;
        take(spare);
        return;
      }
      this.waiting = take;
      this.bridge.connectEngine();
    });
  }

  /** Stops listening for ports (the app is going away). */
  dispose(): void {
    this.target.removeEventListener('message', this.onWindowMessage);
    this.active?.detach();
    this.active = null;
    this.spare?.close();
    this.spare = null;
  }

  private readonly onWindowMessage = (event: MessageEvent): void => {
    if (event.source !== this.target || event.data !== ENGINE_PORT_MESSAGE) return;
    const port = event.ports[0];
    if (!port) return;
    const waiting = this.waiting;
    if (waiting) {
      this.waiting = null;
      waiting(port);
      return;
    }
    // Unasked: the shell restarted the engine. Keep the port for the client's next open() and
    // end the current connection so the client reconnects (and re-syncs) through it.
    this.spare?.close();
    this.spare = port;
    const active = this.active;
    if (active) {
      this.active = null;
      active.detach();
      active.port.close();
      active.handlers.close('the engine was restarted');
    }
  };

  private attach(port: PortLike, handlers: TransportHandlers): Connection {
    const onMessage = (event: MessageEvent): void => handlers.message(event.data);
    const onClose = (): void => {
      if (this.active?.port !== port) return;
      this.active = null;
      active.detach();
      handlers.close('the engine port closed');
    };
    const active: Active = {
      port,
      handlers,
      detach: () => {
        port.removeEventListener('message', onMessage);
        port.removeEventListener('close', onClose);
      },
    };
    port.addEventListener('message', onMessage);
    port.addEventListener('close', onClose);
    port.start();
    this.active = active;
    return {
      send: (message) => port.postMessage(message),
      close: () => {
        if (this.active === active) this.active = null;
        active.detach();
        port.close();
      },
    };
  }
}
