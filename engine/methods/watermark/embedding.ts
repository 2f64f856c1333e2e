/**
 * The watermark embedded in the loaded model: which key's LoRA is baked into its VAE decoder now,
 * why embedding is switched on but not working (jobs are refused then), and a generation counter
 * that lets a job detect that the embedding changed while it ran (its output could not be
 * labelled). Switching bakes the key's LoRA through engine/adapters next to the user's adapters,
 * after running jobs finish; a LoRA that does not fully fit the decoder is refused with its
 * coverage and nothing changes. The engine (engine.ts) serializes these calls with model loads.
 */
import { EngineError, messageOf } from '../../errors.js';
import type { AdapterManager, AdapterSetting } from '../../adapters/manager.js';
import { summarizeCoverage } from '../../adapters/coverage.js';
import type { AdapterHost } from '../../pipelines/adapter-host.js';
import type { ActiveAdapter, ModelInfo, WatermarkState } from '../../protocol/index.js';
import type { Watermarking } from './service.js';

interface Embedded {
  keyId: string;
  keyName: string;
  /** The key's LoRA as an adapter (engine/adapters), applied baked next to the user's adapters. */
  adapterId: string;
}

/** The loaded model as embedding sees it. */
export interface EmbeddingTarget {
  info: ModelInfo;
  /** Its adapter slots; null when the model takes no adapters (and so no watermark). */
  host: AdapterHost | null;
}

/** What a job notes when it starts, to check when it ends. */
export interface EmbeddingStamp {
  generation: number;
  keyId: string | undefined;
}

export class WatermarkEmbedding {
  private embedded: Embedded | null = null;
  private problemText: string | null = null;
  private generation = 0;

  constructor(
    private readonly watermark: Watermarking,
    private readonly adapters: AdapterManager,
    /** Resolves when no job runs (a bake must not change graphs under one). */
    private readonly jobsIdle: () => Promise<void>,
  ) {}

  /** Why embedding is on for the loaded model but no key is baked in; null when all is well. */
  get problem(): string | null {
    return this.problemText;
  }

  /** The watermark LoRA's adapter setting, to apply next to the user's adapters. */
  settings(): AdapterSetting[] {
    return this.embedded ? [{ id: this.embedded.adapterId, enabled: true, weight: 1, mode: 'bake' }] : [];
  }

  /** True for the watermark's own adapter (never listed as the user's). */
  owns(adapterId: string): boolean {
    return adapterId === this.embedded?.adapterId;
  }

  /** The user's adapters among the active ones. */
  userAdapters(): ActiveAdapter[] {
    return this.adapters.active().filter((a) => !this.owns(a.id));
  }

  /** Forgets the embedding (the model is being unloaded; its adapters go with it). */
  reset(): void {
    if (!this.embedded && !this.problemText) return;
    this.embedded = null;
    this.problemText = null;
    this.generation++;
  }

  stamp(): EmbeddingStamp {
    return { generation: this.generation, keyId: this.embedded?.keyId };
  }

  changedSince(stamp: EmbeddingStamp): boolean {
    return stamp.generation !== this.generation;
  }

  /** A key was renamed: true when it is the embedded one (the state shown changed). */
  renamed(keyId: string, name: string): boolean {
    if (this.embedded?.keyId !== keyId) return false;
    this.embedded = { ...this.embedded, keyName: name };
    return true;
  }

  state(model: ModelInfo | null): WatermarkState {
    let setting: { enabled: boolean; keyId: string | null } = { enabled: false, keyId: null };
    try {
      if (model) setting = this.watermark.embedding(model.id);
    } catch {
      // a damaged settings file: problem says so
    }
    return {
      modelId: model?.id ?? null,
      enabled: setting.enabled,
      keyId: this.embedded?.keyId ?? setting.keyId,
      keyName: this.embedded?.keyName ?? null,
      active: this.embedded !== null,
      problem: this.problemText,
    };
  }

  /**
   * Switches embedding on (with `keyId`) or off for `target`. `persist: false` leaves the
   * remembered switch alone (the CLI's --watermark).
   */
  async apply(target: EmbeddingTarget, enabled: boolean, keyId: string | null, persist: boolean): Promise<void> {
    const { info, host } = target;
    let next: Embedded | null = null;
    if (enabled) {
      if (!keyId) throw new EngineError('invalid_params', 'choose a watermark key to embed (create one first if there is none)');
      const key = await this.watermark.keys.get(keyId);
      if (!host) throw new EngineError('invalid_params', `${info.name} takes no adapters, so it cannot embed a watermark`);
      const adapter = await this.adapters.add({ path: key.loraFile });
      const report = this.adapters.coverage(adapter, host);
      if (!report.complete) {
        throw new EngineError(
          'bad_input',
          `watermark key ${key.name} cannot be embedded in ${info.name}: its LoRA does not fit this model's VAE decoder (${summarizeCoverage(report)}); the watermark is made for the tiny model's VAE`,
        );
      }
      next = { keyId: key.id, keyName: key.name, adapterId: adapter.id };
    }
    if (host && (next?.adapterId ?? null) !== (this.embedded?.adapterId ?? null)) {
      const user = this.userAdapters()
        .filter((a) => a.id !== next?.adapterId)
        .map(({ id, enabled: on, weight, mode, perToken, allowPartial }) => ({ id, enabled: on, weight, mode, perToken, allowPartial }));
      const slots: AdapterSetting[] = next ? [{ id: next.adapterId, enabled: true, weight: 1, mode: 'bake' }] : [];
      await this.jobsIdle();
      this.generation++;
      try {
        await this.adapters.apply(host, [...user, ...slots]);
      } finally {
        this.generation++;
      }
    }
    this.embedded = next;
    this.problemText = null;
    if (persist) await this.watermark.setEmbedding(info.id, { enabled, keyId: next?.keyId ?? keyId });
  }

  /**
   * After a model load: embeds the key its switch remembers. A failure is kept as the problem
   * (jobs are refused) and returned, for the log.
   */
  async restore(target: EmbeddingTarget): Promise<string | null> {
    try {
      const setting = this.watermark.embedding(target.info.id);
      if (setting.enabled) await this.apply(target, true, setting.keyId, false);
      return null;
    } catch (error) {
      this.problemText = messageOf(error);
      return this.problemText;
    }
  }
}
