/**
 * The verification test's statistics and the bit encoding: exact binomial tails (counts checked
 * against Python's math.comb), the thresholds DESIGN.md states for n = 48 (K >= 41 at 1e-6,
 * K >= 36 at 1e-3), the Bonferroni split over several keys, and hex <-> bits (MSB first).
 */
import { describe, expect, it } from 'vitest';
import { binomialTail, testLevel, thresholdK, upperTailCount } from './binomial.js';
import { bitsFromHex, bitsFromLogits, hexFromBits, matchingBits, randomKeyHex } from './bits.js';

describe('binomial tail P[Bin(n, 1/2) >= K]', () => {
  it('counts exactly (sum of C(48, k), from math.comb)', () => {
    expect(upperTailCount(48, 41)).toBe(87825941n);
    expect(upperTailCount(48, 36)).toBe(100946732307n);
    expect(upperTailCount(48, 35)).toBe(293874981603n);
    expect(upperTailCount(48, 24)).toBe(156861290196878n);
    expect(upperTailCount(48, 0)).toBe(2n ** 48n);
    expect(upperTailCount(10, 8)).toBe(56n);
  });

  it('gives the p-values as doubles', () => {
    expect(binomialTail(48, 41)).toBeCloseTo(3.1202042194422575e-7, 20);
    expect(binomialTail(48, 41) / 3.1202042194422575e-7).toBeCloseTo(1, 14);
    expect(binomialTail(48, 40) / 1.652633354609634e-6).toBeCloseTo(1, 14);
    expect(binomialTail(48, 36) / 0.00035863483669729135).toBeCloseTo(1, 14);
    expect(binomialTail(48, 48)).toBe(2 ** -48);
    expect(binomialTail(48, 0)).toBe(1);
    expect(binomialTail(48, -3)).toBe(1);
    expect(binomialTail(48, 49)).toBe(0);
    expect(binomialTail(10, 8)).toBe(56 / 1024);
    // large n stays finite and exact in its leading digits: P[Bin(2000, 1/2) >= 2000] = 2^-2000 underflows to 0
    expect(binomialTail(2000, 1000)).toBeGreaterThan(0.5);
    expect(binomialTail(2000, 1000)).toBeLessThan(0.51);
  });

  it('puts the thresholds for 48 bits where DESIGN.md says', () => {
    expect(thresholdK(48, 1e-6)).toBe(41);
    expect(binomialTail(48, 41)).toBeLessThanOrEqual(1e-6);
    expect(binomialTail(48, 40)).toBeGreaterThan(1e-6);
    expect(thresholdK(48, 1e-3)).toBe(36);
    expect(binomialTail(48, 36)).toBeLessThanOrEqual(1e-3);
    expect(binomialTail(48, 35)).toBeGreaterThan(1e-3);
    expect(thresholdK(4, 1e-3)).toBe(5); // 4 bits can never reach 1e-3: no K suffices
  });

  it('splits the rate over several keys (Bonferroni)', () => {
    const one = testLevel(48, 1e-6, 1);
    expect(one).toEqual({ fpr: 1e-6, keys: 1, perKey: 1e-6, thresholdK: 41, n: 48 });
    const five = testLevel(48, 1e-6, 5);
    expect(five.perKey).toBeCloseTo(2e-7, 20);
    expect(five.thresholdK).toBe(42); // P[>= 41] = 3.1e-7 > 2e-7
    expect(binomialTail(48, 42)).toBeLessThanOrEqual(2e-7);
  });

  it('refuses nonsense', () => {
    expect(() => thresholdK(48, 0)).toThrow(/between 0 and 1/);
    expect(() => thresholdK(48, 1)).toThrow(/between 0 and 1/);
    expect(() => thresholdK(0, 0.1)).toThrow(/number of bits/);
    expect(() => binomialTail(48, 1.5)).toThrow(/integer/);
    expect(() => testLevel(48, 1e-6, 0)).toThrow(/number of keys/);
  });
});

describe('key bits', () => {
  it('reads hex most significant bit first, and back', () => {
    const bits = bitsFromHex('a5c3961e0f7b');
    expect(Array.from(bits.subarray(0, 8))).toEqual([1, 0, 1, 0, 0, 1, 0, 1]);
    expect(Array.from(bits.subarray(44))).toEqual([1, 0, 1, 1]);
    expect(hexFromBits(bits)).toBe('a5c3961e0f7b');
    expect(hexFromBits(bitsFromHex('A5C3961E0F7B'))).toBe('a5c3961e0f7b');
  });

  it('refuses a wrong length or non-hex digits', () => {
    expect(() => bitsFromHex('a5c3')).toThrow(/12 hex digits/);
    expect(() => bitsFromHex('a5c3961e0f7g')).toThrow(/12 hex digits/);
  });

  it('draws random keys of 12 hex digits', () => {
    const keys = new Set(Array.from({ length: 50 }, () => randomKeyHex()));
    expect(keys.size).toBe(50);
    for (const k of keys) expect(k).toMatch(/^[0-9a-f]{12}$/);
  });

  it('decides bits from logits and counts matches', () => {
    expect(Array.from(bitsFromLogits([0.5, -0.1, 0, 3]))).toEqual([1, 0, 0, 1]);
    const a = bitsFromHex('ffffffffffff');
    const b = bitsFromHex('fffffffffff0');
    expect(matchingBits(a, b)).toBe(44);
    expect(() => matchingBits(a, b.subarray(4))).toThrow(/cannot compare/);
  });
});
