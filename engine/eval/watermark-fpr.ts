/**
 * The watermark evaluation's false-positive side: every unwatermarked image's extracted bits
 * against every evaluation key, counted at the 1e-3 and 1e-6 thresholds, with what it takes to
 * trace a pass and to check the test's assumption.
 *
 * The thresholds are exact only if, on an unwatermarked image, each extracted bit matches a key's
 * bit independently with probability 1/2, so the matching count K is Bin(48, 1/2). Two figures
 * test that on the negatives themselves:
 * - `negatives_matching_bits_sd` against the binomial's sqrt(48)/2 = 3.46: bits that agree with
 *   one another across images (a shared bias, correlated read-outs) widen K's spread, and the
 *   tail with it, long before they move the mean;
 * - `negatives_bit_bias_max`: the largest |share of negatives reading 1 - 1/2| over the 48 bit
 *   positions (under independence about 0.5 / sqrt(n) per bit; 0.005 at 10,000 negatives). A
 *   biased bit makes keys that agree with the bias match more often than 1/2.
 * Every comparison at or over the 1e-6 threshold is listed by name (which image, which key, K),
 * so a rare pass can be looked at instead of only counted.
 */
import { matchingBits, type Bits } from '../methods/watermark/bits.js';
import type { Figures } from '../bench/report.js';

export interface NamedBits {
  name: string;
  bits: Bits;
}

export interface FalsePositiveCounts {
  comparisons: number;
  passesAt1e3: number;
  passesAt1e6: number;
  /** "NEGATIVE vs KEY: K of N bits", for every comparison at or over the 1e-6 threshold. */
  passesAt1e6Named: string[];
  meanMatchingBits: number;
  sdMatchingBits: number;
  maxMatchingBits: number;
  bitBiasMax: number;
}

export function countFalsePositives(negatives: readonly NamedBits[], keys: readonly NamedBits[], k3: number, k6: number): FalsePositiveCounts {
  const nBits = keys[0]?.bits.length ?? negatives[0]?.bits.length ?? 0;
  for (const b of [...negatives, ...keys]) {
    if (b.bits.length !== nBits) throw new Error(`${b.name}: ${b.bits.length} bits where the others have ${nBits}`);
  }
  let passesAt1e3 = 0;
  let passesAt1e6 = 0;
  const passesAt1e6Named: string[] = [];
  let sum = 0;
  let sumSquares = 0;
  let maxMatchingBits = 0;
  for (const negative of negatives) {
    for (const key of keys) {
      const k = matchingBits(negative.bits, key.bits);
      sum += k;
      sumSquares += k * k;
      maxMatchingBits = Math.max(maxMatchingBits, k);
      if (k >= k3) passesAt1e3++;
      if (k >= k6) {
        passesAt1e6++;
        passesAt1e6Named.push(`${negative.name} vs ${key.name}: ${k} of ${nBits} bits`);
      }
    }
  }
  const comparisons = negatives.length * keys.length;
  const mean = comparisons === 0 ? NaN : sum / comparisons;
  const variance = comparisons < 2 ? NaN : (sumSquares - comparisons * mean * mean) / (comparisons - 1);
  let bitBiasMax = 0;
  for (let b = 0; b < nBits && negatives.length > 0; b++) {
    let ones = 0;
    for (const negative of negatives) ones += negative.bits[b]!;
    bitBiasMax = Math.max(bitBiasMax, Math.abs(ones / negatives.length - 0.5));
  }
  return { comparisons, passesAt1e3, passesAt1e6, passesAt1e6Named, meanMatchingBits: mean, sdMatchingBits: Math.sqrt(variance), maxMatchingBits, bitBiasMax };
}

/** The counts as the evaluation's figures (the 1e-3 bound and its quantile are the caller's). */
export function falsePositiveFigures(c: FalsePositiveCounts, nBits: number): Figures {
  return {
    'fpr_at_1e-3': c.passesAt1e3 / c.comparisons,
    'false_positives_at_1e-3': c.passesAt1e3,
    'fpr_at_1e-6': c.passesAt1e6 / c.comparisons,
    'false_positives_at_1e-6': c.passesAt1e6,
    'false_positives_at_1e-6_named': c.passesAt1e6Named.length === 0 ? 'none' : c.passesAt1e6Named.join('; '),
    n_negative_comparisons: c.comparisons,
    negatives_mean_matching_bits: c.meanMatchingBits,
    negatives_matching_bits_sd: c.sdMatchingBits,
    negatives_matching_bits_sd_if_independent: Math.sqrt(nBits) / 2,
    negatives_max_matching_bits: c.maxMatchingBits,
    negatives_bit_bias_max: c.bitBiasMax,
  };
}
