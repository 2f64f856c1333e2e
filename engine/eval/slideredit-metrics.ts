/**
 * The statistics of `eval slideredit` (engine/eval/slideredit.ts), kept pure for tests:
 *
 * - `spearman(x, y)`: Spearman's rank correlation, ties given their average rank (Pearson's r of
 *   the ranks). A constant y (the judge saw no change at all) has no correlation: 0 is returned,
 *   and the caller counts it as a failure to move, not as missing.
 * - `chiSquareUniformity(frames)`: SliderEdit's smoothness statistic. For a sweep's frames
 *   x_0..x_K (images in the order of the strengths) the consecutive changes
 *   d_k = ||x_{k+1} - x_k||_2 (RGB in [0, 1]) are normalized to a distribution p_k = d_k / sum(d)
 *   and compared with the uniform 1/K by Pearson's statistic
 *   chi2 = sum_k (p_k - 1/K)^2 / (1/K). 0 means the edit advances by equal steps along the
 *   slider; K - 1 (the maximum) means all the change happens between two neighbouring strengths.
 *   A sweep with no change at all (sum(d) = 0) has no statistic (null).
 * - `judgedSteps(reached)`: the shape of a sweep's judged outcome, frame by frame in the order of
 *   the strengths (whether the judge reads the part's target value): monotone when, once reached,
 *   it is never lost at a higher strength; off at the start when strength 0 does not show it; and
 *   the first frame that does.
 */

function ranks(values: readonly number[]): number[] {
  const order = values.map((v, i) => [v, i] as const).sort((a, b) => a[0] - b[0]);
  const out = new Array<number>(values.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && order[j + 1]![0] === order[i]![0]) j++;
    const rank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) out[order[k]![1]] = rank;
    i = j + 1;
  }
  return out;
}

export function spearman(x: readonly number[], y: readonly number[]): number {
  if (x.length !== y.length || x.length < 2) throw new Error(`spearman needs two series of the same length >= 2, got ${x.length} and ${y.length}`);
  const rx = ranks(x);
  const ry = ranks(y);
  const mean = (rx.length + 1) / 2;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < rx.length; i++) {
    const a = rx[i]! - mean;
    const b = ry[i]! - mean;
    sxy += a * b;
    sxx += a * a;
    syy += b * b;
  }
  if (sxx === 0 || syy === 0) return 0;
  return sxy / Math.sqrt(sxx * syy);
}

/** L2 distance between two RGB byte images, in [0, 1] units. */
export function imageDistance(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) throw new Error(`images differ in size: ${a.length} vs ${b.length} bytes`);
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = (a[i]! - b[i]!) / 255;
    sum += d * d;
  }
  return Math.sqrt(sum);
}

export function chiSquareUniformity(frames: readonly Uint8Array[]): number | null {
  if (frames.length < 3) throw new Error(`a sweep needs at least 3 frames, got ${frames.length}`);
  const d = frames.slice(1).map((f, k) => imageDistance(frames[k]!, f));
  const total = d.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const K = d.length;
  return d.reduce((chi, dk) => chi + (dk / total - 1 / K) ** 2 * K, 0);
}

export function mean(values: readonly number[]): number | null {
  return values.length === 0 ? null : values.reduce((a, b) => a + b, 0) / values.length;
}

export interface JudgedSteps {
  monotone: boolean;
  offAtStart: boolean;
  /** Index of the first frame reading the target value (null: none does). */
  firstReached: number | null;
}

export function judgedSteps(reached: readonly boolean[]): JudgedSteps {
  if (reached.length === 0) throw new Error('a sweep needs at least one frame');
  const first = reached.indexOf(true);
  return {
    monotone: first < 0 || reached.slice(first).every(Boolean),
    offAtStart: !reached[0],
    firstReached: first < 0 ? null : first,
  };
}
