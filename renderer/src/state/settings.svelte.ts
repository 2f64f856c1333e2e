/**
 * The job settings the right panel edits: the tab, the text of each job kind (prompt,
 * instruction, image-to-image prompt), the negative prompt, steps, seed (with its lock),
 * guidance, sampler, strength and, for Generate, the output size. It reads the loaded model to
 * know which kind the Edit tab runs and what the model takes, builds the runJob params, and
 * restores itself from an output's metadata.
 */
import type { JobKind, JobMetadata, JobRequest, ModelInfo } from '../engine/protocol.js';
import { editKindOf, tabOf, type Mode } from '../lib/models.js';
import { clamp, randomSeed, snapSide } from '../lib/seed.js';

export type { Mode } from '../lib/models.js';

export const LIMITS = {
  steps: { min: 1, max: 200 },
  guidance: { min: 0, max: 50 },
  side: { min: 16, max: 4096 },
  seed: { min: 0, max: Number.MAX_SAFE_INTEGER },
  strength: { min: 0, max: 1 },
} as const;

/** The engine's strength when a job gives none. */
export const DEFAULT_STRENGTH = 0.6;

/** What restoring needs from an output's metadata (a PNG's settings have no more than this). */
export type RestorableSettings = Pick<
  JobMetadata,
  'kind' | 'text' | 'seed' | 'steps' | 'guidance' | 'width' | 'height' | 'scheduler' | 'negativePrompt' | 'strength'
>;

export class Settings {
  mode = $state<Mode>('generate');
  prompt = $state('');
  instruction = $state('');
  /** The image-to-image prompt (kept apart from Generate's). */
  imagePrompt = $state('');
  negativePrompt = $state('');
  steps = $state(20);
  /** When unlocked, every run draws a fresh seed first; when locked, runs reuse this one. */
  seed = $state(randomSeed());
  seedLocked = $state(false);
  guidance = $state(3.5);
  width = $state(512);
  height = $state(512);
  /** The sampler, one of the model's schedulers ('' before a model is known). */
  scheduler = $state('');
  strength = $state(DEFAULT_STRENGTH);

  /** `model` returns the loaded model (the session's), read whenever the settings need it. */
  constructor(private readonly model: () => ModelInfo | null = () => null) {}

  /** The job kind Run starts: 'generate', or the edit task of the loaded model. */
  get kind(): JobKind {
    if (this.mode === 'generate') return 'generate';
    const model = this.model();
    return (model && editKindOf(model)) ?? 'edit';
  }

  /** The text of the current kind: prompt, instruction or image-to-image prompt. */
  get text(): string {
    return this.textOf(this.kind);
  }

  set text(value: string) {
    this.setText(this.kind, value);
  }

  /** Whether the model takes a negative prompt for the current kind. */
  get takesNegativePrompt(): boolean {
    return this.kind !== 'edit' && (this.model()?.negativePrompt ?? false);
  }

  /** The samplers the user can choose among for the current kind (an instruction edit has none). */
  get schedulerChoices(): readonly string[] {
    if (this.kind === 'edit') return [];
    return this.model()?.schedulers ?? [];
  }

  /** The sampler the job runs with: the chosen one, or the model's default for an instruction edit. */
  get effectiveScheduler(): string {
    const model = this.model();
    if (this.kind === 'edit') return model?.defaults.scheduler ?? this.scheduler;
    return this.scheduler;
  }

  setSteps(value: number): void {
    this.steps = Math.round(clamp(value, LIMITS.steps.min, LIMITS.steps.max));
  }

  setGuidance(value: number): void {
    this.guidance = Math.round(clamp(value, LIMITS.guidance.min, LIMITS.guidance.max) * 100) / 100;
  }

  setStrength(value: number): void {
    this.strength = Math.round(clamp(value, LIMITS.strength.min, LIMITS.strength.max) * 100) / 100;
  }

