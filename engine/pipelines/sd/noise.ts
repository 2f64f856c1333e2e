/**
 * Noise for a denoising run, all from the job's seed: the initial latents are
 * `gaussianNoise(seed, n)` (engine/noise/philox.ts, shared with the zoo), and the fresh noise that
 * ancestral and LCM steps add comes from a seed derived per step by one Philox block keyed by the
 * job's seed (counter = step index, a fixed tag), so every step's noise is independent of the
 * others and of the initial noise, and a seed reproduces the whole run bit for bit.
 */
import { gaussianNoise, philox4x32, seedKey } from '../../noise/philox.js';

const STEP_TAG = 0x5354_4550; // "STEP"

/** The seed of step `index`'s noise: 53 bits of one Philox block. */
export function stepSeed(seed: number, index: number): number {
  const [w0, w1] = philox4x32([index >>> 0, STEP_TAG, 0, 0], seedKey(seed));
  return w0 + (w1 & 0x1f_ffff) * 4294967296;
}

/** Standard-normal noise for step `index` of the run seeded by `seed`. */
export function stepNoise(seed: number, index: number, count: number): Float32Array {
  return gaussianNoise(stepSeed(seed, index), count);
}
