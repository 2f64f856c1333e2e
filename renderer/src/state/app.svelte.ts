/**
 * The app controller: owns the stores (session, settings, workspace, job, history, toasts) and
 * wires them to the EngineClient. On every (re)connection it re-syncs: hello (protocol check,
 * versions, provider), listModels, loads the embedded model when none is loaded, listHistory.
 * Components read the stores and call the actions here; they never talk to the client.
 */
import type { EngineClient, ConnectionStatus, Unsubscribe } from '../engine/client.js';
import { codeOf, messageOf } from '../engine/errors.js';
import { PROTOCOL_VERSION, type AtelierBridge, type EncodedImage, type EventData, type MethodResult, type ModelInfo, type ProviderName } from '../engine/protocol.js';
import { retainUrl } from '../lib/images.js';
import { editOutputSize, tabBlocker } from '../lib/models.js';
import { loadImageBytes, loadImageFile, type LoadResult } from '../lib/open-image.js';
import { readPngSettings, type PngSettings } from '../lib/png-metadata.js';
import { Adapters } from './adapters.svelte.js';
import { Watermark } from './watermark.svelte.js';
import { History, type BeforeImage, type HistoryItem } from './history.svelte.js';
import { Job, type JobContext, type JobFailure } from './job.svelte.js';
import { Session } from './session.svelte.js';
import { Sliders, type SliderRequest } from './sliders.svelte.js';
import { Settings } from './settings.svelte.js';
import { Toasts } from './toasts.svelte.js';
import { Workspace } from './workspace.svelte.js';

export const CLIENT_NAME = 'atelier-renderer';

export interface AppOptions {
  /** The Electron bridge, for the native open and folder dialogs; null in the web shell. */
  bridge?: (Pick<AtelierBridge, 'openImage'> & Partial<Pick<AtelierBridge, 'chooseFolder'>>) | null;
  /** How many past outputs the strip lists. */
  historyLimit?: number;
}

/** What the canvas shows. */
export interface CanvasContent {
  kind: 'source' | 'output' | 'before' | 'preview';
  /** Null while the image is still loading. */
  url: string | null;
  /** The size the image is laid out at (a preview fills the output's size). */
  width: number;
  height: number;
  label: string;
}

/** Errors that only mean "the connection went away"; the status dot already says so. */
function isDisconnect(error: unknown): boolean {
  const code = codeOf(error);
  return code === 'connection_lost' || code === 'closed' || code === 'not_connected';
}

/** A slider preview this window made: its job, and the edit it belongs to (image, model, instruction, seed, steps, guidance). */
interface SliderOutput {
  jobId: string;
  source: Uint8Array;
  model: string;
  instruction: string;
  seed: number | undefined;
  steps: number | undefined;
  guidance: number | undefined;
}

export class AtelierApp {
  readonly session = new Session();
  readonly settings = new Settings(() => this.session.model);
  readonly workspace = new Workspace();
  readonly toasts = new Toasts();
  readonly history: History;
  readonly job: Job;
  readonly adapters: Adapters;
  /** Watermark keys, the embedding switch and verification results. */
  readonly watermark: Watermark;
  /** SliderEdit: the instruction's parts and their strengths. */
  readonly sliders: Sliders;

  private readonly bridge: (Pick<AtelierBridge, 'openImage'> & Partial<Pick<AtelierBridge, 'chooseFolder'>>) | null;
  private readonly historyLimit: number;
  private readonly unsubscribe: Unsubscribe[] = [];
  private filePicker: (() => void) | null = null;
  private syncGeneration = 0;
  /** Run was pressed and is waiting for the split of new text: a second press does nothing. */
  private starting = false;
  /** The latest slider preview, which the next preview of the same edit replaces in the history. */
  private lastSliderOutput: SliderOutput | null = null;
  private resyncTimer: ReturnType<typeof setTimeout> | null = null;
  private resyncAttempts = 0;

