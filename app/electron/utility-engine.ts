/**
 * Starts the engine in an Electron utilityProcess (a Node process Electron manages, with a
 * structured-clone message channel), wrapped as the shells' EngineProcess.
 */
import { utilityProcess } from 'electron';
import type { EngineProcess, EngineSpawner } from '../common/engine-process.js';

export function utilityEngineSpawner(entry: string, args: string[]): EngineSpawner {
  return (): EngineProcess => {
    const child = utilityProcess.fork(entry, args, { serviceName: 'Atelier Engine', stdio: 'inherit' });
    return {
      get pid() {
        return child.pid;
      },
      send: (message) => child.postMessage(message),
      onMessage: (listener) => child.on('message', listener),
      onExit: (listener) => child.on('exit', (code) => listener(code, null)),
      kill: () => {
        child.kill();
      },
    };
  };
}
