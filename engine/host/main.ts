/**
 * Entry point of the engine process. It speaks the RPC protocol to its parent over whichever
 * channel it was started with: Electron's utilityProcess parent port, or Node's process IPC
 * (the web shell forks it with structured-clone serialization so image bytes travel as bytes).
 * It imports nothing from Electron: the parent port is used through a minimal structural type.
 */
import { Engine } from '../engine.js';
import { messageOf } from '../errors.js';
import type { ServerMessage } from '../protocol/index.js';
import { RpcServer } from '../rpc/server.js';
import type { Transport } from '../rpc/transport.js';
import { engineConfig } from './config.js';

interface ParentPort {
  on(event: 'message', listener: (event: { data: unknown }) => void): void;
  postMessage(message: unknown): void;
}

function parentTransport(): Transport {
  const parentPort = (process as unknown as { parentPort?: ParentPort }).parentPort;
  if (parentPort) {
    return {
      send: (message: ServerMessage) => parentPort.postMessage(message),
      onMessage: (handler) => parentPort.on('message', (event) => handler(event.data)),
    };
  }
  if (process.send) {
    process.on('disconnect', () => process.exit(0)); // the parent is gone
    return {
      send: (message: ServerMessage) => {
        if (process.connected) process.send!(message);
      },
      onMessage: (handler) => process.on('message', handler),
    };
  }
  throw new Error('the engine process must be started by a shell (no IPC channel); use `npx atelier` for the CLI');
}

function argValue(flag: string): string | undefined {
  const i = process.argv.indexOf(flag);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const config = engineConfig({
  dataDir: argValue('--data-dir'),
  extraModelDirs: argValue('--models')?.split(',').filter(Boolean),
});
const engine = new Engine({ dataDir: config.dataDir, modelRoots: config.modelRoots, lowMemory: config.lowMemory, minStepMs: config.minStepMs });
new RpcServer(engine, parentTransport());

process.on('unhandledRejection', (reason) => engine.log('error', `unhandled rejection: ${messageOf(reason)}`));
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    void engine.shutdown().finally(() => process.exit(0));
  });
}
