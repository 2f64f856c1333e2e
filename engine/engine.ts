/**
 * The engine's API, used in-process by the CLI and behind the RPC server by the shells. It owns
 * the loaded model's pipeline, the job queue and the history of outputs, and reports everything
 * that happens as protocol events to its listeners.
 */
import os from 'node:os';
import path from 'node:path';
import { CancelledError, EngineError } from './errors.js';
import { decodeImage } from './images/codec.js';
import { executeJob, type JobOutput, type LoadedModel } from './jobs/execute.js';
import { JobQueue } from './jobs/queue.js';
import { ModelCatalog, type ModelEntry, type ModelRoot } from './models/catalog.js';
import { ImportedModels } from './models/imported.js';
import type { Pipeline } from './pipelines/pipeline.js';
import { createPipeline as defaultPipelineFactory, type PipelineOptions } from './pipelines/registry.js';
import {
  ErrorCode,
  PROTOCOL_VERSION,
  type EncodedImage,
  type EventData,
  type EventEnvelope,
  type EventName,
  type HistoryEntry,
  type JobRequest,
  type MethodResult,
  type ModelInfo,
  type ProviderChoice,
  type ProviderInfo,
  type ActiveAdapter,
  type AdapterInfo,
  type WatermarkKeyInfo,
  type WatermarkState,
  type WatermarkVerdict,
} from './protocol/index.js';
import { inventoryProviders } from './runtime/providers.js';
import { onnxruntimeVersion } from './runtime/ort.js';
import { HistoryStore } from './stores/history.js';
import { engineVersion } from './version.js';
import { AdapterManager, type AdapterSetting, type AdapterSource } from './adapters/manager.js';
import { adapterInfo } from './adapters/info.js';
import { WatermarkEmbedding, type EmbeddingTarget } from './methods/watermark/embedding.js';
import { keyInfo, Watermarking } from './methods/watermark/service.js';
import { SliderEditRunner } from './methods/slideredit/runner.js';

export type PipelineFactory = (entry: ModelEntry, provider: ProviderChoice, options: PipelineOptions) => Promise<Pipeline>;
export type EngineListener = (event: EventEnvelope) => void;

export interface EngineOptions {
  dataDir: string;
  modelRoots: ModelRoot[];
  createPipeline?: PipelineFactory;
  /** Send a preview with every n-th step (0: none). */
  previewEvery?: number;
  /** Never hold a model's text encoders and its denoiser in memory at once (pipelines/sessions.ts). */
  lowMemory?: boolean;
  /** The watermark's files (extractor, key-to-LoRA generator); models/tiny/watermark by default. */
  watermarkDir?: string;
  /**
   * Each denoising step lasts at least this long (ms; 0: no pacing). The end-to-end suite sets it
   * (ATELIER_MIN_STEP_MS) so that a job on the tiny model, a millisecond a step on a quiet CPU,
   * lasts long enough to watch its progress, cancel it and kill its engine.
   */
  minStepMs?: number;
}

export class Engine {
  readonly dataDir: string;
  private readonly catalog: ModelCatalog;
  /** Model folders the user imported (anywhere on disk). */
  private readonly imported: ImportedModels;
  private readonly history: HistoryStore;
  private readonly createPipeline: PipelineFactory;
  private readonly previewEvery: number;
  private readonly minStepMs: number;
  private readonly pipelineOptions: PipelineOptions;
  private readonly listeners = new Set<EngineListener>();
  private readonly queue: JobQueue<JobOutput>;
  private providers: ProviderInfo[] | null = null;
  private loaded: LoadedModel | null = null;
  private loading: Promise<unknown> = Promise.resolve();
  /** LoRA and other adapter files, and the ones active on the loaded model (engine/adapters). */
  readonly adapters: AdapterManager;
  /** Watermark keys, verification and the per-model embedding switch (methods/watermark). */
  readonly watermark: Watermarking;
  /** The watermark baked into the loaded model now, or why it is not (methods/watermark/embedding.ts). */
  private readonly embedding: WatermarkEmbedding;
  /** The key being trained by createWatermarkKey, to cancel it. */
  private keyTraining: AbortController | null = null;
  /** SliderEdit: edit jobs with sliders, their cached encodings (engine/methods/slideredit). */
  readonly sliderEdit: SliderEditRunner;

