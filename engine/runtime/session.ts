/**
 * ONNX Runtime sessions: creation with provider fallback, clear errors for missing or corrupt
 * model files, and the graph's declared inputs and outputs (names, dtypes, shapes) so pipelines
 * read them from the graph instead of assuming them.
 *
 * Sessions are created from a path, never from bytes: ONNX Runtime then memory-maps external
 * data (`model.onnx_data`) instead of copying it, and large models load without a 2 GiB limit.
 */
import { statSync } from 'node:fs';
import type { ProviderChoice, ProviderInfo, ProviderName } from '../protocol/index.js';
import { EngineError, messageOf } from '../errors.js';
import { ort, type OrtFeeds, type OrtSession, type OrtTensor } from './ort.js';
import { inventoryProviders, providerAttemptOrder } from './providers.js';

export interface TensorSpec {
  name: string;
  /** ONNX Runtime's element type name: 'float32', 'float16', 'int64', ... */
  type: string;
  /** Dimensions; symbolic ones are strings (e.g. 'batch'). */
  shape: ReadonlyArray<number | string>;
}

export interface SessionOptions {
  provider?: ProviderChoice;
  /** Providers known on this machine; computed when not given. */
  inventory?: ProviderInfo[];
  /** Extra session config entries (ONNX Runtime's `extra.session` keys). */
  config?: Record<string, string>;
  intraOpThreads?: number;
}

/**
 * Which prompt a denoiser run conditions on: the prompt itself, or the negative (unconditional)
 * prompt of a classifier-free guidance pass. Adapters whose scales address the prompt's tokens
 * (SliderEdit's per-token scales) feed different scales to the two.
 */
export type PromptPass = 'prompt' | 'negative';

/**
 * Feeds added to every run of a graph, for a run whose batch rows are these prompt passes (one row,
 * or a guided step's passes batched together); null when the passes cannot share one run (an
 * adapter's scale differs between them and its input has no batch dimension).
 */
export type ExtraFeeds = (passes: readonly PromptPass[]) => OrtFeeds | null;

/** The prompt pass of each batch row of a run; a single pass is a batch of one. */
export type PassRows = PromptPass | readonly PromptPass[];

function rowsOf(passes: PassRows): readonly PromptPass[] {
  return typeof passes === 'string' ? [passes] : passes;
}

/** An open model graph and what it declares. */
export class ModelSession {
  /** Feeds added to every run (adapter scales of a live-branch graph: engine/adapters). */
  private extraFeeds: ExtraFeeds | null = null;

  constructor(
    readonly file: string,
    private readonly session: OrtSession,
    readonly provider: ProviderName,
    /** Why the session is not on the provider that was asked for, if it is not. */
    readonly notice: string | null,
  ) {}

  get inputs(): TensorSpec[] {
    return this.session.inputMetadata.map((m) => toSpec(m));
  }

  get outputs(): TensorSpec[] {
    return this.session.outputMetadata.map((m) => toSpec(m));
  }

  input(name: string): TensorSpec {
    const spec = this.inputs.find((i) => i.name === name);
    if (!spec) throw new EngineError('model_error', `${this.file}: the graph has no input named "${name}" (it has: ${this.inputs.map((i) => i.name).join(', ')})`);
    return spec;
  }

  hasInput(name: string): boolean {
    return this.session.inputNames.includes(name);
  }

  /** Sets the feeds added to every run (or none); callers' own feeds win on a name clash. */
  setExtraFeeds(extra: ExtraFeeds | null): void {
    this.extraFeeds = extra;
  }

  /** Whether one run can compute these passes as its batch rows (the extra feeds stack). */
  canBatch(passes: readonly PromptPass[]): boolean {
    return this.extraFeeds === null || this.extraFeeds(passes) !== null;
  }

  /** The feeds added to every run, for callers that run `raw` themselves (benchmarks, tests). */
  extra(passes: PassRows = 'prompt'): OrtFeeds {
    const rows = rowsOf(passes);
    const extra = this.extraFeeds?.(rows);
    if (extra === null) throw new EngineError('internal', `${this.file}: the passes ${rows.join(', ')} cannot run as one batch (an adapter scale differs between them)`);
    return extra ?? {};
  }

