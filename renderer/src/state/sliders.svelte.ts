/**
 * SliderEdit's store: the sub-instructions of the instruction (as the engine splits and tokenizes
 * them, `sliderParts`), one strength per part (0..2, 1 = as typed), the user's own split, and the
 * sweep of one part.
 *
 * - The split follows the instruction: `follow(instruction)` asks the engine (debounced by the
 *   caller's typing; stale answers are dropped). Strengths are kept for parts whose text survives a
 *   new split, matched by text and occurrence (the second "make it bigger" keeps the second one's
 *   strength); new parts start at 1. Merging two neighbouring chips, or editing the split as
 *   "a | b | c", sends the user's parts, which the engine checks.
 * - Moving a slider re-renders after a quiet spell (`DEBOUNCE_MS`). One render loop runs at a
 *   time and hands the host a getter that reads the strengths when the job is submitted (after any
 *   job in flight has ended), so the image always ends at the newest values: a move while a render
 *   runs interrupts it (the host cancels the job quietly) and the loop renders again with what the
 *   sliders say then; an older position never starts after a newer one.
 * - Parts remember the instruction they were split from (`forInstruction`): a render or a Run
 *   never sends the old parts with a newer instruction.
 * - A sweep renders one part at each of `SWEEP_VALUES` in turn (the others as set) and keeps the
 *   frames; clicking a frame takes its strength (a sweep still rendering stops there, its frames
 *   stay). It starts once the slider loop has stopped, so the two never race for the one job.
 *   Sliders are disabled while it runs; closing it, a new split, or a new sweep stops it (each
 *   sweep has its own id, so an old one unwinding never touches a newer one).
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

/** What the sliders need of the app. */
export interface SliderHost {
  /**
   * Runs an edit with the sliders `request()` gives when the job is submitted (after any job in
   * flight has ended; null: nothing to render any more); resolves with the output, or null when it
   * did not finish or never started.
   */
  render(request: () => SliderRequest | null, purpose: 'slider' | 'sweep'): Promise<EncodedImage | null>;
  /** Stops the render in flight without telling the user (a newer one replaces it). */
  interrupt(): void;
}

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
  /** The instruction the shown parts were split from. */
  private partsInstruction = '';
  private asked = 0;
  private asking: Promise<void> | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** The render loop is running; `dirty`: the strengths changed since it last submitted. */
  private looping: Promise<void> | null = null;
  private dirty = false;
  private sweepId = 0;

  constructor(
    private readonly client: EngineClient,
    private readonly host: SliderHost,
  ) {}

  /** The instruction the parts (and so `request`) belong to. */
  get forInstruction(): string {
    return this.partsInstruction;
  }

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

  /**
   * Whether the parts belong to `instruction`, splitting it first when they do not yet (Run right
   * after typing, before the debounced split arrived).
   */
  async readyFor(instruction: string): Promise<boolean> {
    if (instruction !== this.instruction) await this.follow(instruction);
    else if (this.asking) await this.asking;
    return this.partsInstruction === instruction && this.parts.length > 0;
  }

  /** Brings back an output's split and strengths (a history item made with sliders), or resets them. */
  async restore(instruction: string, sliders: SliderRequest | undefined): Promise<void> {
    this.instruction = instruction;
    this.custom = sliders ? [...sliders.parts] : null;
    this.strengths = this.parts.map(() => 1);
    const asking = this.ask();
    const ticket = this.asked;
    await asking;
    // a newer restore or split since then owns the strengths
    if (ticket !== this.asked) return;
    if (sliders && this.error === null && this.parts.length === sliders.strengths.length) this.strengths = [...sliders.strengths];
  }

  /** Asks the engine again (a model was loaded). */
  refresh(): Promise<void> {
    return this.ask();
  }

  private ask(): Promise<void> {
    const asking = this.askNow();
    this.asking = asking;
    void asking.finally(() => {
      if (this.asking === asking) this.asking = null;
    });
    return asking;
  }

  private async askNow(): Promise<void> {
    const ticket = ++this.asked;
    const instruction = this.instruction;
    if (!instruction.trim()) {
      this.replaceParts([], [], instruction);
      this.error = null;
      return;
    }
    try {
      const result = await this.client.call('sliderParts', { instruction, ...(this.custom ? { parts: this.custom } : {}) });
      if (ticket !== this.asked) return;
      const oldKeys = occurrenceKeys(this.parts);
      const old = new Map(oldKeys.map((key, i) => [key, this.strengths[i] ?? 1]));
      this.replaceParts(
        result.parts,
        occurrenceKeys(result.parts).map((key) => old.get(key) ?? 1),
        instruction,
      );
      this.available = result.available;
      this.reason = result.reason;
      this.error = null;
    } catch (error) {
      if (ticket !== this.asked) return;
      this.error = messageOf(error);
      // the old parts stay; every part keeps a strength so its slider still moves
      if (this.strengths.length !== this.parts.length) this.strengths = this.parts.map((_, i) => this.strengths[i] ?? 1);
    }
  }

  private replaceParts(parts: SliderPart[], strengths: number[], instruction: string): void {
    const same = parts.length === this.parts.length && parts.every((p, i) => p.text === this.parts[i]!.text);
    if (!same) this.clearSweep(); // the swept part's index would name another part
    this.parts = parts;
    this.strengths = strengths;
    this.partsInstruction = instruction;
  }

  /** Sets a part's strength (clamped, on the 0.05 grid) and schedules a render. */
  setStrength(index: number, value: number): void {
    if (this.sweeping || index < 0 || index >= this.strengths.length) return;
    const v = Math.min(STRENGTH_RANGE.max, Math.max(STRENGTH_RANGE.min, Math.round(value / STRENGTH_RANGE.step) * STRENGTH_RANGE.step));
    const rounded = Number(v.toFixed(2));
    if (rounded === this.strengths[index]) return;
    this.strengths = this.strengths.map((s, i) => (i === index ? rounded : s));
    this.schedule();
  }

  /** Every strength back to 1 (as typed); renders once when any moved. */
  resetAll(): void {
    if (this.sweeping || this.strengths.every((s) => s === 1)) return;
    this.strengths = this.strengths.map(() => 1);
    this.schedule();
  }

  /** Renders after DEBOUNCE_MS without another move. */
  schedule(): void {
    if (!this.available) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.pending = true;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.dirty = true;
      if (this.looping) this.host.interrupt(); // the loop renders the newest values next
      else this.looping = this.loop();
    }, DEBOUNCE_MS);
  }

  private async loop(): Promise<void> {
    try {
      while (this.dirty && !this.sweeping) {
        let read = false;
        await this.host.render(() => {
          if (this.sweeping) return null; // a sweep took over while this render waited
          read = true;
          this.dirty = false;
          return this.request;
        }, 'slider');
        if (!read) break; // nothing could render now (no image, another instruction): a later move asks again
      }
    } finally {
      this.looping = null;
      this.dirty = false;
      if (this.timer === null) this.pending = false;
    }
  }

  private stopScheduled(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.dirty = false;
    this.pending = this.looping !== null;
  }

  /** Joins part `index` with the next one (the text between them included). */
  async merge(index: number): Promise<void> {
    const a = this.parts[index];
    const b = this.parts[index + 1];
    // the parts' offsets are in the text they were split from; a newer text is split anew first
    if (!a || !b || this.partsInstruction !== this.instruction) return;
    const merged = this.partsInstruction.slice(a.start, b.end);
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

  /** Renders part `index` at each sweep value in turn (a pending slider render is dropped). */
  async sweep(index: number, values: readonly number[] = SWEEP_VALUES): Promise<void> {
    if (!this.available || index < 0 || index >= this.parts.length || this.sweeping) return;
    this.clearSweep();
    this.stopScheduled();
    const id = ++this.sweepId;
    this.sweepPart = index;
    this.sweeping = true;
    this.sweepFrames = values.map((value) => ({ value, url: null }));
    try {
      // the slider loop stops at its next turn; its render in flight goes first
      if (this.looping) {
        this.host.interrupt();
        await this.looping;
        if (id !== this.sweepId) return;
      }
      for (const [i, value] of values.entries()) {
        const image = await this.host.render(() => {
          if (id !== this.sweepId) return null; // stopped while the job before it wound down
          const request = this.request;
          request.strengths[index] = value;
          return request;
        }, 'sweep');
        if (id !== this.sweepId) return;
        if (!image) break;
        this.sweepFrames = this.sweepFrames.map((f, j) => (j === i ? { value, url: imageUrl(image.bytes, image.mime) } : f));
      }
    } finally {
      if (id === this.sweepId) this.sweeping = false;
    }
  }

  /** Takes a sweep frame's strength for the swept part. */
  pickFrame(value: number): void {
    if (this.sweepPart === null) return;
    this.stopSweep();
    this.setStrength(this.sweepPart, value);
  }

  /** Stops a sweep still rendering; its frames stay. */
  stopSweep(): void {
    if (!this.sweeping) return;
    this.sweepId++;
    this.sweeping = false;
    this.host.interrupt();
  }

  /** Closes the sweep row; a sweep still rendering is stopped. */
  clearSweep(): void {
    this.stopSweep();
    for (const f of this.sweepFrames) revokeUrl(f.url);
    this.sweepFrames = [];
    this.sweepPart = null;
  }

  dispose(): void {
    this.stopScheduled();
    this.clearSweep();
  }
}

/** "text#n" per part: its lowercased text and how many parts before it have the same text. */
function occurrenceKeys(parts: readonly SliderPart[]): string[] {
  const seen = new Map<string, number>();
  return parts.map((p) => {
    const text = p.text.toLowerCase();
    const n = seen.get(text) ?? 0;
    seen.set(text, n + 1);
    return `${text}#${n}`;
  });
}
