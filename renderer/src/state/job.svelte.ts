/**
 * The job this window started: submit (runJob), follow its events (queued, started, progress with
 * step previews, done, failed, cancelled) and cancel it. Events for other jobs (another window,
 * or a job this one gave up on) never touch this state; a finished foreign job is only reported
 * so the history strip can show it.
 *
 * The engine announces a job (jobQueued, jobStarted) before its runJob reply arrives, so while a
 * runJob call is in flight, job events are held back and replayed once the reply names the job.
 */
import type { EngineClient, Unsubscribe } from '../engine/client.js';
import { codeOf, messageOf } from '../engine/errors.js';
import type { EventData, JobKind, JobRequest } from '../engine/protocol.js';
import { imageUrl, revokeUrl } from '../lib/images.js';

export type JobPhase = 'idle' | 'submitting' | 'queued' | 'running' | 'cancelling';

export interface JobFailure {
  code: string;
  message: string;
}

/** What the window remembers about the job it started. */
export interface JobContext {
  kind: JobKind;
  /** Size of the output (and of the canvas area the previews fill). */
  width: number;
  height: number;
  /** For an edit: the image it edits, for the before/after toggle. */
  source: { bytes: Uint8Array; mime: string; width: number; height: number } | null;
  /** Why it runs: Run, a slider move, or one frame of a sweep (which does not take over the canvas). */
  purpose?: 'run' | 'slider' | 'sweep';
}

export interface JobListener {
  done(data: EventData<'jobDone'>, context: JobContext): void;
  /** A job this window did not start (or gave up on) finished. */
  foreignDone(data: EventData<'jobDone'>): void;
  /** This window's job failed (its message is also in `Job.error`). */
  failed(failure: JobFailure): void;
  cancelled(note: string | null): void;
  /** Something to tell the user in passing (a cancel request that failed). */
  notice(text: string): void;
}

type JobEventName = 'jobQueued' | 'jobStarted' | 'progress' | 'jobDone' | 'jobFailed' | 'jobCancelled';
type JobEvent = { [E in JobEventName]: { name: E; data: EventData<E> } }[JobEventName];

const JOB_EVENTS: readonly JobEventName[] = ['jobQueued', 'jobStarted', 'progress', 'jobDone', 'jobFailed', 'jobCancelled'];

/** Events held back while a runJob reply is awaited (a busy engine with other windows). */
const MAX_BUFFERED = 1_000;

/** The message shown for a failed job; an engine restart is said in plain words. */
export function failureMessage(code: string, message: string): string {
  if (code !== 'engine_restarted') return message;
  return `The engine process stopped and was restarted, so this job was lost. ${message}`.trim();
}

export class Job {
  phase = $state<JobPhase>('idle');
  jobId = $state<string | null>(null);
  /** Jobs ahead of this one when it was queued. */
  position = $state(0);
  step = $state(0);
  total = $state(0);
  /** Object URL of the latest step preview. */
  previewUrl = $state<string | null>(null);
  /** Why the last job failed; stays until the next run. */
  error = $state.raw<JobFailure | null>(null);
  context = $state.raw<JobContext | null>(null);

  private buffered: JobEvent[] = [];
  private cancelRequested = false;
  /** The cancel in progress replaces the job with a newer one: no "Cancelled" for the user. */
  private quietCancel = false;
  /** Callers of `run` waiting for the job to end. */
  private settleWaiters: Array<(done: EventData<'jobDone'> | null) => void> = [];
  private readonly unsubscribe: Unsubscribe[];

  constructor(
    private readonly client: EngineClient,
    private readonly listener: JobListener,
  ) {
    this.unsubscribe = JOB_EVENTS.map((name) => client.on(name, (data) => this.receive({ name, data } as JobEvent)));
  }

  get busy(): boolean {
    return this.phase !== 'idle';
  }

  /** Submits a job; resolves once the engine accepted or refused it. */
  async start(request: JobRequest, context: JobContext): Promise<void> {
    if (this.busy) return;
    this.clearPreview();
    this.phase = 'submitting';
    this.jobId = null;
    this.error = null;
    this.context = context;
    this.position = 0;
    this.step = 0;
    this.total = request.steps ?? 0;
    this.buffered = [];
    this.cancelRequested = false;
    let jobId: string;
    try {
      ({ jobId } = await this.client.call('runJob', request));
    } catch (error) {
      if (this.phase === 'submitting' || this.phase === 'cancelling') {
        this.finish();
        this.error = { code: codeOf(error) ?? 'internal', message: messageOf(error) };
      }
      return;
    }
    if (!this.busy) return; // the connection dropped meanwhile; already reported
    this.jobId = jobId;
    const cancelling = this.cancelRequested;
    this.phase = 'queued';
    const buffered = this.buffered;
    this.buffered = [];
    for (const event of buffered) this.receive(event);
    if (cancelling && this.busy) await this.cancel();
  }