  constructor(
    readonly client: EngineClient,
    options: AppOptions = {},
  ) {
    this.bridge = options.bridge ?? null;
    this.historyLimit = options.historyLimit ?? 100;
    this.history = new History(client, this.historyLimit);
    this.adapters = new Adapters(client);
    this.watermark = new Watermark(client);
    this.sliders = new Sliders(client, {
      render: (sliders, purpose) => this.renderSliders(sliders, purpose),
      interrupt: () => void this.job.cancel(true),
    });
    this.job = new Job(client, {
      done: (data, context) => this.jobDone(data, context),
      foreignDone: (data) => {
        if (data.replaced) this.history.remove(data.replaced, data.jobId); // shown here? show its successor
        this.history.add(data.jobId, data.file, data.metadata, data.image);
      },
      failed: (failure) => this.jobFailed(failure),
      cancelled: (note) => void this.toasts.show(note ?? 'Cancelled.'),
      notice: (text) => void this.toasts.error(text),
    });
  }

  /** Subscribes to the client and starts connecting. */
  start(): void {
    this.unsubscribe.push(
      this.client.onStatus((status) => this.statusChanged(status)),
      this.client.on('modelChanged', (data) => this.modelChanged(data)),
      this.client.on('adaptersChanged', (data) => this.adapters.fromEngine(data.adapters)),
      ...this.watermark.listen(),
      this.client.on('log', (data) => {
        if (data.level === 'error') this.toasts.error(`Engine: ${data.message}`);
      }),
    );
    this.session.connection = this.client.status;
    this.client.start();
    if (this.client.status.state === 'connected') void this.sync();
  }

  dispose(): void {
    for (const off of this.unsubscribe.splice(0)) off();
    if (this.resyncTimer !== null) clearTimeout(this.resyncTimer);
    this.resyncTimer = null;
    this.job.dispose();
    this.sliders.dispose();
    this.history.dispose();
    this.workspace.dispose();
    this.toasts.dispose();
  }

  // -------------------------------------------------------------------------------------------
  // Engine session

  /** Fetches everything the UI shows from the engine (after a (re)connection or a restart). */
  async sync(): Promise<void> {
    const generation = ++this.syncGeneration;
    const stale = (): boolean => generation !== this.syncGeneration;
    try {
      const hello = await this.client.call('hello', { client: CLIENT_NAME, protocol: PROTOCOL_VERSION });
      if (stale()) return;
      if (hello.protocol !== PROTOCOL_VERSION) {
        this.session.fatal = `This engine speaks protocol ${hello.protocol}; this window speaks ${PROTOCOL_VERSION}. Update Atelier.`;
        return;
      }
      this.session.fatal = null;
      this.session.setHello(hello);
      this.setModel(hello.loadedModel, hello.provider);
      this.adapters.fromEngine(hello.adapters);
      void this.watermark.refresh();
      const history = this.refreshHistory(generation);
      const { models } = await this.client.call('listModels', {});
      if (stale()) return;
      this.session.models = models;
      if (!this.session.model) await this.loadDefaultModel();
      await history;
      this.resyncAttempts = 0;
    } catch (error) {
      if (stale() || isDisconnect(error)) return;
      if (codeOf(error) === 'engine_restarted') {
        this.resyncSoon();
        return;
      }
      if (codeOf(error) === 'version_mismatch') {
        this.session.fatal = `This engine cannot talk to this window: ${messageOf(error)}`;
        return;
      }
      this.toasts.error(`Could not sync with the engine: ${messageOf(error)}`);
    }
  }

  /**
   * The shell is restarting the engine (the connection stays up, calls fail with
   * 'engine_restarted' until it is back): try the sync again shortly, backing off.
   */
  private resyncSoon(): void {
    if (this.resyncTimer !== null) return;
    const delay = Math.min(5_000, 250 * 2 ** this.resyncAttempts++);
    this.resyncTimer = setTimeout(() => {
      this.resyncTimer = null;
      void this.sync();
    }, delay);
  }

  async refreshHistory(generation = this.syncGeneration): Promise<void> {
    try {
      const { entries } = await this.client.call('listHistory', { limit: this.historyLimit });
      if (generation === this.syncGeneration) this.history.replace(entries);
    } catch (error) {
      if (codeOf(error) === 'engine_restarted') this.resyncSoon();
      else if (!isDisconnect(error)) this.toasts.error(`Could not list the history: ${messageOf(error)}`);
    }
  }

