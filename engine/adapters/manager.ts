/**
 * The engine's adapters: the files it knows (by content id), which are active on the loaded model
 * with what weight and mode, and the hook that makes the pipeline open adapted graphs.
 *
 * - `add` reads a file (a path, or bytes from the UI, stored once under DATA_DIR/adapters by
 *   content hash) into the normalized model; `info` adds its coverage on the loaded model.
 * - `apply` takes the whole list of settings: it refuses adapters whose coverage is incomplete
 *   (unless `allowPartial`), and per-token scales on layers that do not run over the text tokens;
 *   then it works out which graphs' plans changed and installs the hook, which releases only those
 *   sessions. Changing only live weights changes no plan: the new scales go out with the next run
 *   (a slider moves without rebuilding anything). Baked and live graphs are built when the
 *   pipeline next opens the graph (cached by content in DATA_DIR/cache/adapters).
 * - `setTokenScales` is where SliderEdit puts its per-token vectors; `setMethodAdapters` adds a
 *   method's own adapters (SliderEdit's STLoRA) next to the user's list without listing them.
 * Methods (SliderEdit, concepts, the watermark) configure adapters through this class only.
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileStamp } from '../cache/file-stamp.js';
import { LruCache } from '../cache/lru.js';
import { EngineError } from '../errors.js';
import type { AdapterHost } from '../pipelines/adapter-host.js';
import type { AdapterHook } from '../pipelines/sessions.js';
import { writeFileAtomic } from '../stores/atomic.js';
import { coverage, summarizeCoverage, type CoverageReport, type IndexedGraph } from './coverage.js';
import { readAdapter } from './formats/read.js';
import { loadAdapterFile, type LoadedAdapter } from './loaded.js';
import { bytesSource, SafetensorsReader } from './safetensors.js';
import { indexGraphFile, type ModuleIndex } from './mapping.js';
import { AdapterScales, planGraph, planSignature, type AdapterMode, type AdapterSlot, type GraphPlan } from './stack.js';
import { perTokenProblem } from './token-streams.js';

export interface AdapterSetting {
  id: string;
  enabled: boolean;
  weight: number;
  mode: AdapterMode;
  /** Live only: one scale per text token (SliderEdit). */
  perToken?: boolean;
  /** Apply the targets that map even when others do not. */
  allowPartial?: boolean;
  /**
   * Live only: act on the prompt's denoiser pass only, not on the negative prompt's pass of
   * classifier-free guidance (adapters that address the instruction: SliderEdit's).
   */
  promptOnly?: boolean;
}

/** A user's adapter as listed (prompt-only is for methods' adapters, which are not listed). */
export interface ActiveAdapter extends Required<Omit<AdapterSetting, 'promptOnly'>> {
  name: string;
}

export type AdapterSource = { path: string } | { name: string; bytes: Uint8Array };

export class AdapterManager {
  private readonly known = new Map<string, LoadedAdapter>();
  private readonly names = new Map<string, string>();
  private readonly indexes = new LruCache<string, ModuleIndex>(8);
  private readonly scales = new AdapterScales();
  private settings: ActiveAdapter[] = [];
  /** Adapters a method runs next to the user's (SliderEdit's STLoRA): applied, not listed in active(). */
  private methodSettings: AdapterSetting[] = [];
  private signatures = new Map<string, string>();

  constructor(private readonly dataDir: string) {}

  get cacheDir(): string {
    return path.join(this.dataDir, 'cache', 'adapters');
  }

  async add(source: AdapterSource): Promise<LoadedAdapter> {
    let file: string;
    let name: string;
    if ('path' in source) {
      file = path.resolve(source.path);
      name = path.basename(file);
      if (!/\.safetensors$/i.test(file)) throw new EngineError('bad_input', `${file}: adapters are .safetensors files`);
    } else {
      name = path.basename(source.name);
      // checked before it is stored, so a bad upload leaves nothing behind and errors name the user's file
      const reader = await SafetensorsReader.open(bytesSource(name, source.bytes));
      const adapter = await readAdapter(reader).finally(() => reader.close());
      if (adapter.targets.length === 0) throw new EngineError('bad_input', `${name}: not an adapter Atelier can use (${[...new Set(adapter.unused.map((u) => u.reason))].slice(0, 3).join('; ') || 'no tensors'})`);
      const sha = createHash('sha256').update(source.bytes).digest('hex');
      file = path.join(this.dataDir, 'adapters', `${sha}.safetensors`);
      try {
        statSync(file);
      } catch {
        await writeFileAtomic(file, source.bytes);
      }
    }
    const loaded = await loadAdapterFile(file);
    this.known.set(loaded.id, loaded);
    this.names.set(loaded.id, name);
    return loaded;
  }

  get(id: string): LoadedAdapter {
    const loaded = this.known.get(id);
    if (!loaded) throw new EngineError('not_found', `no adapter with id ${id} (inspect or add its file first)`);
    return loaded;
  }

  nameOf(id: string): string {
    return this.names.get(id) ?? this.get(id).name;
  }

  private graphs(host: AdapterHost): IndexedGraph[] {
    return host.graphs().map((g) => {
      const key = fileStamp(g.file);
      let index = this.indexes.get(key);
      if (!index) this.indexes.set(key, (index = indexGraphFile(g.file, new Uint8Array(readFileSync(g.file)))));
      return { ...g, index };
    });
  }