  /** Typing a seed means "use this one": it locks the seed. */
  setSeed(value: number): void {
    this.seed = Math.round(clamp(value, LIMITS.seed.min, LIMITS.seed.max));
    this.seedLocked = true;
  }

  rollSeed(): void {
    this.seed = randomSeed();
  }

  setWidth(value: number): void {
    this.width = snapSide(value);
  }

  setHeight(value: number): void {
    this.height = snapSide(value);
  }

  /** A newly loaded model: its defaults (steps, guidance, size, sampler) fill the settings. */
  applyModel(model: ModelInfo): void {
    this.setSteps(model.defaults.steps);
    this.setGuidance(model.defaults.guidance);
    this.setWidth(model.defaults.width);
    this.setHeight(model.defaults.height);
    this.scheduler = this.availableScheduler(model.defaults.scheduler, model);
  }

  /** Restores the settings that made an output, seed locked so a run reproduces it. */
  restore(metadata: RestorableSettings): void {
    this.mode = tabOf(metadata.kind);
    this.setText(metadata.kind, metadata.text);
    if (metadata.kind === 'generate') {
      this.setWidth(metadata.width);
      this.setHeight(metadata.height);
    }
    if (metadata.kind !== 'edit') {
      this.negativePrompt = metadata.negativePrompt ?? '';
      // Outputs from before samplers were recorded were made with flow-matching Euler.
      this.scheduler = this.availableScheduler(metadata.scheduler ?? 'flow-euler', this.model());
    }
    if (metadata.kind === 'img2img') this.setStrength(metadata.strength ?? DEFAULT_STRENGTH);
    this.setSteps(metadata.steps);
    this.setGuidance(metadata.guidance);
    this.seed = metadata.seed;
    this.seedLocked = true;
  }

  /**
   * The params for runJob, drawing a fresh seed first unless it is locked. `image` is the open
   * image's original bytes (required by the Edit tab). Only what the model takes is sent: no
   * size for a fixed-size model, no negative prompt where it has none, no sampler it lacks. The
   * object is plain (no state proxies), so it survives structured clone and MessagePack alike.
   */
  buildRequest(image: Uint8Array | null, options: { reuseSeed?: boolean } = {}): JobRequest | null {
    const kind = this.kind;
    if (kind !== 'generate' && !image) return null;
    if (!this.seedLocked && !options.reuseSeed) this.rollSeed();
    const model = this.model();
    const common = { seed: this.seed, steps: this.steps, guidance: this.guidance };
    const scheduler = this.scheduler !== '' && (!model || model.schedulers.includes(this.scheduler)) ? { scheduler: this.scheduler } : {};
    const negative = this.takesNegativePrompt && this.negativePrompt.trim() !== '' ? { negativePrompt: this.negativePrompt } : {};
    if (kind === 'generate') {
      const size = model?.fixedSize ? {} : { width: this.width, height: this.height };
      return { kind, prompt: this.prompt, ...negative, ...common, ...size, ...scheduler };
    }
    if (!image) return null;
    if (kind === 'edit') return { kind, image, instruction: this.instruction, ...common };
    return { kind, image, prompt: this.imagePrompt, ...negative, strength: this.strength, ...common, ...scheduler };
  }

  private textOf(kind: JobKind): string {
    if (kind === 'generate') return this.prompt;
    return kind === 'edit' ? this.instruction : this.imagePrompt;
  }

  private setText(kind: JobKind, value: string): void {
    if (kind === 'generate') this.prompt = value;
    else if (kind === 'edit') this.instruction = value;
    else this.imagePrompt = value;
  }

  /** `wanted` when the model offers it (or no model is known), else the model's default. */
  private availableScheduler(wanted: string, model: ModelInfo | null): string {
    if (!model || model.schedulers.includes(wanted)) return wanted;
    return model.schedulers.includes(model.defaults.scheduler) ? model.defaults.scheduler : (model.schedulers[0] ?? '');
  }
}