  /**
   * Runs the graph; `passes` says which prompt each batch row of a denoiser run is for (the extra
   * feeds may differ per pass; check `canBatch` before batching passes).
   */
  async run(feeds: OrtFeeds, passes: PassRows = 'prompt'): Promise<Record<string, OrtTensor>> {
    const extra = this.extra(passes);
    try {
      return await this.session.run(this.extraFeeds ? { ...extra, ...feeds } : feeds);
    } catch (error) {
      throw new EngineError('model_error', `${this.file}: inference failed: ${messageOf(error)}`, { cause: error });
    }
  }

  /** The bare ONNX Runtime call, for benchmarks that compare the engine against it. */
  get raw(): OrtSession {
    return this.session;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

function toSpec(m: OrtSession['inputMetadata'][number]): TensorSpec {
  if (!m.isTensor) return { name: m.name, type: 'non-tensor', shape: [] };
  return { name: m.name, type: m.type, shape: m.shape };
}

function checkModelFile(file: string): void {
  let size: number;
  try {
    const stat = statSync(file);
    if (!stat.isFile()) throw new EngineError('model_error', `${file}: not a file`);
    size = stat.size;
  } catch (error) {
    if (error instanceof EngineError) throw error;
    throw new EngineError('model_error', `${file}: model file not found`);
  }
  if (size === 0) throw new EngineError('model_error', `${file}: the model file is empty`);
}

/** Turns ONNX Runtime's load errors into one sentence about the file. */
function describeLoadError(file: string, error: unknown): string {
  const raw = messageOf(error);
  if (/protobuf parsing failed/i.test(raw)) return `${file}: not a valid ONNX model (the file is corrupt or truncated)`;
  if (/external data|onnx_data|cannot open file/i.test(raw)) return `${file}: its external data is missing or unreadable (${firstLine(raw)})`;
  return `${file}: ONNX Runtime cannot load this model: ${firstLine(raw)}`;
}

function firstLine(text: string): string {
  const line = text.split('\n')[0] ?? text;
  return line.length > 400 ? `${line.slice(0, 400)}...` : line;
}

/**
 * ATELIER_THREADS=N: ONNX Runtime's intra-op threads for every session that does not choose
 * (default: ONNX Runtime's own choice, one per core). A tuning knob: tiny graphs of many small
 * ops can run faster on one thread than pay a thread-pool barrier per op.
 */
function threadsFromEnv(): number | undefined {
  const raw = process.env.ATELIER_THREADS;
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new EngineError('bad_input', `ATELIER_THREADS must be an integer from 1 to 256, got "${raw}"`);
  return n;
}

/**
 * Opens a model on the best provider of the user's choice, falling back to the CPU with a
 * one-line notice when a GPU provider cannot start (ONNX Runtime would throw instead).
 */
export async function openSession(file: string, options: SessionOptions = {}): Promise<ModelSession> {
  checkModelFile(file);
  const inventory = options.inventory ?? inventoryProviders();
  const attempts = providerAttemptOrder(options.provider ?? 'auto', inventory);
  const failures: string[] = [];
  for (const provider of attempts) {
    try {
      const session = await ort.InferenceSession.create(file, {
        executionProviders: [provider],
        graphOptimizationLevel: 'all',
        logSeverityLevel: provider === 'cpu' ? 3 : 4,
        ...((options.intraOpThreads ?? threadsFromEnv()) ? { intraOpNumThreads: options.intraOpThreads ?? threadsFromEnv() } : {}),
        ...(options.config ? { extra: { session: options.config } } : {}),
      });
      const notice = failures.length > 0 ? `using ${provider}: ${failures.join('; ')}` : null;
      return new ModelSession(file, session, provider, notice);
    } catch (error) {
      if (provider === 'cpu') throw new EngineError('model_error', describeLoadError(file, error), { cause: error });
      failures.push(`${provider} unavailable (${firstLine(messageOf(error)).slice(0, 160)})`);
    }
  }
  throw new EngineError('model_error', `${file}: no provider could open it (${failures.join('; ')})`);
}
