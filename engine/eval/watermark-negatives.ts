/**
 * Unwatermarked images for the watermark evaluation's false-positive rate: random latents
 * (Philox seeds 900000 + i, N(0, 1) in the model's normalized latent space) decoded by the
 * model's clean VAE decoder to uint8 RGB. They depend only on the decoder, so they are cached in
 * the temp folder under the decoder's content hash (image i from seed 900000 + i, so a longer
 * run's cache serves a shorter one): a re-run after the watermark files changed only runs the
 * extractor.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EngineError } from '../errors.js';
import { readJsonObject } from '../files/json-object.js';
import { rgbFromPlanar, type RgbImage } from '../images/rgb.js';
import { numberAt } from '../models/layouts/json.js';
import { gaussianNoise } from '../noise/philox.js';
import { ort } from '../runtime/ort.js';
import { openSession } from '../runtime/session.js';
import { float32Of } from '../runtime/tensors.js';
import { writeFileAtomic } from '../stores/atomic.js';

/** Image i is decoded from the Philox seed NEGATIVE_LATENT_SEED + i. */
export const NEGATIVE_LATENT_SEED = 900_000;
const SIDE = 64;
const BATCH = 64;

/** The decoder's latent constants from vae_decoder/config.json, each checked. */
function decoderConfig(modelDir: string): { scaling_factor: number; shift_factor: number; latent_channels: number } {
  const file = path.join(modelDir, 'vae_decoder', 'config.json');
  const config = readJsonObject(file, 'VAE decoder config');
  const field = (key: string, positive: boolean): number => {
    const value = numberAt(config, key);
    if (value === undefined || (positive && value <= 0)) throw new EngineError('model_error', `${file}: "${key}" must be a ${positive ? 'positive ' : ''}number, got ${JSON.stringify(config[key])}`);
    return value;
  };
  const channels = field('latent_channels', true);
  if (!Number.isInteger(channels)) throw new EngineError('model_error', `${file}: "latent_channels" must be an integer, got ${channels}`);
  // SD's VAEs have no shift (absent or null): 0
  const shift = config.shift_factor === undefined || config.shift_factor === null ? 0 : field('shift_factor', false);
  return { scaling_factor: field('scaling_factor', true), shift_factor: shift, latent_channels: channels };
}

export async function* decodedRandomLatents(modelDir: string, count: number, progress: (line: string) => void = () => undefined): AsyncGenerator<RgbImage[]> {
  const decoderFile = path.join(modelDir, 'vae_decoder', 'model.onnx');
  const vae = decoderConfig(modelDir);
  if (!existsSync(decoderFile)) throw new EngineError('model_error', `${decoderFile}: the VAE decoder is missing`);
  const hash = createHash('sha256').update(readFileSync(decoderFile)).update(JSON.stringify(vae)).digest('hex').slice(0, 16);
  const cache = path.join(os.tmpdir(), `atelier-eval-wm-negatives-${hash}.rgb`);
  const size = SIDE * SIDE * 3;
  if (existsSync(cache)) {
    const bytes = new Uint8Array(readFileSync(cache));
    if (bytes.length >= count * size) {
      // image i always comes from seed 900000 + i, so a longer cache serves a shorter run
      progress(`negatives: ${count} decoded random latents from the cache ${cache}`);
      for (let start = 0; start < count; start += BATCH) {
        const n = Math.min(BATCH, count - start);
        yield Array.from({ length: n }, (_, j) => ({ width: SIDE, height: SIDE, data: bytes.slice((start + j) * size, (start + j + 1) * size) }));
      }
      return;
    }
  }
  const all = new Uint8Array(count * size);
  const decoder = await openSession(decoderFile, { provider: 'cpu' });
  try {
    if (!decoder.outputs.some((o) => o.name === 'sample')) {
      throw new EngineError('model_error', `${decoderFile}: expected an output named "sample" (diffusers' VAE decoder), found ${decoder.outputs.map((o) => o.name).join(', ')}`);
    }
    const c = vae.latent_channels;
    const per = c * (SIDE / 8) * (SIDE / 8);
    for (let start = 0; start < count; start += BATCH) {
      const n = Math.min(BATCH, count - start);
      const latents = new Float32Array(n * per);
      for (let j = 0; j < n; j++) {
        const z = gaussianNoise(NEGATIVE_LATENT_SEED + start + j, per);
        for (let v = 0; v < per; v++) latents[j * per + v] = z[v]! / vae.scaling_factor + vae.shift_factor;
      }
      const out = float32Of((await decoder.run({ latent_sample: new ort.Tensor('float32', latents, [n, c, SIDE / 8, SIDE / 8]) })).sample!);
      const images = Array.from({ length: n }, (_, j) => rgbFromPlanar(out.subarray(j * 3 * SIDE * SIDE, (j + 1) * 3 * SIDE * SIDE), SIDE, SIDE));
      images.forEach((image, j) => all.set(image.data, (start + j) * size));
      yield images;
      if ((start / BATCH) % 40 === 39) progress(`negatives: ${start + n}/${count} random latents decoded`);
    }
  } finally {
    await decoder.release();
  }
  await writeFileAtomic(cache, all);
}
