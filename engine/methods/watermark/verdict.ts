/**
 * From extracted bits to a verdict: K matching bits of n against every known key, the closest key,
 * its exact binomial p-value, and "verified" only when K reaches the threshold at the chosen
 * false-positive rate, corrected for the number of keys compared (Bonferroni). The summary line
 * says all of it, including the correction when there is more than one key.
 */
import type { WatermarkVerdict } from '../../protocol/index.js';
import { binomialTail, testLevel, type TestLevel } from './binomial.js';
import { hexFromBits, matchingBits, type Bits } from './bits.js';

export interface KnownKey {
  id: string;
  name: string;
  bits: Bits;
}

export interface Extraction {
  name: string;
  bits: Bits;
  notes: string[];
  claimedKeyId: string | null;
  width: number;
  height: number;
}

export function formatP(p: number): string {
  if (p === 0) return '0';
  return p >= 0.001 ? p.toPrecision(3) : p.toExponential(2);
}

function levelText(level: TestLevel): string {
  const base = `threshold ${level.thresholdK}/${level.n} at false-positive rate ${formatP(level.fpr)}`;
  return level.keys > 1 ? `${base} over ${level.keys} keys (Bonferroni: ${formatP(level.perKey)} per key)` : base;
}

/** The verdict for one image's bits (`keys` may be empty: nothing can be verified then). */
export function judge(extraction: Extraction, keys: readonly KnownKey[], fpr: number): WatermarkVerdict {
  const n = extraction.bits.length;
  const level = testLevel(n, fpr, Math.max(1, keys.length));
  let best: { key: KnownKey; k: number } | null = null;
  for (const key of keys) {
    const k = matchingBits(extraction.bits, key.bits);
    if (!best || k > best.k) best = { key, k };
  }
  const common = {
    name: extraction.name,
    fpr,
    keys: keys.length,
    perKeyFpr: level.perKey,
    thresholdK: level.thresholdK,
    n,
    bits: hexFromBits(extraction.bits),
    claimedKeyId: extraction.claimedKeyId,
    notes: extraction.notes,
    width: extraction.width,
    height: extraction.height,
  };
  if (!best) {
    return { ...common, status: 'not_verified', summary: 'not verified: there are no keys to compare with (create one)', key: null, closestKey: null, k: null, pValue: null };
  }
  const p = binomialTail(n, best.k);
  const ref = { id: best.key.id, name: best.key.name };
  const verified = best.k >= level.thresholdK;
  const measure = `${best.k}/${n} bits match ${verified ? '' : 'the closest key, '}${best.key.name} (p = ${formatP(p)}); ${levelText(level)}`;
  return {
    ...common,
    status: verified ? 'verified' : 'not_verified',
    summary: verified ? `verified: ${measure}` : `not verified: ${measure}`,
    key: verified ? ref : null,
    closestKey: ref,
    k: best.k,
    pValue: p,
  };
}

/** The verdict for a file that could not be checked. */
export function failed(name: string, message: string, keys: number, fpr: number, n: number): WatermarkVerdict {
  const level = testLevel(n, fpr, Math.max(1, keys));
  return {
    name,
    status: 'error',
    summary: `cannot check: ${message}`,
    key: null,
    closestKey: null,
    k: null,
    n: null,
    pValue: null,
    thresholdK: level.thresholdK,
    fpr,
    keys,
    perKeyFpr: level.perKey,
    bits: null,
    claimedKeyId: null,
    notes: [],
    width: null,
    height: null,
  };
}
