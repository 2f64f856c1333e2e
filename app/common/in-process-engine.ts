/**
 * An engine "process" that lives in the current process: the real Engine and RpcServer, with
 * messages passed through structuredClone on a later tick as process IPC would. For tests of the
 * shells that need an engine but not a child process; `kill()` behaves like a crash.
 */
import { Engine, type EngineOptions } from '../../engine/engine.js';
import { RpcServer } from '../../engine/rpc/server.js';
import type { EngineProcess, EngineSpawner } from './engine-process.js';

export function inProcessEngineSpawner(options: () => EngineOptions): EngineSpawner {
  let pid = 100_000;
  return (): EngineProcess => {
    const engine = new Engine(options());
    let alive = true;
    let toShell: (m: unknown) => void = () => {};
    let toEngine: (m: unknown) => void = () => {};
    let onExit: (code: number | null, signal: string | null) => void = () => {};
    new RpcServer(engine, {
      send: (m) => {
        const copy = structuredClone(m);
        setImmediate(() => alive && toShell(copy));
      },
      onMessage: (h) => {
        toEngine = h;
      },
    });
    return {
      pid: ++pid,
      send: (m) => {
        const copy = structuredClone(m);
        setImmediate(() => alive && toEngine(copy));
      },
      onMessage: (l) => {
        toShell = l;
      },
      onExit: (l) => {
        onExit = l;
      },
      kill: (hard) => {
        if (!alive) return;
        alive = false;
        void engine.shutdown();
        setImmediate(() => onExit(null, hard ? 'SIGKILL' : 'SIGTERM'));
      },
    };
  };
}
