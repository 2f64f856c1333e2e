/**
 * The job settings the right panel edits: mode, prompt/instruction, steps, seed (with its lock),
 * guidance and, for Generate, the output size. It builds the runJob params and restores itself
 * from an output's metadata.
 */
import type { JobMetadata, JobRequest, ModelDefaults } from '../engine/protocol.js';
import { clamp, randomSeed, snapSide } from '../lib/seed.js';

export type Mode = 'generate' | 'edit';

export const LIMITS = {
  steps: { min: 1, max: 200 },
  guidance: { min: 0, max: 50 },
  side: { min: 16, max: 4096 },
  seed: { min: 0, max: Number.MAX_SAFE_INTEGER },
} as const;

export class Settings {
  mode = $state<Mode>('generate');
  prompt = $state('');
  instruction = $state('');
  steps = $state(20);
  /** When unlocked, every run draws a fresh seed first; when locked, runs reuse this one. */
  seed = $state(randomSeed());
  seedLocked = $state(false);
  guidance = $state(3.5);
  width = $state(512);
  height = $state(512);

  /** The prompt in Generate mode, the instruction in Edit mode. */
  get text(): string {
    return this.mode === 'generate' ? this.prompt : this.instruction;
  }

  set text(value: string) {
    if (this.mode === 'generate') this.prompt = value;
    else this.instruction = value;
  }

  setSteps(value: number): void {
    this.steps = Math.round(clamp(value, LIMITS.steps.min, LIMITS.steps.max));
  }

  setGuidance(value: number): void {
    this.guidance = Math.round(clamp(value, LIMITS.guidance.min, LIMITS.guidance.max) * 100) / 100;
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

  applyDefaults(defaults: ModelDefaults): void {
    this.setSteps(defaults.steps);
    this.setGuidance(defaults.guidance);
    this.setWidth(defaults.width);
    this.setHeight(defaults.height);
  }

  /** Restores the settings that made an output, seed locked so a run reproduces it. */
  restore(metadata: JobMetadata): void {
    this.mode = metadata.kind;
    if (metadata.kind === 'generate') {
      this.prompt = metadata.text;
      this.setWidth(metadata.width);
      this.setHeight(metadata.height);
    } else {
      this.instruction = metadata.text;
    }
    this.setSteps(metadata.steps);
    this.setGuidance(metadata.guidance);
    this.seed = metadata.seed;
    this.seedLocked = true;
  }

  /**
   * The params for runJob, drawing a fresh seed first unless it is locked. `image` is the open
   * image's original bytes (required for Edit). The object is plain (no state proxies), so it
   * survives structured clone and MessagePack alike.
   */
  buildRequest(image: Uint8Array | null): JobRequest | null {
    if (!this.seedLocked) this.rollSeed();
    const common = { seed: this.seed, steps: this.steps, guidance: this.guidance };
    if (this.mode === 'generate') {
      return { kind: 'generate', prompt: this.prompt, ...common, width: this.width, height: this.height };
    }
    if (!image) return null;
    return { kind: 'edit', image, instruction: this.instruction, ...common };
  }
}
