/**
 * SliderEdit's store: the sub-instructions of the instruction (as the engine splits and tokenizes
 * them, `sliderParts`), one strength per part (0..2, 1 = as typed), the user's own split, and the
 * sweep of one part.
 *
 * - The split follows the instruction: `follow(instruction)` asks the engine (debounced by the
 *   caller's typing; stale answers are dropped). Strengths are kept for parts whose text survives a
 *   new split; new parts start at 1. Merging two neighbouring chips, or editing the split as
 *   "a | b | c", sends the user's parts, which the engine checks.
 * - Moving a slider re-renders after a quiet spell (`DEBOUNCE_MS`); the render goes through
 *   `render` (the app: cancel this window's job in flight, run the edit with these sliders). A
 *   newer move replaces a render that has not started.
 * - A sweep renders one part at each of `SWEEP_VALUES` in turn (the others as set) and keeps the
 *   frames; clicking a frame takes its strength.
 */
import type { EngineClient } from '../engine/client.js';
import { messageOf } from '../engine/errors.js';
import type { EncodedImage, SliderPart } from '../engine/protocol.js';
import { imageUrl, revokeUrl } from '../lib/images.js';

export const STRENGTH_RANGE = { min: 0, max: 2, step: 0.05, page: 0.25 } as const;
export const DEBOUNCE_MS = 150;
export const SWEEP_VALUES = [0, 0.5, 1, 1.5, 2] as const;

export interface SliderRequest {
  parts: string[];
  strengths: number[];
}

/** Runs an edit with these sliders; resolves with the output, or null when it did not finish. */
export type SliderRender = (sliders: SliderRequest) => Promise<EncodedImage | null>;

export interface SweepFrame {
  value: number;
  url: string | null;
}

export class Sliders {
  parts = $state.raw<SliderPart[]>([]);
  strengths = $state.raw<number[]>([]);
  /** The user's split, or null for the engine's automatic one. */
  custom = $state.raw<string[] | null>(null);
  /** Whether the loaded model can run SliderEdit, and why not. */
  available = $state(false);
  reason = $state<string | null>(null);
  error = $state<string | null>(null);
  /** A render is waiting for the quiet spell or running. */
  pending = $state(false);
  sweepPart = $state<number | null>(null);
  sweepFrames = $state.raw<SweepFrame[]>([]);
  sweeping = $state(false);

  private instruction = '';
  private asked = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private renders = 0;

  constructor(
    private readonly client: EngineClient,
    private readonly render: SliderRender,
  ) {}

  /** Whether any strength differs from 1 (or the split was edited): Run sends the sliders then. */
  get engaged(): boolean {
    return this.custom !== null || this.strengths.some((s) => s !== 1);
  }

  get request(): SliderRequest {
    return { parts: this.parts.map((p) => p.text), strengths: [...this.strengths] };
  }

  /** Splits a new instruction (the user's split is dropped: it belonged to the old text). */
  async follow(instruction: string): Promise<void> {
    if (instruction === this.instruction) return;
    this.instruction = instruction;
    this.custom = null;
    await this.ask();
  }

  /** Brings back an output's split and strengths (a history item made with sliders), or resets them. */
  async restore(instruction: string, sliders: SliderRequest | undefined): Promise<void> {
    this.instruction = instruction;
    this.custom = sliders ? [...sliders.parts] : null;
    this.strengths = [];
    await this.ask();
    if (sliders && this.error === null && this.parts.length === sliders.strengths.length) this.strengths = [...sliders.strengths];
  }

  /** Asks the engine again (a model was loaded). */
  refresh(): Promise<void> {
    return this.ask();
  }

  private async ask(): Promise<void> {
    const ticket = ++this.asked;
    const instruction = this.instruction;
    if (!instruction.trim()) {
      this.parts = [];
      this.strengths = [];
      this.error = null;
      return;
    }
    try {
      const result = await this.client.call('sliderParts', { instruction, ...(this.custom ? { parts: this.custom } : {}) });
      if (ticket !== this.asked) return;
      const old = new Map(this.parts.map((p, i) => [p.text.toLowerCase(), this.strengths[i] ?? 1]));
      this.parts = result.parts;
      this.strengths = result.parts.map((p) => old.get(p.text.toLowerCase()) ?? 1);
      this.available = result.available;
      this.reason = result.reason;
      this.error = null;
    } catch (error) {
      if (ticket === this.asked) this.error = messageOf(error);
    }
  }

  /** Sets a part's strength (clamped, on the 0.05 grid) and schedules a render. */
  setStrength(index: number, value: number): void {
    if (index < 0 || index >= this.strengths.length) return;
    const v = Math.min(STRENGTH_RANGE.max, Math.max(STRENGTH_RANGE.min, Math.round(value / STRENGTH_RANGE.step) * STRENGTH_RANGE.step));
    const rounded = Number(v.toFixed(2));
    if (rounded === this.strengths[index]) return;
    this.strengths = this.strengths.map((s, i) => (i === index ? rounded : s));
    this.schedule();
  }

  /** Renders after DEBOUNCE_MS without another move. */
  schedule(): void {
    if (!this.available) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.pending = true;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.renderNow();
    }, DEBOUNCE_MS);
  }

  private async renderNow(): Promise<void> {
    const ticket = ++this.renders;
    try {
      await this.render(this.request);
    } finally {
      if (ticket === this.renders && this.timer === null) this.pending = false;
    }
  }

  /** Joins part `index` with the next one (the text between them included). */
  async merge(index: number): Promise<void> {
    const a = this.parts[index];
    const b = this.parts[index + 1];
    if (!a || !b) return;
    const merged = this.instruction.slice(a.start, b.end);
    const texts = this.parts.map((p) => p.text);
    texts.splice(index, 2, merged);
    await this.setSplit(texts);
  }

  /** The user's split as "a | b | c"; an empty list returns to the automatic split. */
  async setSplit(parts: string[] | null): Promise<void> {
    const previous = this.custom;
    this.custom = parts && parts.length > 0 ? parts : null;
    await this.ask();
    if (this.error !== null) this.custom = previous;
  }

  /** Renders part `index` at each sweep value in turn. */
  async sweep(index: number, values: readonly number[] = SWEEP_VALUES): Promise<void> {
    if (!this.available || index < 0 || index >= this.parts.length || this.sweeping) return;
    this.clearSweep();
    this.sweepPart = index;
    this.sweeping = true;
    this.sweepFrames = values.map((value) => ({ value, url: null }));
    try {
      for (const [i, value] of values.entries()) {
        const request = this.request;
        request.strengths[index] = value;
        const image = await this.render(request);
        if (this.sweepPart !== index || !this.sweeping) return;
        if (!image) break;
        this.sweepFrames = this.sweepFrames.map((f, j) => (j === i ? { value, url: imageUrl(image.bytes, image.mime) } : f));
      }
    } finally {
      this.sweeping = false;
    }
  }

  /** Takes a sweep frame's strength for the swept part. */
  pickFrame(value: number): void {
    if (this.sweepPart !== null) this.setStrength(this.sweepPart, value);
  }

  clearSweep(): void {
    for (const f of this.sweepFrames) revokeUrl(f.url);
    this.sweepFrames = [];
    this.sweepPart = null;
    this.sweeping = false;
  }

  dispose(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.clearSweep();
  }
}