  /**
   * Submits a job and resolves when it ends: with its jobDone data, or null when it was refused,
   * failed, was cancelled or lost (SliderEdit's renders and sweeps wait for their output).
   */
  run(request: JobRequest, context: JobContext): Promise<EventData<'jobDone'> | null> {
    if (this.busy) return Promise.resolve(null);
    const settled = new Promise<EventData<'jobDone'> | null>((resolve) => this.settleWaiters.push(resolve));
    void this.start(request, context);
    return settled;
  }

  /** Resolves when no job of this window is active (at once when idle). */
  idle(): Promise<void> {
    if (!this.busy) return Promise.resolve();
    return new Promise((resolve) => this.settleWaiters.push(() => resolve()));
  }

  /**
   * Asks the engine to cancel the job; the outcome arrives as an event. `quiet`: the job is being
   * replaced (a newer slider position), so the user is not told it was cancelled.
   */
  async cancel(quiet = false): Promise<void> {
    if (!this.busy || this.phase === 'cancelling') return; // a cancel in progress keeps its own wording
    this.quietCancel = quiet;
    const jobId = this.jobId;
    const before = this.phase;
    this.phase = 'cancelling';
    if (jobId === null) {
      this.cancelRequested = true; // sent once runJob names the job
      return;
    }
    try {
      const { cancelled } = await this.client.call('cancel', { jobId });
      if (!cancelled && this.jobId === jobId && this.busy) {
        const quiet = this.quietCancel;
        this.finish();
        if (!quiet) this.listener.cancelled('The job was no longer running.');
      }
    } catch (error) {
      if (this.jobId === jobId && this.phase === 'cancelling') {
        this.phase = before;
        this.listener.notice(`Could not cancel the job: ${messageOf(error)}`);
      }
    }
  }

  /** The connection dropped: this job's events can no longer arrive. */
  connectionLost(): void {
    if (!this.busy) return;
    this.finish();
    this.error = {
      code: 'connection_lost',
      message: 'Lost the connection to the engine while the job was running; it may not have finished.',
    };
  }

  dispose(): void {
    for (const off of this.unsubscribe) off();
    this.clearPreview();
  }

  private receive(event: JobEvent): void {
    if (this.busy && this.jobId === null) {
      if (this.buffered.length < MAX_BUFFERED) this.buffered.push(event);
      return;
    }
    if (!this.busy || event.data.jobId !== this.jobId) {
      if (event.name === 'jobDone') this.listener.foreignDone(event.data);
      return;
    }
    this.apply(event);
  }

  private apply(event: JobEvent): void {
    switch (event.name) {
      case 'jobQueued':
        this.position = event.data.position;
        break;
      case 'jobStarted':
        if (this.phase === 'queued') this.phase = 'running';
        break;
      case 'progress':
        if (this.phase === 'queued') this.phase = 'running';
        this.step = event.data.step;
        this.total = event.data.total;
        if (event.data.preview) {
          const old = this.previewUrl;
          this.previewUrl = imageUrl(event.data.preview.bytes, event.data.preview.mime);
          revokeUrl(old);
        }
        break;
      case 'jobDone': {
        const context = this.context;
        this.finish(event.data);
        if (context) this.listener.done(event.data, context);
        break;
      }
      case 'jobFailed': {
        this.finish();
        const failure = { code: event.data.code, message: failureMessage(event.data.code, event.data.message) };
        this.error = failure;
        this.listener.failed(failure);
        break;
      }
      case 'jobCancelled': {
        const quiet = this.quietCancel;
        this.finish();
        if (!quiet) this.listener.cancelled(null);
        break;
      }
    }
  }

  private finish(done: EventData<'jobDone'> | null = null): void {
    this.phase = 'idle';
    this.jobId = null;
    this.buffered = [];
    this.cancelRequested = false;
    this.quietCancel = false;
    this.clearPreview();
    for (const resolve of this.settleWaiters.splice(0)) resolve(done);
  }

  private clearPreview(): void {
    revokeUrl(this.previewUrl);
    this.previewUrl = null;
  }
}
