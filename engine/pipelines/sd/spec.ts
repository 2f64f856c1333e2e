/**
 * What the Stable Diffusion pipeline needs to know about a model folder, whatever its layout
 * (diffusers' ONNX conversion, Optimum SD / SDXL): where each graph is, the I/O names and how to
 * feed them (read from the graphs by the layout detector), the tokenizers, the scheduler config,
 * and the latent constants.
 */
import type { SchedulerJson } from '../../schedulers/registry.js';
import type { LatentRgbProjection } from '../latent-rgb.js';

export type SdFamily = 'sd15' | 'sd21' | 'sdxl' | 'sd-turbo' | 'sdxl-turbo';

export interface SdTextEncoderSpec {
  file: string;
  tokenizerDir: string;
  /** Token count fed to the encoder (CLIP: 77). */
  length: number;
  /** The output used as (part of) the UNet's encoder_hidden_states. */
  hidden: string;
  /** The pooled output fed as text_embeds (SDXL's second encoder), or null. */
  pooled: string | null;
}

export interface SdUnetSpec {
  file: string;
  /** The noise prediction output (out_sample). */
  output: string;
  /** The batch size the graph takes: null when dynamic (CFG then runs as one batch of two). */
  batch: number | null;
  /** The timestep as a rank-0 scalar, one value (shape [1], broadcast), or one per batch item. */
  timestep: 'scalar' | 'single' | 'per-sample';
  /** SDXL micro-conditioning length: 6 (sizes and crop), 5 (with aesthetic score), 0 for none. */
  timeIds: number;
}

export interface SdSpec {
  pipeline: 'sd';
  family: SdFamily;
  unet: SdUnetSpec;
  /** One encoder (SD 1.x/2.x) or two (SDXL: CLIP ViT-L then OpenCLIP bigG). */
  textEncoders: SdTextEncoderSpec[];
  vaeDecoder: { file: string; input: string; output: string };
  /** Absent: no image-to-image. `sampled`: the graph draws its latent (prepared to return the mean). */
  vaeEncoder: { file: string; input: string; output: string; sampled: boolean } | null;
  /** The folder's scheduler_config.json (diffusers keys). */
  scheduler: SchedulerJson;
  channels: number;
  vaeScaleFactor: number;
  /** Image sides must be multiples of this (VAE factor x the UNet's downsampling). */
  sizeMultiple: number;
  vae: { scalingFactor: number; shiftFactor: number };
  /** SDXL's force_zeros_for_empty_prompt: an empty negative prompt means zero embeddings. */
  zerosForEmptyNegative: boolean;
  preview: LatentRgbProjection | null;
}
