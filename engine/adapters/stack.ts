/**
 * Several adapters on one graph: the graph to open and the scale feeds to add to every run.
 * Baked adapters (with their weights) are merged first (bake.ts); live ones are added as branches
 * on top (live.ts), each with its own scale input, numbered by its position among the graph's live
 * adapters. Both results are cached by content, so switching back to a combination seen before is
 * a cache hit, and no adapter at all is the base graph itself: removing adapters restores the base
 * model exactly.
 *
 * Scales (`AdapterScales`): a live adapter's feed is its weight, or, for a per-token adapter that
 * has been given a vector, weight x vector as (1, tokens, 1) (SliderEdit's scales over the text
 * tokens); without a vector a per-token adapter gets its weight for every token. A prompt-only
 * adapter (`setPromptOnly`) gets 0 on the negative prompt's pass of classifier-free guidance
 * (PromptPass): SliderEdit's adapters address the instruction, so that pass runs without them and
 * strength 1 stays exactly the plain guided edit. When a guided step runs both passes as one batch,
 * a per-token feed has one row per pass; a scalar feed cannot differ between them (batchFeeds).
 */
import { EngineError } from '../errors.js';
import { ort, type OrtFeeds } from '../runtime/ort.js';
import type { PromptPass } from '../runtime/session.js';
import { bakeGraph } from './bake.js';
import type { LoadedAdapter } from './loaded.js';
import { liveGraph, scaleInputName } from './live.js';
import type { Component } from './model.js';
import { perTokenProblem } from './token-streams.js';

export type AdapterMode = 'bake' | 'live';

export interface AdapterSlot {
  loaded: LoadedAdapter;
  weight: number;
  mode: AdapterMode;
  /** Live only: the scale is a vector over the text tokens. */
  perToken: boolean;
}

export interface ScaleInput {
  adapterId: string;
  input: string;
  perToken: boolean;
}

export interface GraphPlan {
  file: string;
  inputs: ScaleInput[];
  notices: string[];
}

function touches(slot: AdapterSlot, component: Component): boolean {
  return slot.loaded.adapter.targets.some((t) => t.component === component);
}

/** What a graph's plan depends on, for telling which graphs a settings change affects. */
export function planSignature(component: Component, slots: AdapterSlot[]): string {
  const relevant = slots.filter((s) => touches(s, component) && !(s.mode === 'bake' && s.weight === 0));
  return JSON.stringify(relevant.map((s) => [s.loaded.sha256, s.mode, s.mode === 'bake' ? s.weight : s.perToken]));
}

export async function planGraph(source: string, component: Component, slots: AdapterSlot[], cacheDir: string): Promise<GraphPlan | null> {
  const relevant = slots.filter((s) => touches(s, component));
  const bakes = relevant.filter((s) => s.mode === 'bake' && s.weight !== 0);
  const lives = relevant.filter((s) => s.mode === 'live');
  if (bakes.length === 0 && lives.length === 0) return null;
  let file = source;
  const notices: string[] = [];
  if (bakes.length > 0) {
    const baked = await bakeGraph({ cacheDir, source: file, component, uses: bakes.map((s) => ({ loaded: s.loaded, weight: s.weight })) });
    file = baked.file;
    if (baked.notice) notices.push(baked.notice);
  }
  const inputs: ScaleInput[] = [];
  if (lives.length > 0) {
    for (const s of lives) {
      if (!s.perToken) continue;
      const problem = perTokenProblem(s.loaded.adapter, component);
      if (problem) throw new EngineError('bad_input', `${s.loaded.name}: ${problem}`);
    }
    const uses = lives.map((s, i) => ({ loaded: s.loaded, input: scaleInputName(i), perToken: s.perToken }));
    const live = await liveGraph({ cacheDir, source: file, component, uses });
    file = live.file;
    if (live.notice) notices.push(live.notice);
    inputs.push(...uses.map((u) => ({ adapterId: u.loaded.id, input: u.input, perToken: u.perToken })));
  }
  return { file, inputs, notices };
}

/** The current strengths of live adapters, as feeds. */
export class AdapterScales {
  private readonly weights = new Map<string, number>();
  private readonly vectors = new Map<string, Float32Array>();
  private readonly promptOnly = new Set<string>();

  setWeight(adapterId: string, weight: number): void {
    this.weights.set(adapterId, weight);
  }

  /** Whether the adapter acts on the prompt's pass only (0 on a negative pass). */
  setPromptOnly(adapterId: string, promptOnly: boolean): void {
    if (promptOnly) this.promptOnly.add(adapterId);
    else this.promptOnly.delete(adapterId);
  }

  /** Per-token scales (multiplied by the weight); null returns to the weight for every token. */
  setTokenScales(adapterId: string, values: Float32Array | null): void {
    if (values) this.vectors.set(adapterId, values.slice());
    else this.vectors.delete(adapterId);
  }

  /** The feeds of a run of one prompt pass. */
  feeds(inputs: ScaleInput[], pass: PromptPass = 'prompt'): OrtFeeds {
    return this.batchFeeds(inputs, [pass])!;
  }

  /**
   * The feeds of a run whose batch rows are these passes: a per-token input gets one row per pass,
   * (rows, tokens, 1), or (rows, 1, 1) without a vector; a scalar input has no batch dimension, so
   * the passes share it only when its value is the same for all of them (else null).
   */
  batchFeeds(inputs: ScaleInput[], passes: readonly PromptPass[]): OrtFeeds | null {
    const feeds: OrtFeeds = {};
    for (const i of inputs) {
      const weights = passes.map((pass) => (pass === 'negative' && this.promptOnly.has(i.adapterId) ? 0 : (this.weights.get(i.adapterId) ?? 0)));
      if (!i.perToken) {
        if (weights.some((w) => w !== weights[0])) return null;
        feeds[i.input] = new ort.Tensor('float32', Float32Array.of(weights[0] ?? 0), [1]);
        continue;
      }
      const vector = this.vectors.get(i.adapterId) ?? Float32Array.of(1);
      const data = new Float32Array(weights.length * vector.length);
      weights.forEach((w, row) => {
        for (let t = 0; t < vector.length; t++) data[row * vector.length + t] = vector[t]! * w;
      });
      feeds[i.input] = new ort.Tensor('float32', data, [weights.length, vector.length, 1]);
    }
    return feeds;
  }
}
