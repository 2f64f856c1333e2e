/**
 * The web shell: the same renderer and engine as the desktop app, in a browser. An HTTP server on
 * 127.0.0.1 serves the built renderer and bridges RPC over a WebSocket (binary MessagePack
 * frames) to one supervised engine process, which it restarts if it dies.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { decode, encode } from '@msgpack/msgpack';
import { WebSocketServer, type WebSocket } from 'ws';
import { MAX_MESSAGE_BYTES, type ServerMessage } from '../../engine/protocol/index.js';
import type { EngineSpawner } from '../common/engine-process.js';
import { RpcRelay } from '../common/relay.js';
import { EngineSupervisor } from '../common/supervisor.js';
import { WebAuth, newToken } from './auth.js';
import { securityHeaders, serveStatic } from './static-files.js';

export interface WebShellOptions {
  rendererDir: string;
  spawnEngine: EngineSpawner;
  /** 0 (default) lets the OS choose a free port. */
  port?: number;
  token?: string;
  log?: (line: string) => void;
}

export interface WebShell {
  readonly url: string;
  readonly port: number;
  readonly token: string;
  readonly supervisor: EngineSupervisor;
  readonly relay: RpcRelay;
  close(): Promise<void>;
}

const HOST = '127.0.0.1';

function refuseUpgrade(socket: Duplex, reason: string): void {
  socket.end(`HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n401 Unauthorized: ${reason}\n`);
}

function toBytes(data: WebSocket.RawData): Buffer {
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.isBuffer(data) ? data : Buffer.from(data);
}

export async function startWebShell(options: WebShellOptions): Promise<WebShell> {
  const log = options.log ?? (() => {});
  const auth = new WebAuth(options.token ?? newToken());
  let relay: RpcRelay | null = null;
  const supervisor = new EngineSupervisor(options.spawnEngine, {
    message: (m) => relay?.fromEngine(m),
    exited: (info) => {
      log(`engine process ${info.signal ? `killed by ${info.signal}` : `exited with code ${info.code}`}; restarting in ${info.restartInMs} ms`);
      relay?.engineExited(info);
    },
    started: (pid) => log(`engine process started (pid ${pid})`),
  });
  relay = new RpcRelay(supervisor);
  const theRelay = relay;

  const server: Server = createServer((req, res) => {
    const headers = securityHeaders(auth.port());
    const refusal = auth.refusal(req, false);
    if (refusal) {
      res.writeHead(401, { ...headers, 'Content-Type': 'text/plain; charset=utf-8' }).end(`401 Unauthorized: ${refusal}\n`);
      return;
    }
    if (auth.tokenSource(req) === 'query') headers['Set-Cookie'] = auth.setCookieHeader();
    void serveStatic(options.rendererDir, req, res, headers);
  });

  const sockets = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES * 2 });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const refusal = url.pathname !== '/rpc' ? 'no WebSocket endpoint here' : auth.refusal(req, true);
    if (refusal) {
      refuseUpgrade(socket, refusal);
      return;
    }
    sockets.handleUpgrade(req, socket, head, (ws) => connect(ws));
  });

  function connect(ws: WebSocket): void {
    const client = {
      send(message: ServerMessage) {
        if (ws.readyState === ws.OPEN) ws.send(encode(message));
      },
    };
    const link = theRelay.attach(client);
    ws.on('message', (data, isBinary) => {
      const bytes = toBytes(data);
      if (!isBinary) {
        client.send({ type: 'response', id: null, ok: false, error: { code: 'bad_request', message: 'only binary MessagePack frames are accepted' } });
        return;
      }
      if (bytes.length > MAX_MESSAGE_BYTES) {
        client.send({ type: 'response', id: null, ok: false, error: { code: 'too_large', message: `message of ${bytes.length} bytes is larger than the ${MAX_MESSAGE_BYTES}-byte limit` } });
        return;
      }
      let message: unknown;
      try {
        message = decode(bytes);
      } catch (error) {
        client.send({ type: 'response', id: null, ok: false, error: { code: 'bad_request', message: `not a MessagePack message (${error instanceof Error ? error.message : String(error)})` } });
        return;
      }
      link.receive(message);
    });
    ws.on('close', () => link.detach());
    ws.on('error', () => link.detach());
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, HOST, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  auth.setPort(port);
  supervisor.start();
  const url = `http://${HOST}:${port}/?token=${auth.token}`;

  return {
    url,
    port,
    token: auth.token,
    supervisor,
    relay: theRelay,
    async close() {
      supervisor.stop();
      for (const ws of sockets.clients) ws.terminate();
      await new Promise<void>((resolve) => sockets.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
