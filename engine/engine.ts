/**
 * The engine's API, used in-process by the CLI and behind the RPC server by the shells. It owns
 * the loaded model's pipeline, the job queue and the history of outputs, and reports everything
 * that happens as protocol events to its listeners.
 */
import { randomInt } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { CancelledError, EngineError, messageOf, throwIfCancelled } from './errors.js';
import { decodeImage, encodePng, resizeImage } from './images/codec.js';
import type { RgbImage } from './images/rgb.js';
import { JobQueue } from './jobs/queue.js';
import { workingSize } from './jobs/sizing.js';
import { ModelCatalog, type ModelEntry, type ModelRoot } from './models/catalog.js';
import { metadataTextChunks } from './images/job-metadata.js';
import { encodePreviewPng } from './images/preview-png.js';
import type { Pipeline, RunHooks } from './pipelines/pipeline.js';
import { createPipeline as defaultPipelineFactory, type PipelineOptions } from './pipelines/registry.js';
import {
  ErrorCode,
  PROTOCOL_VERSION,
  type EncodedImage,
  type EventData,
  type EventEnvelope,
  type EventName,
  type HistoryEntry,
  type JobMetadata,
  type JobRequest,
  type MethodResult,
  type ModelInfo,
  type ProviderChoice,
  type ProviderInfo,
  type ActiveAdapter,
  type AdapterInfo,
} from './protocol/index.js';
import { inventoryProviders } from './runtime/providers.js';
import { onnxruntimeVersion } from './runtime/ort.js';
import { HistoryStore } from './stores/history.js';
import { engineVersion } from './version.js';
import { AdapterManager, type AdapterSetting, type AdapterSource } from './adapters/manager.js';
import { adapterInfo } from './adapters/info.js';
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
}

export interface JobOutput {
  image: EncodedImage;
  file: string;
  metadata: JobMetadata;
}

interface LoadedModel {
  entry: ModelEntry;
  pipeline: Pipeline;
}

export class Engine {
  readonly dataDir: string;
  private readonly catalog: ModelCatalog;
  private readonly history: HistoryStore;
  private readonly createPipeline: PipelineFactory;
  private readonly previewEvery: number;
  private readonly pipelineOptions: PipelineOptions;
  private readonly listeners = new Set<EngineListener>();
  private readonly queue: JobQueue<JobOutput>;
  private providers: ProviderInfo[] | null = null;
  private loaded: LoadedModel | null = null;
  private loading: Promise<unknown> = Promise.resolve();
  /** LoRA and other adapter files, and the ones active on the loaded model (engine/adapters). */
  readonly adapters: AdapterManager;
  /** SliderEdit: edit jobs with sliders, their cached encodings (engine/methods/slideredit). */
  readonly sliderEdit: SliderEditRunner;

