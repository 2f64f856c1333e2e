import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../paths.js';
import { gaussianNoise, philox4x32, seedKey } from './philox.js';

const hex = (words: number[]) => words.map((w) => w.toString(16).padStart(8, '0'));

describe('philox4x32-10', () => {
  // Known-answer vectors from Random123's kat_vectors (philox4x32 10 rounds).
  it('matches the published known-answer vectors', () => {
    expect(hex(philox4x32([0, 0, 0, 0], [0, 0]))).toEqual(['6627e8d5', 'e169c58d', 'bc57ac4c', '9b00dbd8']);
    expect(hex(philox4x32([0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff]))).toEqual([
      '408f276d',
      '41c83b0e',
      'a20bc7c6',
      '6d5451fd',
    ]);
    expect(hex(philox4x32([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0]))).toEqual([
      'd16cfe09',
      '94fdcceb',
      '5001e420',
      '24126ea1',
    ]);
  });

  it('splits seeds into two 32-bit key words', () => {
    expect(seedKey(5)).toEqual([5, 0]);
    expect(seedKey(2 ** 32 + 7)).toEqual([7, 1]);
    expect(() => seedKey(-1)).toThrow(/seed/);
    expect(() => seedKey(1.5)).toThrow(/seed/);
  });

  it('draws reproducible standard-normal noise', () => {
    const a = gaussianNoise(42, 100_001);
    expect(gaussianNoise(42, 100_001)).toEqual(a);
    expect(gaussianNoise(43, 8)).not.toEqual(a.subarray(0, 8));
    // a prefix of a longer draw is the shorter draw
    expect(gaussianNoise(42, 7)).toEqual(a.subarray(0, 7));
    let mean = 0;
    let sq = 0;
    for (const v of a) {
      mean += v;
      sq += v * v;
    }
    mean /= a.length;
    const variance = sq / a.length - mean * mean;
    expect(Math.abs(mean)).toBeLessThan(0.02);
    expect(Math.abs(variance - 1)).toBeLessThan(0.02);
  });
});

describe('noise shared with the zoo builder', () => {
  const file = path.join(packageRoot(), 'models', 'tiny', 'eval', 'noise_vectors.json');
  it.skipIf(!existsSync(file))('draws bit-identical latents to the Python builder (models/tiny/eval/noise_vectors.json)', () => {
    const vectors = JSON.parse(readFileSync(file, 'utf8')) as {
      philox4x32_10: Array<{ counter: string[]; key: string[]; output: string[] }>;
      noise: Array<{ seed: number; shape: number[]; first: number[]; sha256_f32le: string }>;
    };
    for (const v of vectors.philox4x32_10) {
      const words = philox4x32(v.counter.map((h) => parseInt(h, 16)) as [number, number, number, number], v.key.map((h) => parseInt(h, 16)) as [number, number]);
      expect(hex(words)).toEqual(v.output);
    }
    expect(vectors.noise.length).toBeGreaterThan(0);
    for (const v of vectors.noise) {
      const noise = gaussianNoise(v.seed, v.shape.reduce((a, b) => a * b, 1));
      expect(Array.from(noise.subarray(0, v.first.length))).toEqual(v.first.map((x) => Math.fround(x)));
      const digest = createHash('sha256').update(new Uint8Array(noise.buffer)).digest('hex');
      expect(digest).toBe(v.sha256_f32le);
    }
  });
});