  coverage(loaded: LoadedAdapter, host: AdapterHost): CoverageReport {
    return coverage(loaded.adapter, this.graphs(host)).report;
  }

  active(): ActiveAdapter[] {
    return this.settings.map((s) => ({ ...s }));
  }

  /** Per-token scales for a live per-token adapter (multiplied by its weight); null for uniform. */
  setTokenScales(id: string, values: Float32Array | null): void {
    this.scales.setTokenScales(id, values);
  }

  /** Whether applying `settings` would only change live weights (no graph rebuilt or reopened). */
  onlyWeights(host: AdapterHost, settings: AdapterSetting[]): boolean {
    const slots = this.slots([...settings, ...this.methodSettings]);
    return host.graphs().every((g) => planSignature(g.component, slots) === (this.signatures.get(g.name) ?? planSignature(g.component, [])));
  }

  private slots(settings: AdapterSetting[]): AdapterSlot[] {
    return settings.filter((s) => s.enabled).map((s) => ({ loaded: this.get(s.id), weight: s.weight, mode: s.mode, perToken: s.mode === 'live' && (s.perToken ?? false) }));
  }

  async apply(host: AdapterHost, settings: AdapterSetting[]): Promise<ActiveAdapter[]> {
    await this.install(host, settings, this.methodSettings);
    this.settings = settings.map((s) => ({ id: s.id, name: this.nameOf(s.id), enabled: s.enabled, weight: s.weight, mode: s.mode, perToken: s.perToken ?? false, allowPartial: s.allowPartial ?? false }));
    return this.active();
  }

  /**
   * The adapters a method runs on the loaded model next to the user's list ([] removes them); only
   * graphs whose plan changes are rebuilt, so setting the same list again costs nothing.
   */
  async setMethodAdapters(host: AdapterHost, settings: AdapterSetting[]): Promise<void> {
    await this.install(host, this.settings, settings);
    this.methodSettings = settings.map((s) => ({ ...s }));
  }

  /** The method adapters set now. */
  methodAdapters(): AdapterSetting[] {
    return this.methodSettings.map((s) => ({ ...s }));
  }

  private async install(host: AdapterHost, user: AdapterSetting[], method: AdapterSetting[]): Promise<void> {
    const settings = [...user, ...method];
    const ids = new Set<string>();
    for (const s of settings) {
      this.get(s.id);
      if (ids.has(s.id)) throw new EngineError('invalid_params', `adapter ${s.id} is listed twice`);
      ids.add(s.id);
      if (!Number.isFinite(s.weight)) throw new EngineError('invalid_params', `adapter ${s.id}: the weight must be a finite number`);
      if (s.perToken && s.mode !== 'live') throw new EngineError('invalid_params', `adapter ${this.nameOf(s.id)}: per-token scales need the live mode`);
      if (s.promptOnly && s.mode !== 'live') throw new EngineError('invalid_params', `adapter ${this.nameOf(s.id)}: prompt-only needs the live mode`);
    }
    const slots = this.slots(settings);
    const graphs = this.graphs(host);
    for (const s of settings.filter((x) => x.enabled)) {
      const loaded = this.get(s.id);
      const { report } = coverage(loaded.adapter, graphs);
      if (report.mapped === 0) throw new EngineError('bad_input', `${this.nameOf(s.id)} does not fit this model: ${summarizeCoverage(report)}`);
      if (report.mapped < report.targets && !s.allowPartial) throw new EngineError('bad_input', `${this.nameOf(s.id)} does not fully fit this model: ${summarizeCoverage(report)}`);
      if (s.mode === 'live' && s.perToken) {
        for (const component of new Set(loaded.adapter.targets.map((t) => t.component))) {
          const problem = perTokenProblem(loaded.adapter, component);
          if (problem) throw new EngineError('bad_input', `${this.nameOf(s.id)}: ${problem}`);
        }
      }
    }
    const next = new Map(graphs.map((g) => [g.name, planSignature(g.component, slots)]));
    const changed = graphs.filter((g) => next.get(g.name) !== (this.signatures.get(g.name) ?? planSignature(g.component, []))).map((g) => g.name);
    for (const s of settings) {
      this.scales.setWeight(s.id, s.enabled ? s.weight : 0);
      this.scales.setPromptOnly(s.id, s.promptOnly ?? false);
    }
    const components = new Map(graphs.map((g) => [g.name, g.component]));
    const cacheDir = this.cacheDir;
    const scales = this.scales;
    const hook: AdapterHook = {
      async resolve(name: string, file: string) {
        const component = components.get(name);
        if (!component) return null;
        const plan: GraphPlan | null = await planGraph(file, component, slots, cacheDir);
        if (!plan) return null;
        const inputs = plan.inputs;
        return { file: plan.file, feeds: inputs.length > 0 ? (passes) => scales.batchFeeds(inputs, passes) : null, notices: plan.notices };
      },
    };
    await host.setHook(slots.length > 0 ? hook : null, changed); // releases only the changed graphs' sessions
    this.signatures = next;
  }

  /** Forgets the active settings (a new model was loaded); known files stay known. */
  reset(): void {
    this.settings = [];
    this.methodSettings = [];
    this.signatures = new Map();
  }
}
