/**
 * The normalized adapter model every key format is read into (formats/*), and that mapping,
 * baking and live branches work from. One adapter = targets, each a module of one component
 * (the denoiser, a text encoder, the VAE) and the tensors its weight delta is made of.
 *
 * Module names: `dotted` is a diffusers/torch module path (`transformer_blocks.0.attn.to_q`);
 * `flat` is kohya's flattening of it with underscores (`transformer_blocks_0_attn_to_q`), which
 * cannot be turned back into a path without the model (is `to_q` one name or two?), so it is
 * resolved against the module paths the graph actually has (mapping.ts).
 *
 * Deltas stay as references to tensors in the file until they are needed (`loadDelta`): a
 * multi-GB LoRA is never read whole, and inspecting one reads only its header. Fused qkv weights
 * of Black Forest Labs' FLUX names are split by output rows (`rows`); low-rank factors stay
 * low-rank after the split (the up matrix is sliced, the down matrix shared), so a split target
 * can still be a live branch. LoHa and LoKr are materialized exactly (dense deltas).
 */

export type Component = 'denoiser' | 'text_encoder' | 'text_encoder_2' | 'vae';
export const COMPONENTS: readonly Component[] = ['denoiser', 'text_encoder', 'text_encoder_2', 'vae'];

export type FormatName = 'kohya' | 'peft' | 'bfl' | 'slideredit' | 'lycoris';

/** How a target's weight delta is made from the file's tensors (tensor names in the file). */
export type DeltaSource =
  | { kind: 'lowrank'; down: string; up: string; alpha: number | null }
  | { kind: 'loha'; w1a: string; w1b: string; w2a: string; w2b: string; alpha: number | null }
  | { kind: 'lokr'; w1: string | [string, string]; w2: string | [string, string]; alpha: number | null };

export interface RowSlice {
  /** Which part of the fused output this target takes, and the parts' relative sizes (e.g. q, k, v = [1, 1, 1]). */
  part: number;
  parts: number[];
}

export interface AdapterTarget {
  component: Component;
  module: string;
  naming: 'dotted' | 'flat';
  /** The file's keys this target is made of (for the coverage report). */
  keys: string[];
  source: DeltaSource;
  rows: RowSlice | null;
  /** Swap the two halves of the output rows (BFL's final-layer modulation is shift, scale; diffusers' is scale, shift). */
  swapHalves: boolean;
  /** The name the file gives the module (before BFL translation), for reports. */
  sourceModule: string;
  /** The delta's size from the file's header (after the row slice): out x inFlat, and a conv kernel when the factors carry one. */
  out: number;
  inFlat: number;
  kernel: number[] | null;
}

export interface UnusedKey {
  key: string;
  reason: string;
}

export interface Adapter {
  file: string;
  format: FormatName;
  /** Kinds of deltas found ('lora', 'loha', 'lokr'). */
  kinds: string[];
  targets: AdapterTarget[];
  /** Keys that belong to no target, and why (unsupported kinds, unknown names). */
  unused: UnusedKey[];
  metadata: Record<string, string>;
  ranks: number[];
}

/**
 * A target's delta, loaded: low-rank factors `up` (out x r) and `down` (r x inFlat), or a dense
 * (out x inFlat) delta, with the per-layer scale (alpha / rank) not yet applied. For convolutions
 * inFlat = in_channels x kh x kw (the down factor is a kh x kw kernel, the up factor 1 x 1).
 */
export type Delta =
  | { kind: 'lowrank'; out: number; inFlat: number; rank: number; up: Float32Array; down: Float32Array; scale: number; kernel: number[] | null }
  | { kind: 'dense'; out: number; inFlat: number; delta: Float32Array; scale: number; kernel: number[] | null };
