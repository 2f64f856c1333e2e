/**
 * A client for an engine child process speaking the real RPC protocol over process IPC, as the
 * web shell's engine does: for benchmarks that measure the engine through its RPC.
 */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { packageRoot } from '../paths.js';
import { PROTOCOL_VERSION, type EventEnvelope, type MethodName, type MethodParams, type MethodResult, type ServerMessage } from '../protocol/index.js';

export class EngineChild {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly listeners = new Set<(e: EventEnvelope, at: number) => void>();

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (raw) => {
      const at = performance.now();
      const m = raw as ServerMessage;
      if (m.type === 'event') {
        for (const l of this.listeners) l(m, at);
        return;
      }
      if (m.id === null) return;
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      if (m.ok) w.resolve(m.result);
      else w.reject(new Error(`${m.error.code}: ${m.error.message}`));
    });
  }

  static async start(args: string[]): Promise<EngineChild> {
    const entry = path.join(packageRoot(), 'dist', 'engine', 'host', 'main.js');
    const child = fork(entry, args, { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const engine = new EngineChild(child);
    await engine.call('hello', { client: 'bench', protocol: PROTOCOL_VERSION });
    return engine;
  }

  call<M extends MethodName>(method: M, params: MethodParams<M>): Promise<MethodResult<M>> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ type: 'request', id, method, params });
    });
  }

  /** Listens to events; `at` is performance.now() when the message arrived. */
  onEvent(listener: (e: EventEnvelope, at: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  stop(): void {
    this.child.kill('SIGTERM');
  }
}