  constructor(options: EngineOptions) {
    this.dataDir = options.dataDir;
    this.catalog = new ModelCatalog(options.modelRoots);
    this.history = new HistoryStore(path.join(options.dataDir, 'outputs'));
    this.createPipeline = options.createPipeline ?? defaultPipelineFactory;
    this.previewEvery = options.previewEvery ?? 1;
    this.pipelineOptions = { lowMemory: options.lowMemory ?? false, graphCacheDir: path.join(options.dataDir, 'cache', 'graphs') };
    this.adapters = new AdapterManager(options.dataDir);
    this.sliderEdit = new SliderEditRunner(this.adapters);
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
      adapters: this.adapters.active(),
    };
  }

  listModels(): ModelInfo[] {
    return this.catalog.list((message) => this.log('warn', message)).map((e) => e.info);
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
      return { model: entry.info, provider: pipeline.provider, notice: pipeline.notice };
    };
    const result = this.loading.then(run, run);
    this.loading = result.catch(() => undefined);
    return result;
  }

  async unloadModel(): Promise<boolean> {
    await this.loading;
    const had = this.loaded !== null;
    await this.unloadCurrent();
    if (had) this.emit('modelChanged', { model: null, provider: null });
    return had;
  }

  private async unloadCurrent(): Promise<void> {
    this.sliderEdit.clear();
    if (this.adapters.active().length > 0) {
      this.adapters.reset(); // adapters belong to the model they were set on
      this.emit('adaptersChanged', { adapters: [] });
    }
    if (!this.loaded) return;
    this.queue.cancelAll();
    await this.queue.idle();
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
      if (!this.adapters.onlyWeights(host, settings)) await this.queue.idle();
      const active = await this.adapters.apply(host, settings);
      this.emit('adaptersChanged', { adapters: active });
      return active;
    };
    const result = this.loading.then(run, run);
    this.loading = result.catch(() => undefined);
    return result;
  }

  /** SliderEdit: the sub-instructions of an instruction (automatic, or `parts` checked) and their T5 tokens. */
  sliderParts(instruction: string, parts?: string[]): MethodResult<'sliderParts'> {
    return { parts: this.sliderEdit.parts(instruction, parts, this.loaded?.pipeline ?? null) };
  }

  /** Queues a job on the loaded model and returns its id; the outcome arrives as events. */
  submitJob(request: JobRequest): string {
    const loaded = this.loaded;
    if (!loaded) throw new EngineError('no_model', 'no model is loaded; load one first (listModels, loadModel)');
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
  }

  private async execute(loaded: LoadedModel, request: JobRequest, signal: AbortSignal, jobId: string): Promise<JobOutput> {
    const { entry, pipeline } = loaded;
    const info = entry.info;
    const defaults = info.defaults;
    const seed = request.seed ?? randomInt(0, 2 ** 32);
    const steps = request.steps ?? defaults.steps;
    const guidance = request.guidance ?? defaults.guidance;
    const scheduler = request.kind === 'edit' ? defaults.scheduler : (request.scheduler ?? defaults.scheduler);
    if (!info.schedulers.includes(scheduler)) {
      throw new EngineError('invalid_params', `scheduler "${scheduler}" is not available for ${info.name} (it has: ${info.schedulers.join(', ')})`);
    }
    const negativePrompt = request.kind !== 'edit' && info.negativePrompt ? (request.negativePrompt ?? '') : '';
    const hooks: RunHooks = {
      signal,
      wantPreview: this.previewEvery > 0,
      onStep: ({ step, total, preview }) => {
        const send = preview !== null && this.previewEvery > 0 && (step % this.previewEvery === 0 || step === total);
        this.emit('progress', { jobId, step, total, preview: send ? encodeForWire(preview) : null });
      },
    };
    const sourceImage = async (bytes: Uint8Array) => {
      const source = await decodeImage(bytes, { name: 'the source image' });
      throwIfCancelled(signal);
      const size = workingSize(source, info);
      return resizeImage(source, size.width, size.height, 'cover');
    };
    let image: RgbImage;
    let text: string;
    let strength: number | undefined;
    let sliders: JobMetadata['sliders'];
    if (request.kind !== 'edit' || !request.sliders) await this.sliderEdit.plain(pipeline);
    if (request.kind === 'edit' && request.sliders) {
      text = request.instruction;
      const job = { modelId: info.id, modelDir: entry.dir, pipeline, imageBytes: request.image, decodeImage: () => sourceImage(request.image), instruction: text, sliders: request.sliders };
      const result = await this.sliderEdit.run(job, { seed, steps, guidance }, hooks);
      image = result.image;
      sliders = { parts: result.parts, strengths: result.strengths };
    } else if (request.kind === 'generate') {
      text = request.prompt;
      const width = request.width ?? defaults.width;
      const height = request.height ?? defaults.height;
      image = await pipeline.generate({ prompt: text, negativePrompt, seed, steps, guidance, width, height, scheduler }, hooks);
    } else if (request.kind === 'edit') {
      if (!pipeline.edit) throw new EngineError('invalid_params', `${info.name} cannot run instruction edits`);
      text = request.instruction;
      const sized = await sourceImage(request.image);
      image = await pipeline.edit({ image: sized, instruction: text, seed, steps, guidance, width: sized.width, height: sized.height }, hooks);
    } else {
      if (!pipeline.img2img) throw new EngineError('invalid_params', `${info.name} cannot run image-to-image jobs`);
      text = request.prompt;
      strength = request.strength ?? 0.6;
      const sized = await sourceImage(request.image);
      image = await pipeline.img2img(
        { image: sized, prompt: text, negativePrompt, strength, seed, steps, guidance, width: sized.width, height: sized.height, scheduler },
        hooks,
      );
    }
    throwIfCancelled(signal);
    const metadata: JobMetadata = {
      kind: request.kind,
      model: info.name,
      text,
      seed,
      steps,
      guidance,
      width: image.width,
      height: image.height,
      provider: pipeline.provider,
      createdAt: new Date().toISOString(),
      engineVersion: engineVersion(),
      scheduler,
      ...(negativePrompt ? { negativePrompt } : {}),
      ...(strength !== undefined ? { strength } : {}),
      ...(sliders ? { sliders } : {}),
    };
    const png = await encodePng(image, metadataTextChunks(metadata));
    try {
      const saved = await this.history.save(jobId, png, metadata);
      return { image: { mime: 'image/png', bytes: png, width: image.width, height: image.height }, file: saved.file, metadata };
    } catch (error) {
      throw new EngineError('internal', `could not save the output to ${this.history.dir}: ${messageOf(error)}`);
    }
  }
}

function encodeForWire(image: RgbImage): EncodedImage {
  return { mime: 'image/png', bytes: encodePreviewPng(image), width: image.width, height: image.height };
}
