/**
 * Keeps one engine process alive for a shell: starts it, forwards its messages, and when it
 * exits unexpectedly restarts it (with a growing delay if it keeps dying) and tells the listener,
 * so the relay can fail the requests and jobs the dead process took with it.
 */
import type { EngineProcess, EngineSpawner } from './engine-process.js';

export interface SupervisorEvents {
  message(message: unknown): void;
  /** The process died; `restartInMs` later a new one starts. */
  exited(info: { code: number | null; signal: string | null; restartInMs: number }): void;
  started(pid: number | undefined): void;
}

export class EngineSupervisor {
  private process: EngineProcess | null = null;
  private stopped = false;
  private recentExits: number[] = [];
  private restartTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly spawn: EngineSpawner,
    private readonly events: SupervisorEvents,
  ) {}

  start(): void {
    this.stopped = false;
    this.launch();
  }

  get pid(): number | undefined {
    return this.process?.pid;
  }

  /** Whether a live process can take a message now. */
  get running(): boolean {
    return this.process !== null;
  }

  send(message: unknown): boolean {
    if (!this.process) return false;
    this.process.send(message);
    return true;
  }

  /** Kills the current process as a crash would (tests and "restart engine" use this). */
  kill(): void {
    this.process?.kill(true);
  }

  stop(): void {
    this.stopped = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    const current = this.process;
    this.process = null;
    current?.kill();
  }

  private launch(): void {
    const child = this.spawn();
    this.process = child;
    child.onMessage((message) => {
      if (this.process === child) this.events.message(message);
    });
    child.onExit((code, signal) => {
      if (this.process !== child) return;
      this.process = null;
      if (this.stopped) return;
      const now = Date.now();
      this.recentExits = [...this.recentExits.filter((t) => now - t < 60_000), now];
      // Immediate restart, then back off when it keeps crashing: 0.5 s, 1 s, 2 s ... up to 30 s.
      const restartInMs = this.recentExits.length <= 1 ? 0 : Math.min(30_000, 250 * 2 ** (this.recentExits.length - 1));
      this.events.exited({ code, signal, restartInMs });
      this.restartTimer = setTimeout(() => {
        this.restartTimer = null;
        if (!this.stopped) this.launch();
      }, restartInMs);
    });
    this.events.started(child.pid);
  }
}
