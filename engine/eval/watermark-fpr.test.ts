import { describe, expect, it } from 'vitest';
import { binomialQuantile, chanceBitBiasMax, countFalsePositives, falsePositiveFigures, randomKeyRates, type NamedBits } from './watermark-fpr.js';
import { binomialTail, thresholdK } from '../methods/watermark/binomial.js';
import { seededRandom } from '../noise/seeded-random.js';

const bits = (pattern: string): Uint8Array => Uint8Array.from(pattern, (c) => (c === '1' ? 1 : 0));

describe('countFalsePositives', () => {
  const k3 = thresholdK(48, 1e-3);
  const k6 = thresholdK(48, 1e-6);
  const key: NamedBits = { name: 'key A', bits: bits('10'.repeat(24)) };

  it('names every comparison at or over the 1e-6 threshold, and counts the 1e-3 ones', () => {
    const near = key.bits.slice();
    for (let b = 0; b < 48 - k6; b++) near[b] = 1 - near[b]!; // exactly k6 bits match
    const mid = key.bits.slice();
    for (let b = 0; b < 48 - k3; b++) mid[b] = 1 - mid[b]!; // exactly k3 bits match
    const counts = countFalsePositives(
      [
        { name: 'image near', bits: near },
        { name: 'image mid', bits: mid },
        { name: 'image far', bits: key.bits.map((v) => 1 - v) },
      ],
      [key],
      k3,
      k6,
    );
    expect(counts.comparisons).toBe(3);
    expect(counts.passesAt1e6).toBe(1);
    expect(counts.passesAt1e3).toBe(2);
    expect(counts.passesAt1e6Named).toEqual([`image near vs key A: ${k6} of 48 bits`]);
    expect(counts.maxMatchingBits).toBe(k6);
    expect(falsePositiveFigures(counts, 48)['false_positives_at_1e-6_named']).toBe(`image near vs key A: ${k6} of 48 bits`);
  });

  it('measures the spread of K and the bias of each bit against independence', () => {
    // independent fair bits: sd near sqrt(48)/2 and no bit far from 1/2
    const uniform = seededRandom(12345);
    const random = () => (uniform() < 0.5 ? 1 : 0);
    const fair = Array.from({ length: 4000 }, (_, i) => ({ name: `fair ${i}`, bits: Uint8Array.from({ length: 48 }, random) }));
    const fairCounts = countFalsePositives(fair, [key], k3, k6);
    expect(fairCounts.sdMatchingBits).toBeGreaterThan(3.2);
    expect(fairCounts.sdMatchingBits).toBeLessThan(3.75);
    expect(fairCounts.bitBiasMax).toBeLessThan(0.04);
    // every image reads the same bits: K is the same for all, its spread 0, every bit fully biased
    const stuck = Array.from({ length: 100 }, (_, i) => ({ name: `stuck ${i}`, bits: bits('1'.repeat(48)) }));
    const stuckCounts = countFalsePositives(stuck, [key], k3, k6);
    expect(stuckCounts.sdMatchingBits).toBe(0);
    expect(stuckCounts.bitBiasMax).toBe(0.5);
    expect(stuckCounts.meanMatchingBits).toBe(24);
  });

  it('refuses bit strings of different lengths, naming the one that differs', () => {
    expect(() => countFalsePositives([{ name: 'short image', bits: bits('101') }], [key], k3, k6)).toThrow(/short image: 3 bits/);
  });
});

describe('randomKeyRates', () => {
  // a loose threshold, so the per-key rates are large enough to compare in a test
  const k = 28;
  const tail = binomialTail(48, k);
  const uniform = seededRandom(777);
  const coin = () => (uniform() < 0.5 ? 1 : 0);

  it('keeps the mean rate over random keys at the binomial tail, biased bits or not, while biased bits spread the per-key rates', () => {
    const fair = Array.from({ length: 2000 }, (_, i) => ({ name: `fair ${i}`, bits: Uint8Array.from({ length: 48 }, coin) }));
    const fairRates = randomKeyRates(fair, 400, k, seededRandom(1));
    expect(fairRates.keys).toBe(400);
    expect(Math.abs(fairRates.mean - tail)).toBeLessThan(0.01);
    expect(fairRates.max).toBeLessThan(tail + 0.06);
    expect(fairRates.p99).toBeGreaterThan(fairRates.mean);
    expect(fairRates.p99).toBeLessThanOrEqual(fairRates.max);
    // every image reads the same bits: a key passes on all of them or on none
    const stuck = Array.from({ length: 200 }, (_, i) => ({ name: `stuck ${i}`, bits: fair[0]!.bits }));
    const stuckRates = randomKeyRates(stuck, 2000, k, seededRandom(2));
    expect(Math.abs(stuckRates.mean - tail)).toBeLessThan(0.03);
    expect(stuckRates.max).toBe(1);
    expect(stuckRates.p99).toBe(1);
    expect(stuckRates.maxKey).toMatch(/^[0-9a-f]{12}$/);
  });

  it('refuses to measure without negatives or keys', () => {
    expect(() => randomKeyRates([], 10, k, seededRandom(3))).toThrow(/need negatives and keys, got 0 and 10/);
  });
});

describe('binomialQuantile', () => {
  it('is the smallest count whose cumulative probability reaches q', () => {
    expect(binomialQuantile(10, 0.5, 0.5)).toBe(5);
    expect(binomialQuantile(10, 0.5, 0.999)).toBe(9); // P[<= 9] = 1 - 1/1024
    expect(binomialQuantile(48, 0.5, 0.001)).toBe(13);
    expect(binomialQuantile(1000, 0.001, 0.5)).toBe(1);
  });
});

describe('chanceBitBiasMax', () => {
  it('is the median largest bias of fair bits: about 2.45 standard errors for 48 bits, shrinking as 1 / sqrt(n)', () => {
    for (const n of [100, 600, 9300]) {
      const level = chanceBitBiasMax(n, 48);
      expect(level / (0.5 / Math.sqrt(n))).toBeGreaterThan(2.2);
      expect(level / (0.5 / Math.sqrt(n))).toBeLessThan(2.7);
    }
    expect(chanceBitBiasMax(1, 48)).toBe(0.5); // one image: every bit reads fully one way
    // agrees with a simulation of fair bits
    const uniform = seededRandom(99);
    const maxima: number[] = [];
    for (let run = 0; run < 200; run++) {
      let max = 0;
      for (let b = 0; b < 48; b++) {
        let ones = 0;
        for (let i = 0; i < 100; i++) ones += uniform() < 0.5 ? 1 : 0;
        max = Math.max(max, Math.abs(ones / 100 - 0.5));
      }
      maxima.push(max);
    }
    maxima.sort((a, b) => a - b);
    expect(Math.abs(maxima[100]! - chanceBitBiasMax(100, 48))).toBeLessThanOrEqual(0.02);
    expect(() => chanceBitBiasMax(0, 48)).toThrow(/n >= 1 images/);
  });
});
