/**
 * The job queue: model jobs run one at a time, in submission order. Each job gets an
 * AbortSignal; cancelling a queued job removes it, cancelling the running one aborts its signal,
 * which the pipeline checks between denoising steps (ONNX Runtime's run() cannot be interrupted).
 * A job past its last check when the cancel comes finishes and is reported done.
 */
import { randomUUID } from 'node:crypto';
import { CancelledError, EngineError, messageOf } from '../errors.js';
import type { ErrorCode, JobKind } from '../protocol/index.js';

export type JobRunner<R> = (signal: AbortSignal, jobId: string) => Promise<R>;

export interface QueueListener<R> {
  queued(jobId: string, kind: JobKind, position: number): void;
  started(jobId: string, kind: JobKind): void;
  done(jobId: string, result: R, seconds: number): void;
  failed(jobId: string, code: ErrorCode, message: string): void;
  cancelled(jobId: string): void;
}

interface QueuedJob<R> {
  id: string;
  kind: JobKind;
  run: JobRunner<R>;
  controller: AbortController;
}

export class JobQueue<R> {
  private readonly waiting: QueuedJob<R>[] = [];
  private current: QueuedJob<R> | null = null;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly listener: QueueListener<R>) {}

  /** Adds a job and returns its id; it starts when every job before it has ended. */
  submit(kind: JobKind, run: JobRunner<R>): string {
    const job: QueuedJob<R> = { id: `job-${randomUUID()}`, kind, run, controller: new AbortController() };
    this.waiting.push(job);
    this.listener.queued(job.id, kind, this.waiting.length - 1 + (this.current ? 1 : 0));
    queueMicrotask(() => void this.pump());
    return job.id;
  }

  /** Cancels a queued or running job; false when no such job is waiting or running. */
  cancel(jobId: string): boolean {
    if (this.current?.id === jobId) {
      this.current.controller.abort();
      return true;
    }
    const index = this.waiting.findIndex((j) => j.id === jobId);
    if (index < 0) return false;
    const [job] = this.waiting.splice(index, 1);
    job!.controller.abort();
    this.listener.cancelled(jobId);
    return true;
  }

  /** Cancels everything (used on shutdown and when the model is unloaded). */
  cancelAll(): void {
    for (const job of this.waiting.splice(0)) this.listener.cancelled(job.id);
    this.current?.controller.abort();
  }

  get runningJobId(): string | null {
    return this.current?.id ?? null;
  }

  get pending(): number {
    return this.waiting.length + (this.current ? 1 : 0);
  }

  /** Resolves once no job is waiting or running. */
  idle(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private async pump(): Promise<void> {
    if (this.current) return;
    const job = this.waiting.shift();
    if (!job) {
      for (const resolve of this.idleWaiters.splice(0)) resolve();
      return;
    }
    this.current = job;
    this.listener.started(job.id, job.kind);
    const started = performance.now();
    try {
      const result = await job.run(job.controller.signal, job.id);
      // a job that returned is done, even when a cancel came after its last check: its output is
      // saved (and a preview it replaced removed), so reporting it cancelled would hide both
      this.listener.done(job.id, result, (performance.now() - started) / 1000);
    } catch (error) {
      if (error instanceof CancelledError || job.controller.signal.aborted) this.listener.cancelled(job.id);
      else if (error instanceof EngineError) this.listener.failed(job.id, error.code, error.message);
      else this.listener.failed(job.id, 'internal', messageOf(error));
    } finally {
      this.current = null;
      void this.pump();
    }
  }
}
