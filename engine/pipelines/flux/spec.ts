/**
 * What the FLUX pipeline needs to know about a model folder, whatever its layout (Optimum, Black
 * Forest Labs' export, the zoo): where each graph is and its I/O names (read from the graphs by
 * the layout detector), the tokenizers, the scheduler, the latent constants and text lengths.
 * Layout detectors (engine/models/layouts) produce it.
 */
import type { FlowMatchConfig } from '../../schedulers/flow-match-euler.js';
import type { LatentRgbProjection } from './preview.js';

/** The graphs' input and output names, which differ between layouts. */
export interface FluxGraphIo {
  /** CLIP's pooled output: pooler_output (Optimum), pooled_embeddings (BFL). */
  clipPooled: string;
  /** T5's sequence output: last_hidden_state (Optimum), text_embeddings (BFL). */
  t5Hidden: string;
  /** The transformer's velocity output: out_hidden_states (Optimum), latent (BFL). */
  transformerOutput: string;
  /** img_ids / txt_ids with a leading batch dim (older exports: (1, L, 3)); current ones have none. */
  idsBatched: boolean;
  vaeDecoder: { input: string; output: string };
  /** `sampled`: the encoder draws its latent (BFL, old exports) and is prepared to return the mean; else mean then log-variance. */
  vaeEncoder: { input: string; output: string; sampled: boolean } | null;
}

/** The I/O names of the Optimum layout (and the zoo's), the defaults for specs that omit `io`. */
export const OPTIMUM_FLUX_IO: FluxGraphIo = {
  clipPooled: 'pooler_output',
  t5Hidden: 'last_hidden_state',
  transformerOutput: 'out_hidden_states',
  idsBatched: false,
  vaeDecoder: { input: 'latent_sample', output: 'sample' },
  vaeEncoder: { input: 'sample', output: 'latent_parameters', sampled: false },
};

export interface FluxSpec {
  pipeline: 'flux';
  /** Kontext models take a context image (instruction edits). */
  kontext: boolean;
  files: { transformer: string; clip: string; t5: string; vaeEncoder: string | null; vaeDecoder: string };
  /** Graph I/O names; OPTIMUM_FLUX_IO when absent. */
  io?: FluxGraphIo;
  tokenizerDirs: { clip: string; t5: string };
  scheduler: FlowMatchConfig;
  channels: number;
  vaeScaleFactor: number;
  vae: { scalingFactor: number; shiftFactor: number };
  clipLength: number;
  t5Length: number;
  /** Whether the transformer takes an embedded guidance scalar (dev, Kontext) or not (schnell). */
  guidanceEmbedded: boolean;
  /**
   * Whether the guidance value is a true classifier-free guidance scale (diffusers'
   * `true_cfg_scale`): each step also runs the negative prompt (empty by default) and takes
   * v_neg + g (v - v_neg); the embedded guidance input, if any, then gets 1. Guidance-distilled
   * FLUX (dev, Kontext) is false: its guidance is the embedded scalar, one pass per step. The zoo's
   * tiny model says true in its manifest (`guidance_mode`), as it was trained with prompt dropout and
   * ignores its embedded input.
   */
  trueCfg: boolean;
  preview: LatentRgbProjection | null;
}
