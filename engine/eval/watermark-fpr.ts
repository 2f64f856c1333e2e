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
 *
 * What the verdict's false-positive rate rests on is the key, not the extractor: for any fixed
 * image and a key whose bits are uniform and independent of it, K is exactly Bin(48, 1/2), biased
 * bits or not. A biased extractor makes the rate differ from key to key (a key that agrees with the
 * biased bits passes more often), so counts over a handful of eval keys are correlated through
 * their keys and wander more than a binomial quantile allows. `randomKeyRates` measures both sides
 * over many random keys: the mean per-key rate (the guarantee: at the bound for any extractor, so
 * it checks the keys and the counting) and the spread, up to the worst key's rate (what one
 * unlucky key sees, which the extractor's bias decides), next to what independence alone would
 * give over as many keys.
 */
import { hexFromBits, matchingBits, type Bits } from '../methods/watermark/bits.js';
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
  return { comparisons, passesAt1e3, passesAt1e6, passesAt1e6Named, meanMatchingBits: mean, sdMatchingBits: Math.sqrt(variance), maxMatchingBits, bitBiasMax: bitBiasMax(negatives) };
}

/** The q-quantile of Bin(n, p): the smallest c with P[Bin(n, p) <= c] >= q (summed from log pmfs). */
export function binomialQuantile(n: number, p: number, q: number): number {
  let logPmf = n * Math.log1p(-p); // k = 0
  let cdf = Math.exp(logPmf);
  for (let k = 0; k < n; k++) {
    if (cdf >= q) return k;
    logPmf += Math.log((n - k) / (k + 1)) + Math.log(p) - Math.log1p(-p);
    cdf += Math.exp(logPmf);
  }
  return n;
}

/**
 * What `bitBiasMax` reads by chance alone: the median, over repeated sets of n images, of the
 * largest |share of ones - 1/2| among `bits` independent fair bits (exact, from Bin(n, 1/2)). A
 * measured bias near it is sampling noise; one far above it is the extractor's.
 */
export function chanceBitBiasMax(n: number, bits: number, q = 0.5): number {
  if (!Number.isInteger(n) || n < 1 || !Number.isInteger(bits) || bits < 1) throw new Error(`chance bias needs n >= 1 images and bits >= 1, got ${n} and ${bits}`);
  const logPmf = new Float64Array(n + 1);
  for (let k = 1; k <= n; k++) logPmf[k] = logPmf[k - 1]! + Math.log((n - k + 1) / k);
  const top = logPmf[Math.floor(n / 2)]!;
  const pmf = Array.from(logPmf, (l) => Math.exp(l - top));
  const total = pmf.reduce((a, b) => a + b, 0);
  // P[|K - n/2| <= d] grows with d; the max over `bits` bits is <= d with that probability to the power bits
  const byDistance = pmf.map((p, k) => ({ d: Math.abs(k - n / 2), p: p / total })).sort((a, b) => a.d - b.d);
  let cdf = 0;
  for (let i = 0; i < byDistance.length; i++) {
    cdf += byDistance[i]!.p;
    const last = i + 1 === byDistance.length || byDistance[i + 1]!.d !== byDistance[i]!.d;
    if (last && cdf ** bits >= q) return byDistance[i]!.d / n;
  }
  return 0.5;
}

/** The largest |share reading 1 - 1/2| over the bit positions (0 for no negatives). */
export function bitBiasMax(negatives: readonly NamedBits[]): number {
  const nBits = negatives[0]?.bits.length ?? 0;
  let max = 0;
  for (let b = 0; b < nBits; b++) {
    let ones = 0;
    for (const negative of negatives) ones += negative.bits[b]!;
    max = Math.max(max, Math.abs(ones / negatives.length - 0.5));
  }
  return max;
}

export interface RandomKeyRates {
  keys: number;
  /** Mean over the keys of each key's share of negatives with K >= k. */
  mean: number;
  /** The worst key's share, and that key. */
  max: number;
  maxKey: string;
  /** The 99th percentile of the per-key shares. */
  p99: number;
}

/**
 * Per-key false-positive rates at threshold k over `nKeys` keys of uniform random bits (from
 * `random`, so a run is reproducible): each key against every negative.
 */
export function randomKeyRates(negatives: readonly NamedBits[], nKeys: number, k: number, random: () => number): RandomKeyRates {
  if (negatives.length === 0 || nKeys < 1) throw new Error(`random-key rates need negatives and keys, got ${negatives.length} and ${nKeys}`);
  const nBits = negatives[0]!.bits.length;
  const rates: Array<{ rate: number; key: Bits }> = [];
  for (let r = 0; r < nKeys; r++) {
    const key = Uint8Array.from({ length: nBits }, () => (random() < 0.5 ? 1 : 0));
    let passes = 0;
    for (const negative of negatives) if (matchingBits(negative.bits, key) >= k) passes++;
    rates.push({ rate: passes / negatives.length, key });
  }
  const sorted = rates.map((r) => r.rate).sort((a, b) => a - b);
  const worst = rates.reduce((a, b) => (b.rate > a.rate ? b : a));
  return {
    keys: nKeys,
    mean: sorted.reduce((a, b) => a + b, 0) / nKeys,
    max: worst.rate,
    maxKey: hexFromBits(worst.key),
    p99: sorted[Math.min(nKeys - 1, Math.ceil(0.99 * nKeys) - 1)]!,
  };
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
