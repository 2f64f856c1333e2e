/**
 * An in-memory stand-in for the engine process, for renderer tests. It speaks the real protocol
 * through a Transport (every message is structured-cloned on the way, as over a MessagePort, so
 * a Svelte state proxy or a function in a message fails the test), answers the methods with a
 * small model catalog and history, and lets a test emit events, fail methods and drop the
 * connection. Like the real engine, runJob announces the job (jobQueued, jobStarted) before
 * its reply.
 */
import type { Connection, Transport, TransportHandlers } from '../src/engine/transport.js';
import type {
  EncodedImage,
  EventData,
  EventName,
  HistoryEntry,
  JobMetadata,
  MethodName,
  MethodParams,
  MethodResult,
  ModelInfo,
  ProviderName,
  RequestEnvelope,
  ServerMessage,
} from '../src/engine/protocol.js';

export const TINY_MODEL: ModelInfo = {
  id: 'tiny-shapes',
  name: 'Tiny Shapes',
  family: 'shapes',
  layout: 'atelier-tiny',
  path: '/models/tiny',
  embedded: true,
  tasks: ['generate', 'edit'],
  defaults: { steps: 4, guidance: 2.5, width: 64, height: 64 },
};

export const BIG_MODEL: ModelInfo = {
  id: 'sd15',
  name: 'Stable Diffusion 1.5',
  family: 'sd15',
  layout: 'diffusers-onnx',
  path: '/models/sd15',
  embedded: false,
  tasks: ['generate'],
  defaults: { steps: 25, guidance: 7.5, width: 512, height: 512 },
};

/** A PNG signature and IHDR chunk: enough for the test image decoder (see browser.ts). */
export function pngBytes(width: number, height: number, fill = 0): Uint8Array {
  const bytes = new Uint8Array(40).fill(fill);
  bytes.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]);
  const view = new DataView(bytes.buffer);
  view.setUint32(16, width);
  view.setUint32(20, height);
  return bytes;
}

export function pngImage(width: number, height: number, fill = 0): EncodedImage {
  return { mime: 'image/png', bytes: pngBytes(width, height, fill), width, height };
}

export function metadata(overrides: Partial<JobMetadata> = {}): JobMetadata {
  return {
    kind: 'generate',
    model: TINY_MODEL.name,
    text: 'a red circle',
    seed: 42,
    steps: 4,
    guidance: 2.5,
    width: 64,
    height: 64,
    provider: 'cpu',
    createdAt: '2025-01-01T00:00:00.000Z',
    engineVersion: '0.1.0',
    ...overrides,
  };
}

/** An error reply the fake sends for a method (code and message as the engine would). */
export class FakeEngineError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

type Handler<M extends MethodName> = (params: MethodParams<M>) => MethodResult<M> | Promise<MethodResult<M>>;
type Overrides = { [M in MethodName]?: Handler<M> };

export class FakeEngine {
  models: ModelInfo[] = [TINY_MODEL, BIG_MODEL];
  loaded: ModelInfo | null = null;
  provider: ProviderName = 'cpu';
  protocol = 1;
  history: HistoryEntry[] = [];
  images = new Map<string, EncodedImage>();
  /** Every request received, in order. */
  readonly requests: RequestEnvelope[] = [];
  /** Replace a method's behaviour (throw FakeEngineError for an error reply). */
  overrides: Overrides = {};
  /** While true, connection attempts fail. */
  refuse = false;
  /** Transport opens so far. */
  opens = 0;

  private handlers: TransportHandlers | null = null;
  private jobs = 0;

  readonly transport: Transport = {
    name: 'fake',
    open: async (handlers: TransportHandlers): Promise<Connection> => {
      this.opens++;
      if (this.refuse) throw new Error('connection refused');
      this.handlers = handlers;
      return {
        send: (message) => {
          if (this.handlers !== handlers) throw new Error('closed');
          const request = structuredClone(message);
          queueMicrotask(() => void this.handle(request, handlers));
        },
        close: () => {
          if (this.handlers === handlers) this.handlers = null;
        },
      };
    },
  };

  get connected(): boolean {
    return this.handlers !== null;
  }

  /** The requests for one method. */
  calls<M extends MethodName>(method: M): MethodParams<M>[] {
    return this.requests.filter((r) => r.method === method).map((r) => r.params as MethodParams<M>);
  }

  emit<E extends EventName>(event: E, data: EventData<E>): void {
    this.send({ type: 'event', event, data } as ServerMessage);
  }

  /** Ends the connection from the engine's side (the process died, the socket closed). */
  drop(reason = 'engine gone'): void {
    const handlers = this.handlers;
    this.handlers = null;
    handlers?.close(reason);
  }

  private send(message: ServerMessage, to: TransportHandlers | null = this.handlers): void {
    if (!to || to !== this.handlers) return;
    to.message(structuredClone(message));
  }

  private async handle(request: RequestEnvelope, from: TransportHandlers): Promise<void> {
    this.requests.push(request);
    const method = request.method as MethodName;
    try {
      const override = this.overrides[method] as Handler<MethodName> | undefined;
      const result = override ? await override(request.params as never) : await this.answer(method, request.params);
      this.send({ type: 'response', id: request.id, ok: true, result } as ServerMessage, from);
    } catch (error) {
      const code = error instanceof FakeEngineError ? error.code : 'internal';
      const message = error instanceof Error ? error.message : String(error);
      this.send({ type: 'response', id: request.id, ok: false, error: { code, message } } as ServerMessage, from);
    }
  }

  private answer(method: MethodName, params: unknown): unknown {
    const p = (params ?? {}) as Record<string, unknown>;
    switch (method) {
      case 'hello':
        if (p.protocol !== this.protocol) throw new FakeEngineError('version_mismatch', `client speaks protocol ${String(p.protocol)}`);
        return {
          protocol: this.protocol,
          engineVersion: '0.1.0',
          onnxruntimeVersion: '1.30.0',
          platform: 'linux-x64',
          providers: [
            { name: 'cpu', available: true, detail: '' },
            { name: 'cuda', available: false, detail: 'no CUDA provider files' },
          ],
          dataDir: '/data',
          loadedModel: this.loaded,
          provider: this.loaded ? this.provider : null,
        };
      case 'listModels':
        return { models: this.models };
      case 'loadModel': {
        const model = this.models.find((m) => m.id === p.modelId);
        if (!model) throw new FakeEngineError('not_found', `no model "${String(p.modelId)}"`);
        this.loaded = model;
        this.emit('modelChanged', { model, provider: this.provider });
        return { model, provider: this.provider, notice: null };
      }
      case 'unloadModel': {
        const had = this.loaded !== null;
        this.loaded = null;
        if (had) this.emit('modelChanged', { model: null, provider: null });
        return { unloaded: had };
      }
      case 'runJob': {
        if (!this.loaded) throw new FakeEngineError('no_model', 'no model is loaded');
        const jobId = `job-${++this.jobs}`;
        const kind = p.kind === 'edit' ? 'edit' : 'generate';
        this.emit('jobQueued', { jobId, kind, position: 0 });
        this.emit('jobStarted', { jobId, kind });
        return { jobId };
      }
      case 'cancel':
        this.emit('jobCancelled', { jobId: String(p.jobId) });
        return { cancelled: true };
      case 'listHistory':
        return { entries: this.history.slice(0, typeof p.limit === 'number' ? p.limit : undefined) };
      case 'readHistoryImage': {
        const image = this.images.get(String(p.jobId));
        if (!image) throw new FakeEngineError('not_found', `no output "${String(p.jobId)}"`);
        return image;
      }
    }
  }
}