  constructor(options: EngineOptions) {
    this.dataDir = options.dataDir;
    this.imported = new ImportedModels(options.dataDir);
    this.catalog = new ModelCatalog(options.modelRoots, () => this.imported.folders().map((dir) => ({ dir, explicit: true })));
    this.history = new HistoryStore(path.join(options.dataDir, 'outputs'));
    this.createPipeline = options.createPipeline ?? defaultPipelineFactory;
    this.previewEvery = options.previewEvery ?? 1;
    this.minStepMs = options.minStepMs ?? 0;
    this.pipelineOptions = { lowMemory: options.lowMemory ?? false, graphCacheDir: path.join(options.dataDir, 'cache', 'graphs') };
    this.adapters = new AdapterManager(options.dataDir);
    this.watermark = new Watermarking(options.dataDir, options.watermarkDir);
    this.sliderEdit = new SliderEditRunner(this.adapters);
    this.embedding = new WatermarkEmbedding(this.watermark, this.adapters, () => this.queue.idle());
    this.queue = new JobQueue<JobOutput>({
      queued: (jobId, kind, position) => this.emit('jobQueued', { jobId, kind, position }),
      started: (jobId, kind) => this.emit('jobStarted', { jobId, kind }),
      done: (jobId, out, seconds) => this.emit('jobDone', { jobId, ...out, seconds }),
      failed: (jobId, code, message) => this.emit('jobFailed', { jobId, code, message }),
      cancelled: (jobId) => this.emit('jobCancelled', { jobId }),
    });
  }