  /** Loads a model by id; a failure is reported and leaves the current one. */
  async loadModel(modelId: string): Promise<void> {
    if (this.session.loadingModelId !== null || !this.session.connected) return;
    if (modelId === this.session.model?.id) return;
    this.session.loadingModelId = modelId;
    try {
      const result = await this.client.call('loadModel', { modelId });
      this.setModel(result.model, result.provider);
      if (result.notice) this.toasts.show(result.notice);
    } catch (error) {
      if (codeOf(error) === 'engine_restarted') this.resyncSoon();
      else if (!isDisconnect(error)) {
        const name = this.session.models.find((m) => m.id === modelId)?.name ?? modelId;
        this.toasts.error(`Could not load ${name}: ${messageOf(error)}`);
      }
    } finally {
      this.session.loadingModelId = null;
    }
  }

  /** Whether a native folder dialog exists (Electron); the web shell types the folder's path. */
  get canChooseFolder(): boolean {
    return typeof this.bridge?.chooseFolder === 'function';
  }

  /** The native folder dialog; null when cancelled or unavailable. */
  async chooseFolder(): Promise<string | null> {
    if (!this.bridge?.chooseFolder) return null;
    try {
      return await this.bridge.chooseFolder();
    } catch (error) {
      this.toasts.error(`Could not open the folder dialog: ${messageOf(error)}`);
      return null;
    }
  }

  /**
   * Imports a model folder (validated by the engine exactly as `atelier models validate`); when
   * usable, refreshes the picker and loads it. The report is returned for the import dialog.
   */
  async importModel(folder: string): Promise<MethodResult<'importModel'> | null> {
    try {
      const result = await this.client.call('importModel', { path: folder });
      if (!result.ok || !result.model) return result;
      const { models } = await this.client.call('listModels', {});
      this.session.models = models;
      this.toasts.show(`Imported ${result.model.name}`);
      if (!this.job.busy) await this.loadModel(result.model.id);
      return result;
    } catch (error) {
      if (codeOf(error) === 'engine_restarted') this.resyncSoon();
      else if (!isDisconnect(error)) this.toasts.error(`Could not import ${folder}: ${messageOf(error)}`);
      return null;
    }
  }

  /** Loads the embedded model (the app's default). */
  async loadDefaultModel(): Promise<void> {
    const model = this.session.defaultModel;
    if (!model) {
      this.toasts.error('The engine lists no embedded model; choose a model in the picker.');
      return;
    }
    await this.loadModel(model.id);
  }

  private statusChanged(status: ConnectionStatus): void {
    const was = this.session.connection.state;
    this.session.connection = status;
    if (status.state === 'connected' && was !== 'connected') void this.sync();
    if (status.state !== 'connected' && was === 'connected') {
      this.syncGeneration++;
      this.job.connectionLost();
    }
  }

  private modelChanged(data: EventData<'modelChanged'>): void {
    this.setModel(data.model, data.provider);
    // No model: the engine restarted, or another window unloaded it. Load the default again.
    if (data.model === null && this.session.connected && this.session.fatal === null) void this.loadDefaultModel();
  }

