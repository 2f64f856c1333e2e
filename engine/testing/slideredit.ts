/**
 * Test material for SliderEdit: the FLUX Optimum twin as a Kontext model folder (the twin is a
 * FluxPipeline; its model_index.json is switched to FluxKontextPipeline), an STLoRA of random
 * factors on the six text-stream linears of every double block in SliderEdit's key format, and a
 * small source image.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { encodePng } from '../images/codec.js';
import { rgbImage, type RgbImage } from '../images/rgb.js';
import { loraFile, randomLora, sitesOf } from './adapters.js';
import { copyTwin } from './twins.js';

export const STLORA_LINEARS = ['attn.add_q_proj', 'attn.add_k_proj', 'attn.add_v_proj', 'attn.to_add_out', 'ff_context.net.0.proj', 'ff_context.net.2'];

/**
 * A temp copy of the FLUX Optimum twin that loads as a Kontext model (generate + edit). With
 * `manifest`, it also gets a zoo manifest (atelier.json) that fixes its size at 64 x 64 and its
 * defaults at 2 steps, so engine-level jobs stay small.
 */
export function kontextTwin(options: { manifest?: boolean } = {}): string {
  const dir = copyTwin('flux-optimum', { as: 'flux-kontext-twin' });
  const index = path.join(dir, 'model_index.json');
  const json = JSON.parse(readFileSync(index, 'utf8')) as Record<string, unknown>;
  writeFileSync(index, JSON.stringify({ ...json, _class_name: 'FluxKontextPipeline' }, null, 2));
  if (options.manifest) {
    const manifest = {
      format: 'atelier-model/1',
      name: 'kontext-twin',
      family: 'flux-kontext',
      layout: 'optimum-flux',
      image_size: [64, 64],
      latent_channels: 16,
      vae_scale_factor: 8,
      vae: { scaling_factor: 0.3611, shift_factor: 0.1159 },
      text: { clip_max_length: 77, t5_max_length: 512 },
      defaults: { steps: 2, guidance: 3.5 },
    };
    writeFileSync(path.join(dir, 'atelier.json'), JSON.stringify(manifest, null, 2));
  }
  return dir;
}

/** Writes an STLoRA (rank 4, SliderEdit's bare module names) for a transformer graph; returns the file. */
export function writeRandomStlora(transformer: string, file: string, seed = 7): string {
  const blocks = new Set([...sitesOf(transformer).keys()].filter((m) => m.startsWith('transformer_blocks.')).map((m) => m.split('.')[1]));
  const modules = [...blocks].flatMap((b) => STLORA_LINEARS.map((l) => `transformer_blocks.${b}.${l}`));
  writeFileSync(file, loraFile(randomLora(transformer, modules, { rank: 4, alpha: 4, seed, scale: 0.5 }), 'slideredit'));
  return file;
}

/** A 64 x 64 source image: a colored square on a plain background. */
export function sourceImage(): RgbImage {
  const image = rgbImage(64, 64);
  for (let y = 0; y < 64; y++) {
    for (let x = 0; x < 64; x++) {
      const inside = x >= 20 && x < 44 && y >= 16 && y < 40;
      image.data.set(inside ? [220, 40, 40] : [235, 230, 210], (y * 64 + x) * 3);
    }
  }
  return image;
}

export async function sourcePng(): Promise<Uint8Array> {
  return encodePng(sourceImage());
}