  onEvent(listener: EngineListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit<E extends EventName>(event: E, data: EventData<E>): void {
    const envelope = { type: 'event', event, data } as EventEnvelope;
    for (const listener of this.listeners) listener(envelope);
  }

  log(level: EventData<'log'>['level'], message: string): void {
    this.emit('log', { level, message, time: new Date().toISOString() });
  }

  providerInventory(): ProviderInfo[] {
    this.providers ??= inventoryProviders();
    return this.providers;
  }

  hello(): MethodResult<'hello'> {
    return {
      protocol: PROTOCOL_VERSION,
      engineVersion: engineVersion(),
      onnxruntimeVersion: onnxruntimeVersion(),
      platform: `${os.platform()}-${os.arch()}`,
      providers: this.providerInventory(),
      dataDir: this.dataDir,
      loadedModel: this.loaded?.entry.info ?? null,
      provider: this.loaded?.pipeline.provider ?? null,
      adapters: this.userAdapters(),
    };
  }

  listModels(): ModelInfo[] {
    return this.catalog.list((message) => this.log('warn', message)).map((e) => e.info);
  }

  /** Validates a folder and, when usable, adds it to the catalog (files stay in place). */
  async importModel(dir: string): Promise<MethodResult<'importModel'>> {
    const report = await this.imported.import(dir);
    const model = report.descriptor ? (this.listModels().find((m) => path.resolve(m.path) === report.dir) ?? null) : null;
    if (model) this.log('info', `imported ${model.name} (${model.family}) from ${report.dir}`);
    return { ok: model !== null, dir: report.dir, layout: report.layout, found: report.found, problems: report.problems, notes: report.notes, model };
  }

  /**
   * Removes an imported model from the catalog (unloading it first when it is loaded); built-in
   * and models-folder models cannot be forgotten: false, and nothing is unloaded.
   */
  async forgetModel(modelId: string): Promise<boolean> {
    const entry = this.catalog.find(modelId);
    if (!this.imported.has(entry.dir)) return false;
    if (this.loaded?.entry.info.id === modelId) await this.unloadModel();
    return this.imported.forget(entry.dir);
  }

  /**
   * Runs `run` after every earlier model load, adapter or watermark change has settled (each sees
   * the state the previous one left), whether those succeeded or not.
   */
  private serialized<T>(run: () => Promise<T>): Promise<T> {
    const result = this.loading.then(run, run);
    this.loading = result.catch(() => undefined);
    return result;
  }

  get loadedModel(): ModelInfo | null {
    return this.loaded?.entry.info ?? null;
  }

  /** Loads a model (unloading the current one); loads are serialized. */
  loadModel(modelId: string, provider: ProviderChoice = 'auto'): Promise<MethodResult<'loadModel'>> {
    const run = async (): Promise<MethodResult<'loadModel'>> => {
      const entry = this.catalog.find(modelId);
      await this.unloadCurrent();
      const pipeline = await this.createPipeline(entry, provider, this.pipelineOptions);
      this.loaded = { entry, pipeline };
      if (pipeline.notice) this.log('warn', pipeline.notice);
      this.emit('modelChanged', { model: entry.info, provider: pipeline.provider });
      await this.restoreWatermark();
      return { model: entry.info, provider: pipeline.provider, notice: pipeline.notice };
    };
    return this.serialized(run);
  }

  async unloadModel(): Promise<boolean> {
    await this.loading;
    const had = this.loaded !== null;
    await this.unloadCurrent();
    if (had) {
      this.emit('modelChanged', { model: null, provider: null });
      this.emit('watermarkChanged', this.watermarkState());
    }
    return had;
  }

  private async unloadCurrent(): Promise<void> {
    // the running job stops first: one still inside a SliderEdit job would otherwise set the
    // STLoRA again, or cache a session, after the reset below
    if (this.loaded) {
      this.queue.cancelAll();
      await this.queue.idle();
    }
    this.sliderEdit.clear();
    // adapters belong to the model they were set on: the user's, the watermark's, and the methods'
    // (SliderEdit's STLoRA), with the plan signatures of the old graphs; a reload starts clean
    const listed = this.userAdapters().length > 0;
    this.adapters.reset();
    if (listed) this.emit('adaptersChanged', { adapters: [] });
    this.embedding.reset();
    if (!this.loaded) return;
    const { pipeline } = this.loaded;
    this.loaded = null;
    await pipeline.release();
  }

  /** Reads an adapter file and maps it to the loaded model (coverage), remembering it by content id. */
  async inspectAdapter(source: AdapterSource): Promise<AdapterInfo> {
    const loaded = await this.adapters.add(source);
    const host = this.loaded?.pipeline.adapters;
    return adapterInfo(loaded, this.adapters.nameOf(loaded.id), host ? this.adapters.coverage(loaded, host) : null);
  }

  /**
   * Sets the complete list of adapters on the loaded model. Weight changes of live adapters apply
   * to the next run (even of a running job); anything else waits for running jobs to finish, then
   * swaps the affected graphs. Serialized with model loads.
   */
  setAdapters(settings: AdapterSetting[]): Promise<ActiveAdapter[]> {
    const run = async (): Promise<ActiveAdapter[]> => {
      const loaded = this.loaded;
      if (!loaded) throw new EngineError('no_model', 'no model is loaded; load one before setting adapters');
      const host = loaded.pipeline.adapters;
      if (!host) throw new EngineError('invalid_params', `${loaded.entry.info.name} takes no adapters`);
      const all = [...settings.filter((s) => !this.embedding.owns(s.id)), ...this.embedding.settings()];
      if (!this.adapters.onlyWeights(host, all)) await this.queue.idle();
      await this.adapters.apply(host, all);
      const active = this.userAdapters();
      this.emit('adaptersChanged', { adapters: active });
      return active;
    };
    return this.serialized(run);
  }

  /** SliderEdit: the sub-instructions of an instruction (automatic, or `parts` checked) and their T5 tokens. */
  sliderParts(instruction: string, parts?: string[]): MethodResult<'sliderParts'> {
    const loaded = this.loaded;
    return { parts: this.sliderEdit.parts(instruction, parts, loaded?.pipeline ?? null), ...this.sliderEdit.availability(loaded ? { dir: loaded.entry.dir, pipeline: loaded.pipeline } : null) };
  }

  /** The user's adapters on the loaded model (the watermark's own LoRA is not listed). */
  private userAdapters(): ActiveAdapter[] {
    return this.embedding.userAdapters();
  }

  // -------------------------------------------------------------------------------------------
  // Watermark (methods/watermark): keys, the per-model embedding switch, verification

  async watermarkKeys(): Promise<WatermarkKeyInfo[]> {
    return (await this.watermark.keys.list((m) => this.log('warn', m))).map(keyInfo);
  }

  private async keysChanged(): Promise<void> {
    this.emit('watermarkKeysChanged', { keys: await this.watermarkKeys() });
  }

  /**
   * A new key, its LoRA trained for `trainingSteps` (default: the watermark files' recipe), with a
   * `watermarkKeyTraining` event per step. One at a time; cancelWatermarkKey stops it.
   */
  async createWatermarkKey(name: string, trainingSteps?: number): Promise<WatermarkKeyInfo> {
    if (this.keyTraining) throw new EngineError('invalid_params', 'a watermark key is being trained already; wait for it or cancel it');
    const controller = new AbortController();
    this.keyTraining = controller;
    try {
      const key = keyInfo(
        await this.watermark.keys.create(name, {
          ...(trainingSteps === undefined ? {} : { steps: trainingSteps }),
          signal: controller.signal,
          onProgress: (p) => this.emit('watermarkKeyTraining', { name, ...p }),
        }),
      );
      await this.keysChanged();
      return key;
    } catch (error) {
      if (error instanceof CancelledError) throw new EngineError('cancelled', `the training of key "${name}" was cancelled; no key was made`);
      throw error;
    } finally {
      this.keyTraining = null;
    }
  }

  /** Stops the key being trained; false when none is. */
  cancelWatermarkKey(): boolean {
    if (!this.keyTraining) return false;
    this.keyTraining.abort();
    return true;
  }

  /** A key trained elsewhere (the zoo's `zoo.watermark key`), from its key file and LoRA bytes. */
  async importWatermarkKey(keyFile: { name: string; text: string }, lora: { name: string; bytes: Uint8Array }, name?: string): Promise<WatermarkKeyInfo> {
    const key = keyInfo(await this.watermark.keys.importBytes(keyFile.text, keyFile.name, lora.bytes, lora.name, name));
    await this.keysChanged();
    return key;
  }

  async renameWatermarkKey(id: string, name: string): Promise<WatermarkKeyInfo> {
    const key = keyInfo(await this.watermark.keys.rename(id, name));
    if (this.embedding.renamed(id, key.name)) this.emit('watermarkChanged', this.watermarkState());
    await this.keysChanged();
    return key;
  }

  /** Deleting the key the loaded model embeds switches its embedding off first. */
  deleteWatermarkKey(id: string): Promise<boolean> {
    const run = async (): Promise<boolean> => {
      const key = await this.watermark.keys.get(id);
      if (key.builtIn) throw new EngineError('invalid_params', `${key.name} is the built-in demo key; it cannot be deleted`);
      if (this.loaded && this.watermark.embedding(this.loaded.entry.info.id).keyId === id) await this.applyWatermark(false, null, true);
      await this.watermark.keys.delete(id);
      await this.keysChanged();
      return true;
    };
    return this.serialized(run);
  }

  watermarkState(): WatermarkState {
    return this.embedding.state(this.loaded?.entry.info ?? null);
  }

  /**
   * Switches embedding on (with a key; the last one chosen for this model when none is given) or
   * off for the loaded model. On bakes the key's LoRA into the VAE decoder, after running jobs
   * finish; a LoRA that does not fully fit the decoder is refused with its coverage and nothing
   * changes. `persist: false` (the CLI's --watermark) leaves the remembered switch alone.
   */
  setWatermark(enabled: boolean, keyId?: string, options: { persist?: boolean } = {}): Promise<WatermarkState> {
    const run = async (): Promise<WatermarkState> => {
      if (!this.loaded) throw new EngineError('no_model', 'no model is loaded; load one before switching the watermark');
      const chosen = keyId ?? this.watermark.embedding(this.loaded.entry.info.id).keyId;
      await this.applyWatermark(enabled, chosen ?? null, options.persist ?? true);
      return this.watermarkState();
    };
    return this.serialized(run);
  }

  private embeddingTarget(): EmbeddingTarget {
    const loaded = this.loaded!;
    return { info: loaded.entry.info, host: loaded.pipeline.adapters ?? null };
  }

  private async applyWatermark(enabled: boolean, keyId: string | null, persist: boolean): Promise<void> {
    await this.embedding.apply(this.embeddingTarget(), enabled, keyId, persist);
    this.emit('watermarkChanged', this.watermarkState());
  }

  /** After a model load: embeds the key its switch remembers; a failure becomes the state's problem (jobs are refused). */
  private async restoreWatermark(): Promise<void> {
    const problem = await this.embedding.restore(this.embeddingTarget());
    if (problem) this.log('warn', `watermark: ${problem}`);
    this.emit('watermarkChanged', this.watermarkState());
  }

  /** Verdicts for image files against every known key (default false-positive rate 1e-6). */
  verifyWatermark(files: Array<{ name: string; bytes: Uint8Array }>, fpr?: number): Promise<WatermarkVerdict[]> {
    return this.watermark.verify(files, fpr, (m) => this.log('warn', m));
  }

  /** Queues a job on the loaded model and returns its id; the outcome arrives as events. */
  submitJob(request: JobRequest): string {
    const loaded = this.loaded;
    if (!loaded) throw new EngineError('no_model', 'no model is loaded; load one first (listModels, loadModel)');
    const problem = this.embedding.problem;
    if (problem) {
      throw new EngineError('bad_input', `watermark embedding is switched on for ${loaded.entry.info.name} but cannot work: ${problem}; switch it off (or choose another key) to make images`);
    }
    if (!loaded.entry.info.tasks.includes(request.kind)) {
      throw new EngineError('invalid_params', `${loaded.entry.info.name} cannot run "${request.kind}" jobs (it can: ${loaded.entry.info.tasks.join(', ')})`);
    }
    return this.queue.submit(request.kind, (signal, jobId) => this.execute(loaded, request, signal, jobId));
  }

  /** Submits a job and resolves with its result (rejects on failure or cancellation). */
  runJob(request: JobRequest, onProgress?: (progress: EventData<'progress'>) => void): Promise<EventData<'jobDone'>> {
    const jobId = this.submitJob(request);
    return new Promise((resolve, reject) => {
      const off = this.onEvent((event) => {
        if (!('jobId' in event.data) || event.data.jobId !== jobId) return;
        if (event.event === 'progress') onProgress?.(event.data);
        else if (event.event === 'jobDone') {
          off();
          resolve(event.data);
        } else if (event.event === 'jobFailed') {
          off();
          reject(new EngineError(ErrorCode.catch('internal').parse(event.data.code), event.data.message));
        } else if (event.event === 'jobCancelled') {
          off();
          reject(new CancelledError());
        }
      });
    });
  }

  cancel(jobId: string): boolean {
    return this.queue.cancel(jobId);
  }

  /** Resolves when no job is queued or running. */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  listHistory(limit?: number): Promise<HistoryEntry[]> {
    return this.history.list(limit, (message) => this.log('warn', message));
  }

  async readHistoryImage(jobId: string): Promise<EncodedImage> {
    const bytes = await this.history.readImage(jobId);
    const image = await decodeImage(bytes, { name: `output of ${jobId}` });
    return { mime: 'image/png', bytes, width: image.width, height: image.height };
  }

  async shutdown(): Promise<void> {
    this.queue.cancelAll();
    await this.queue.idle();
    await this.unloadCurrent();
    await this.watermark.release();
  }

  private execute(loaded: LoadedModel, request: JobRequest, signal: AbortSignal, jobId: string): Promise<JobOutput> {
    return executeJob(
      {
        previewEvery: this.previewEvery,
        minStepMs: this.minStepMs,
        progress: (data) => this.emit('progress', data),
        sliderEdit: this.sliderEdit,
        embedding: this.embedding,
        history: this.history,
      },
      loaded,
      request,
      signal,
      jobId,
    );
  }
}
