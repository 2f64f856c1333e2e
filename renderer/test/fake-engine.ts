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
  ActiveAdapter,
  AdapterInfo,
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

/** The embedded default: a tiny FLUX Kontext (text to image and instruction edits, one size). */
export const TINY_MODEL: ModelInfo = {
  id: 'tiny-shapes',
  name: 'Tiny Shapes',
  family: 'flux-kontext',
  layout: 'zoo',
  path: '/models/tiny',
  embedded: true,
  tasks: ['generate', 'edit'],
  defaults: { steps: 4, guidance: 2.5, width: 64, height: 64, scheduler: 'flow-euler' },
  schedulers: ['flow-euler'],
  negativePrompt: false,
  fixedSize: true,
};

/** A Stable Diffusion model: text to image and image-to-image, several samplers, a negative prompt. */
export const BIG_MODEL: ModelInfo = {
  id: 'sd15',
  name: 'Stable Diffusion 1.5',
  family: 'sd15',
  layout: 'diffusers-onnx',
  path: '/models/sd15',
  embedded: false,
  tasks: ['generate', 'img2img'],
  defaults: { steps: 25, guidance: 7.5, width: 512, height: 512, scheduler: 'euler-a' },
  schedulers: ['euler-a', 'euler', 'ddim', 'dpmpp-2m-karras', 'dpmpp-2m', 'lcm'],
  negativePrompt: true,
  fixedSize: false,
};

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = (CRC_TABLE[(c ^ b) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** One PNG chunk: length, type, data, CRC-32 of type and data. */
export function pngChunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  out.set([...type].map((c) => c.charCodeAt(0)), 4);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** The data of a text chunk as Atelier writes them: iTXt (UTF-8, uncompressed) or tEXt (Latin-1). */
export function textChunk(keyword: string, text: string, international = true): Uint8Array {
  const encode = (s: string): number[] => [...s].map((c) => c.charCodeAt(0) & 0xff);
  const body = international
    ? [...encode(keyword), 0, 0, 0, 0, 0, ...new TextEncoder().encode(text)]
    : [...encode(keyword), 0, ...encode(text)];
  return pngChunk(international ? 'iTXt' : 'tEXt', Uint8Array.from(body));
}

/**
 * A small well-formed PNG: signature, IHDR, the given extra chunks (text), an IDAT filled with
 * `fill`, IEND. Enough for the test image decoder (see browser.ts); the pixels are not real.
 */
export function pngBytes(width: number, height: number, fill = 0, extra: readonly Uint8Array[] = []): Uint8Array {
  const ihdr = new Uint8Array(13);
  const view = new DataView(ihdr.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  const parts = [
    Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a),
    pngChunk('IHDR', ihdr),
    ...extra,
    pngChunk('IDAT', new Uint8Array(8).fill(fill)),
    pngChunk('IEND', new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** A PNG as the engine writes its outputs: the job metadata in an iTXt "atelier" chunk. */
export function atelierPng(width: number, height: number, meta: JobMetadata): Uint8Array {
  return pngBytes(width, height, 1, [textChunk('parameters', `${meta.text}\nSteps: ${meta.steps}`, false), textChunk('atelier', JSON.stringify(meta))]);
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
    scheduler: 'flow-euler',
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
  /** What inspectAdapter answers per file name (other names get a bad_input error). */
  adapterInfos = new Map<string, AdapterInfo>();
  /** The active adapters, and every setAdapters list received. */
  adapters: ActiveAdapter[] = [];
  adapterCalls: Array<Array<{ id: string; enabled: boolean; weight: number; mode: string; allowPartial?: boolean }>> = [];
  /** Whether sliderParts says the loaded model can run SliderEdit (and the reason when not). */
  slidersAvailable = true;
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
          adapters: this.adapters,
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
        const kind = p.kind === 'edit' || p.kind === 'img2img' ? p.kind : 'generate';
        this.emit('jobQueued', { jobId, kind, position: 0 });
        this.emit('jobStarted', { jobId, kind });
        return { jobId };
      }
      case 'cancel':
        this.emit('jobCancelled', { jobId: String(p.jobId) });
        return { cancelled: true };
      case 'listHistory':
        return { entries: this.history.slice(0, typeof p.limit === 'number' ? p.limit : undefined) };
      case 'inspectAdapter': {
        const name = typeof p.name === 'string' ? p.name : String(p.path);
        const info = this.adapterInfos.get(name);
        if (!info) throw new FakeEngineError('bad_input', `${name}: not a valid safetensors file: header length 7 runs past the end of the file`);
        return info;
      }
      case 'setAdapters': {
        const list = (p.adapters ?? []) as Array<{ id: string; enabled: boolean; weight: number; mode: 'bake' | 'live'; perToken?: boolean; allowPartial?: boolean }>;
        this.adapterCalls.push(list);
        const known = [...this.adapterInfos.values()];
        this.adapters = list.map((a) => ({ ...a, name: known.find((i) => i.id === a.id)?.name ?? a.id, perToken: a.perToken ?? false, allowPartial: a.allowPartial ?? false }));
        this.emit('adaptersChanged', { adapters: this.adapters });
        return { adapters: this.adapters };
      }
      case 'sliderParts': {
        const instruction = String(p.instruction);
        const given = Array.isArray(p.parts) && p.parts.length > 0 ? (p.parts as string[]) : null;
        const parts = given ? locate(instruction, given) : split(instruction);
        const available = this.loaded !== null && this.slidersAvailable;
        return { parts, available, reason: available ? null : 'This model has no SliderEdit STLoRA.' };
      }
      case 'watermarkKeys':
        return { keys: [] };
      case 'watermarkState':
        return { modelId: this.loaded?.id ?? null, enabled: false, keyId: null, keyName: null, active: false, problem: null };
      case 'readHistoryImage': {
        const image = this.images.get(String(p.jobId));
        if (!image) throw new FakeEngineError('not_found', `no output "${String(p.jobId)}"`);
        return image;
      }
    }
  }
}

type FakePart = { text: string; start: number; end: number; tokens: [number, number] | null };

/** The engine's automatic split (and, then, commas, semicolons), with made-up token ranges. */
function split(instruction: string): FakePart[] {
  const parts: FakePart[] = [];
  const re = /(?:\s*(?:[,;]|\band\b|\bthen\b)\s*)+/gi;
  let start = 0;
  const push = (from: number, to: number) => {
    const text = instruction.slice(from, to);
    const lead = text.length - text.trimStart().length;
    const trimmed = text.trim();
    if (trimmed) parts.push({ text: trimmed, start: from + lead, end: from + lead + trimmed.length, tokens: [parts.length * 4, parts.length * 4 + 3] });
  };
  for (const m of instruction.matchAll(re)) {
    push(start, m.index);
    start = m.index + m[0].length;
  }
  push(start, instruction.length);
  return parts;
}

/** The user's parts found in order, or the engine's error. */
function locate(instruction: string, given: string[]): FakePart[] {
  let from = 0;
  return given.map((raw, i) => {
    const text = raw.trim();
    const at = instruction.toLowerCase().indexOf(text.toLowerCase(), from);
    if (!text || at < 0) throw new FakeEngineError('invalid_params', `sub-instruction "${text}" is not part of the instruction "${instruction}"`);
    from = at + text.length;
    return { text: instruction.slice(at, from), start: at, end: from, tokens: [i * 4, i * 4 + 3] };
  });
}
