/**
 * Starts the engine as a Node child process (the web shell's way; the desktop app uses
 * Electron's utilityProcess). Structured-clone serialization lets image bytes cross as bytes.
 */
import { fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../../engine/paths.js';
import type { EngineProcess, EngineSpawner } from '../common/engine-process.js';

/** The compiled engine entry point. */
export function engineEntry(): string {
  return path.join(packageRoot(), 'dist', 'engine', 'host', 'main.js');
}

export function forkEngineSpawner(args: string[] = []): EngineSpawner {
  const entry = engineEntry();
  if (!existsSync(entry)) throw new Error(`${entry} not found: run "npm run build" first`);
  return (): EngineProcess => {
    const child = fork(entry, args, { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    // A send racing the child's death errors here; the 'exit' listener handles the death itself.
    child.on('error', () => {});
    return {
      pid: child.pid,
      send: (message) => {
        if (child.connected) child.send(message as object);
      },
      onMessage: (listener) => child.on('message', listener),
      onExit: (listener) => child.on('exit', (code, signal) => listener(code, signal)),
      kill: (hard) => {
        child.kill(hard ? 'SIGKILL' : 'SIGTERM');
      },
    };
  };
}
