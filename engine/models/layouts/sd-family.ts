/**
 * Which Stable Diffusion family a folder holds and the defaults that go with it.
 *
 * Family, from the folder's own files: SDXL when there is a second text encoder (and the UNet takes
 * text_embeds / time_ids); Turbo when the folder's or model_index's name says so, or (SDXL) when the
 * scheduler is Euler ancestral with trailing spacing, SDXL-Turbo's published config; SD 2.x when the
 * scheduler predicts v (SD 2.1 768-v) or the text width is OpenCLIP ViT-H's 1024; else SD 1.x.
 *
 * Defaults (sources):
 * - size: diffusers' own default, unet/config.json `sample_size` x the VAE factor (SD 1.5 64 -> 512,
 *   SD 2.1 96 -> 768, SDXL 128 -> 1024); without that file, SD 1.5 512, SD 2.x 768 for v-prediction
 *   models (stabilityai/stable-diffusion-2-1 is the 768-v model) and 512 otherwise (2-1-base),
 *   SDXL 1024. Turbo models 512 whatever the config says (SD-Turbo and SDXL-Turbo model cards:
 *   "preferably 512x512").
 * - steps / guidance: SD 1.x / 2.x 25 steps, CFG 7.5 (7.5 is diffusers' StableDiffusionPipeline
 *   default; 25 steps is this project's choice between A1111's 20 and diffusers' 50); SDXL 30
 *   steps, CFG 5 (diffusers' StableDiffusionXLPipeline default guidance 5.0); Turbo 1 step, guidance
 *   0 (model cards: 1-4 steps, `guidance_scale=0.0`, no negative prompt).
 */
import type { PredictionType } from '../../schedulers/types.js';
import type { SdFamily } from '../../pipelines/sd/spec.js';
import { SD15_LATENT_RGB, SDXL_LATENT_RGB, type LatentRgbProjection } from '../../pipelines/latent-rgb.js';

export interface FamilyEvidence {
  xl: boolean;
  /** Folder base name and model_index `_name_or_path`, lower-cased. */
  names: string;
  prediction: PredictionType;
  schedulerClass: string | null;
  spacing: string | null;
  /** The UNet's cross-attention width when known (768 SD 1.x, 1024 SD 2.x). */
  textWidth: number | null;
}

export function sdFamily(e: FamilyEvidence): { family: SdFamily; why: string } {
  const namedTurbo = /turbo/.test(e.names);
  if (e.xl) {
    if (namedTurbo) return { family: 'sdxl-turbo', why: 'a second text encoder; "turbo" in its name' };
    if (e.schedulerClass === 'EulerAncestralDiscreteScheduler' && e.spacing === 'trailing') {
      return { family: 'sdxl-turbo', why: "a second text encoder; SDXL-Turbo's scheduler (Euler ancestral, trailing spacing)" };
    }
    return { family: 'sdxl', why: 'a second text encoder and text_embeds / time_ids UNet inputs' };
  }
  if (namedTurbo) return { family: 'sd-turbo', why: '"turbo" in its name' };
  if (e.prediction === 'v_prediction') return { family: 'sd21', why: 'a v-prediction scheduler config' };
  if (e.textWidth === 1024) return { family: 'sd21', why: 'text width 1024 (OpenCLIP ViT-H)' };
  return { family: 'sd15', why: e.textWidth === 768 ? 'text width 768 (CLIP ViT-L)' : 'one text encoder, epsilon prediction' };
}

export interface SdDefaults {
  steps: number;
  guidance: number;
  width: number;
  height: number;
}

/** `sampleSize`: unet/config.json sample_size (latent pixels) when the folder has it. */
export function sdDefaults(family: SdFamily, prediction: PredictionType, sampleSize: number | null, vaeScaleFactor: number): SdDefaults {
  const fromConfig = sampleSize !== null ? sampleSize * vaeScaleFactor : null;
  switch (family) {
    case 'sd-turbo':
    case 'sdxl-turbo':
      return { steps: 1, guidance: 0, width: 512, height: 512 };
    case 'sdxl': {
      const side = fromConfig ?? 1024;
      return { steps: 30, guidance: 5, width: side, height: side };
    }
    case 'sd21': {
      const side = fromConfig ?? (prediction === 'v_prediction' ? 768 : 512);
      return { steps: 25, guidance: 7.5, width: side, height: side };
    }
    case 'sd15': {
      const side = fromConfig ?? 512;
      return { steps: 25, guidance: 7.5, width: side, height: side };
    }
  }
}

/** The published preview projection for the family's VAE (see pipelines/latent-rgb.ts). */
export function sdPreview(family: SdFamily, channels: number): LatentRgbProjection | null {
  if (channels !== 4) return null;
  return family === 'sdxl' || family === 'sdxl-turbo' ? SDXL_LATENT_RGB : SD15_LATENT_RGB;
}

/** The VAE scaling factor each family was trained with, for folders without a VAE config. */
export function familyVaeScaling(family: SdFamily): number {
  return family === 'sdxl' || family === 'sdxl-turbo' ? 0.13025 : 0.18215;
}
