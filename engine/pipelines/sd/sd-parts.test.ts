/**
 * The Stable Diffusion pipeline's small parts: per-step noise seeds, latent previews with the
 * published factors, and SDXL's token-wise concatenation of two encodings.
 */
import { describe, expect, it } from 'vitest';
import { gaussianNoise } from '../../noise/philox.js';
import { SD15_LATENT_RGB, SDXL_LATENT_RGB } from '../latent-rgb.js';
import { stepNoise, stepSeed } from './noise.js';
import { previewFromLatents } from './preview.js';
import { concatFeatures } from './text.js';

describe('step noise', () => {
  it('derives distinct, stable 53-bit seeds per step from the job seed', () => {
    const seeds = Array.from({ length: 50 }, (_, i) => stepSeed(42, i));
    expect(new Set(seeds).size).toBe(50);
    expect(seeds.every((s) => Number.isSafeInteger(s) && s >= 0)).toBe(true);
    expect(stepSeed(42, 3)).toBe(seeds[3]);
    expect(stepSeed(43, 3)).not.toBe(seeds[3]);
    expect(stepNoise(42, 0, 8)).not.toEqual(gaussianNoise(42, 8));
    expect(stepNoise(42, 0, 8)).toEqual(stepNoise(42, 0, 8));
  });
});

describe('latent previews', () => {
  it('projects each latent pixel with the factors and bias, then maps [-1, 1] to bytes', () => {
    const [c, h, w] = [4, 3, 5];
    const x0 = gaussianNoise(3, c * h * w);
    for (const projection of [SD15_LATENT_RGB, SDXL_LATENT_RGB]) {
      const preview = previewFromLatents(x0, c, h, w, projection);
      expect([preview.width, preview.height]).toEqual([w, h]);
      for (const p of [0, 7, 14]) {
        for (let k = 0; k < 3; k++) {
          let v = projection.bias[k]!;
          for (let ch = 0; ch < c; ch++) v += x0[ch * h * w + p]! * projection.factors[ch]![k]!;
          expect(preview.data[p * 3 + k]).toBe(Math.round(Math.min(1, Math.max(0, (v + 1) / 2)) * 255));
        }
      }
    }
  });

  it('stretches the first three channels without a projection', () => {
    const preview = previewFromLatents(Float32Array.from([0, 1, 2, 3, 10, 20, 30, 40, -1, -1, -1, 1]), 3, 2, 2, null);
    expect(Array.from(preview.data)).toEqual([0, 0, 0, 85, 85, 0, 170, 170, 0, 255, 255, 255]);
  });
});

describe('SDXL text encodings', () => {
  it('concatenates the two encoders feature-wise, token by token', () => {
    const a = { hidden: Float32Array.from([1, 2, 3, 4]), width: 2 };
    const b = { hidden: Float32Array.from([10, 20, 30, 40, 50, 60]), width: 3 };
    expect(concatFeatures([a, b], 2)).toEqual({ hidden: Float32Array.from([1, 2, 10, 20, 30, 3, 4, 40, 50, 60]), features: 5 });
  });
});
