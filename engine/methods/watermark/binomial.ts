/**
 * The verification test: under H0 (the image does not carry the key) each extracted bit matches
 * the key's with probability 1/2, independently, so K matching bits of n follow Bin(n, 1/2) and
 * the one-sided p-value is P[Bin(n, 1/2) >= K] = sum_{k>=K} C(n, k) / 2^n, computed exactly with
 * BigInt and rounded once to a double. The threshold at a false-positive rate alpha is the
 * smallest K whose p-value is <= alpha; comparing against m keys at once splits alpha over them
 * (Bonferroni: alpha / m per key), so the chance that any key matches by accident stays <= alpha.
 */

const MAX_N = 4096;

function checkN(n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > MAX_N) throw new Error(`the number of bits must be an integer from 1 to ${MAX_N}, got ${n}`);
}

const binomialRows = new Map<number, bigint[]>();

/** C(n, 0..n) as BigInts. */
function binomialRow(n: number): bigint[] {
  let row = binomialRows.get(n);
  if (row) return row;
  row = [1n];
  for (let k = 1; k <= n; k++) row.push((row[k - 1]! * BigInt(n - k + 1)) / BigInt(k));
  binomialRows.set(n, row);
  return row;
}

function bitLength(v: bigint): number {
  return v === 0n ? 0 : v.toString(2).length;
}

/** num / 2^n as the nearest double (num < 2^(n+1)), without overflowing for large n. */
function scaledByPowerOfTwo(num: bigint, n: number): number {
  if (num === 0n) return 0;
  const shift = Math.max(0, bitLength(num) - 62);
  // keep 62 significant bits; the division by 2^n is exact in binary floating point
  return Number(num >> BigInt(shift)) * 2 ** (shift - n);
}

/** The exact count sum_{k>=K} C(n, k) (the p-value's numerator over 2^n). */
export function upperTailCount(n: number, k: number): bigint {
  checkN(n);
  if (!Number.isInteger(k)) throw new Error(`K must be an integer, got ${k}`);
  const row = binomialRow(n);
  let sum = 0n;
  for (let i = Math.max(0, k); i <= n; i++) sum += row[i]!;
  return sum;
}

/** P[Bin(n, 1/2) >= k]: 1 for k <= 0, 0 for k > n. */
export function binomialTail(n: number, k: number): number {
  return scaledByPowerOfTwo(upperTailCount(n, k), n);
}

/** The smallest K with P[Bin(n, 1/2) >= K] <= alpha (n + 1 when even K = n is not rare enough). */
export function thresholdK(n: number, alpha: number): number {
  checkN(n);
  if (!(alpha > 0 && alpha < 1)) throw new Error(`the false-positive rate must be between 0 and 1 (exclusive), got ${alpha}`);
  for (let k = 0; k <= n; k++) if (binomialTail(n, k) <= alpha) return k;
  return n + 1;
}

export interface TestLevel {
  /** The false-positive rate asked for, over all keys together. */
  fpr: number;
  /** How many keys the bits are compared with. */
  keys: number;
  /** fpr / keys: the rate each single comparison is tested at (Bonferroni). */
  perKey: number;
  /** The matching bits needed. */
  thresholdK: number;
  n: number;
}

export function testLevel(n: number, fpr: number, keys: number): TestLevel {
  if (!Number.isInteger(keys) || keys < 1) throw new Error(`the number of keys must be a positive integer, got ${keys}`);
  const perKey = fpr / keys;
  return { fpr, keys, perKey, thresholdK: thresholdK(n, perKey), n };
}