  private setModel(model: ModelInfo | null, provider: ProviderName | null): void {
    const changed = model?.id !== this.session.model?.id;
    this.session.setModel(model, provider);
    if (changed && model) {
      void this.sliders.refresh();
      this.settings.applyModel(model);
      // Stay on the tab when the new model can run it, else move to one it can.
      const other = this.settings.mode === 'generate' ? 'edit' : 'generate';
      if (tabBlocker(model, this.settings.mode) && !tabBlocker(model, other)) this.settings.mode = other;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Jobs

  /** Why Run cannot start now, or null when it can. */
  get runBlocker(): string | null {
    const { session, settings } = this;
    if (!session.connected) return 'Not connected to the engine.';
    if (session.fatal) return session.fatal;
    if (session.loadingModelId !== null) return 'Loading the model…';
    const model = session.model;
    if (!model) return 'No model is loaded.';
    const blocked = tabBlocker(model, settings.mode);
    if (blocked) return blocked;
    if (settings.mode === 'edit' && !this.workspace.source) return 'Open an image to edit: Open…, drop a file, or paste.';
    return null;
  }

  async run(): Promise<void> {
    if (this.job.busy || this.starting || this.runBlocker !== null || !this.session.model) return;
    this.starting = true;
    try {
      // sliders go with the instruction they were split from (waiting for the split of new text)
      const wantsSliders = this.settings.kind === 'edit' && this.sliders.available && this.sliders.engaged;
      const withSliders = wantsSliders && (await this.sliders.readyFor(this.settings.instruction)) && this.sliders.engaged;
      await this.startRun(withSliders);
    } finally {
      this.starting = false;
    }
  }

  private async startRun(withSliders: boolean): Promise<void> {
    const model = this.session.model;
    if (this.job.busy || this.runBlocker !== null || !model) return;
    const source = this.settings.mode === 'edit' ? this.workspace.source : null;
    const built = this.settings.buildRequest(source?.bytes ?? null); // rolls an unlocked seed: after every await
    if (!built) return;
    const request = built.kind === 'edit' && withSliders ? { ...built, sliders: this.sliders.request } : built;
    const size =
      request.kind === 'generate'
        ? { width: request.width ?? model.defaults.width, height: request.height ?? model.defaults.height }
        : editOutputSize(model, source);
    const context: JobContext = {
      kind: request.kind,
      ...size,
      source: source ? { bytes: source.bytes, mime: source.mime, width: source.width, height: source.height } : null,
      purpose: 'run',
    };
    await this.job.start(request, context);
  }

  cancel(): Promise<void> {
    return this.job.cancel();
  }

  /**
   * SliderEdit: renders the open image with these sliders, quietly cancelling this window's job in
   * flight first. The seed is reused (not rolled, and the user's lock is left alone), so every
   * slider move starts from the same noise as the image being adjusted. Resolves with the output,
   * or null when nothing was rendered (not in an instruction edit, parts of an older instruction,
   * cancelled, failed).
   */
  async renderSliders(readSliders: () => SliderRequest | null, purpose: 'slider' | 'sweep' = 'slider'): Promise<EncodedImage | null> {
    const eligible = (): boolean =>
      this.runBlocker === null && this.session.model !== null && this.workspace.source !== null && this.settings.kind === 'edit' && this.sliders.forInstruction === this.settings.instruction;
    if (!eligible()) return null; // nothing is cancelled for a render that would not run
    if (this.job.busy) {
      // a slider render or sweep frame it replaces goes quietly; the user's own Run says it was cancelled
      const replaced = this.job.context?.purpose;
      await this.job.cancel(replaced === 'slider' || replaced === 'sweep');
      await this.job.idle();
      if (this.job.busy || !eligible()) return null;
    }
    // read only now: moves made while the old job wound down are in it
    const sliders = readSliders();
    if (!sliders) return null;
    const model = this.session.model;
    const source = this.workspace.source;
    if (!model || !source) return null;
    const request = this.settings.buildRequest(source.bytes, { reuseSeed: true });
    if (!request || request.kind !== 'edit') return null;
    const context: JobContext = {
      kind: 'edit',
      ...editOutputSize(model, source),
      source: { bytes: source.bytes, mime: source.mime, width: source.width, height: source.height },
      purpose,
    };
    // a slider move is a preview that replaces the previous preview of the same edit in the history,
    // so moving a slider keeps one output, not one per position; sweep frames are all kept
    const chain = this.lastSliderOutput;
    const sameEdit =
      chain !== null && chain.source === source.bytes && chain.model === model.id && chain.instruction === request.instruction && chain.seed === request.seed && chain.steps === request.steps && chain.guidance === request.guidance;
    const preview = purpose === 'slider' ? { preview: true, ...(sameEdit ? { replaces: chain.jobId } : {}) } : {};
    const done = await this.job.run({ ...request, sliders, ...preview }, context);
    if (done && purpose === 'slider') {
      this.lastSliderOutput = { jobId: done.jobId, source: source.bytes, model: model.id, instruction: request.instruction, seed: request.seed, steps: request.steps, guidance: request.guidance };
    }
    return done?.image ?? null;
  }

  private jobDone(data: EventData<'jobDone'>, context: JobContext): void {
    const before: BeforeImage | null = context.source
      ? { url: retainUrl(context.source.bytes, context.source.mime), width: context.source.width, height: context.source.height }
      : null;
    if (data.replaced) this.history.remove(data.replaced, data.jobId);
    const item = this.history.add(data.jobId, data.file, data.metadata, data.image, before);
    if (context.purpose === 'run') this.lastSliderOutput = null; // a Run's output is kept
    if (context.purpose === 'sweep') return; // a sweep frame is kept in the history, but the canvas stays
    this.history.selectedId = item.jobId;
    this.workspace.showOutput();
  }

  private jobFailed(failure: JobFailure): void {
    if (failure.code === 'engine_restarted') void this.sync();
  }

  // -------------------------------------------------------------------------------------------
  // Images and history

  /** The hidden file input registers itself here; returns a function that unregisters it. */
  registerFilePicker(open: () => void): () => void {
    this.filePicker = open;
    return () => {
      if (this.filePicker === open) this.filePicker = null;
    };
  }

  /** Open… : the native dialog in Electron, the file input in the web shell. */
  async requestOpen(): Promise<void> {
    if (!this.bridge) {
      this.filePicker?.();
      return;
    }
    try {
      const file = await this.bridge.openImage();
      if (file) this.accept(await loadImageBytes(file.name, file.bytes, ''));
    } catch (error) {
      this.toasts.error(`Could not open the image: ${messageOf(error)}`);
    }
  }

  /** Opens the first image among dropped, pasted or picked files; says why others are not. */
  async openFiles(files: readonly File[]): Promise<boolean> {
    for (const file of files) {
      if (this.accept(await loadImageFile(file))) {
        const skipped = files.length - 1;
        if (skipped > 0) this.toasts.show(`Opened ${file.name}; one image is open at a time.`);
        return true;
      }
    }
    return false;
  }

  private accept(result: LoadResult): boolean {
    if (!result.ok) {
      this.toasts.error(result.message);
      return false;
    }
    const { image } = result;
    this.workspace.open(image);
    const settings = image.mime === 'image/png' ? readPngSettings(image.bytes) : null;
    if (settings) this.restoreFromFile(image.name, settings);
    else if (!this.session.model || !tabBlocker(this.session.model, 'edit')) this.settings.mode = 'edit';
    return true;
  }

  /** An image Atelier made: its settings come back with it (the image stays open as the source). */
  private restoreFromFile(name: string, settings: PngSettings): void {
    this.settings.restore(settings);
    const model = this.session.model;
    const other = model && settings.model !== model.name ? `; made with ${settings.model}` : '';
    this.toasts.show(`Settings restored from ${name} (seed ${settings.seed}, ${settings.steps} steps${other})`);
  }

  /** Shows a history item in the canvas and restores the settings that made it. */
  async showHistoryItem(item: HistoryItem): Promise<void> {
    this.history.selectedId = item.jobId;
    this.workspace.showOutput();
    this.settings.restore(item.metadata);
    if (item.metadata.kind === 'edit') void this.sliders.restore(item.metadata.text, item.metadata.sliders);
    const url = await this.history.ensureImage(item);
    if (!url && item.loadError) this.toasts.error(`Could not load that output: ${item.loadError}`);
  }

  showSource(): void {
    if (this.workspace.source) this.workspace.showing = 'source';
  }

  /** The output the canvas shows (when not showing the open image). */
  get selectedOutput(): HistoryItem | null {
    const id = this.history.selectedId;
    return id === null ? null : (this.history.find(id) ?? null);
  }

  /** What the canvas shows now. */
  get canvas(): CanvasContent | null {
    const { job, workspace } = this;
    if (job.busy && job.previewUrl && job.context) {
      return { kind: 'preview', url: job.previewUrl, width: job.context.width, height: job.context.height, label: `Step ${job.step}/${job.total}` };
    }
    const output = this.selectedOutput;
    if (workspace.showing === 'output' && output) {
      const { width, height } = output;
      if (workspace.compare && output.before) return { kind: 'before', url: output.before.url, width, height, label: 'Before' };
      return { kind: 'output', url: output.url, width, height, label: `Output · seed ${output.metadata.seed}` };
    }
    const source = workspace.source;
    if (source) return { kind: 'source', url: source.url, width: source.width, height: source.height, label: source.name };
    return null;
  }
}
