import { describe, expect, it } from 'vitest';
import { countFalsePositives, falsePositiveFigures, type NamedBits } from './watermark-fpr.js';
import { thresholdK } from '../methods/watermark/binomial.js';
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
