/**
 * The arithmetic of applying deltas to stored weights, in the weight's own layout: W (as stored)
 * += c x dW, where dW is torch-oriented (out x inFlat) and the stored weight is (out, in[, kh, kw])
 * or transposed (in, out) for MatMul. Low-rank deltas are never materialized whole: each stored
 * row is accumulated in float64 from the factors, then added to W and rounded once.
 */
import type { Delta } from './model.js';
import type { WeightLayout } from './mapping.js';

/** W (float32, stored layout) += c * dW. */
export function addDelta(w: Float32Array, layout: WeightLayout, delta: Delta, c: number): void {
  const { out, inFlat } = delta;
  if (w.length !== out * inFlat) throw new Error(`weight has ${w.length} values, the delta ${out} x ${inFlat}`);
  const transposed = layout === 'in_out';
  if (delta.kind === 'dense') {
    const d = delta.delta;
    if (!transposed) for (let i = 0; i < d.length; i++) w[i] = w[i]! + c * d[i]!;
    else
      for (let o = 0; o < out; o++) {
        const row = o * inFlat;
        for (let j = 0; j < inFlat; j++) w[j * out + o] = w[j * out + o]! + c * d[row + j]!;
      }
    return;
  }
  const { rank, up, down } = delta;
  if (!transposed) {
    // stored row o (length inFlat) += sum_k c up[o, k] down[k, :]
    const acc = new Float64Array(inFlat);
    for (let o = 0; o < out; o++) {
      acc.fill(0);
      for (let k = 0; k < rank; k++) {
        const u = c * up[o * rank + k]!;
        if (u === 0) continue;
        const row = k * inFlat;
        for (let j = 0; j < inFlat; j++) acc[j]! += u * down[row + j]!;
      }
      const base = o * inFlat;
      for (let j = 0; j < inFlat; j++) w[base + j] = w[base + j]! + acc[j]!;
    }
    return;
  }
  // stored row j (length out) += sum_k c down[k, j] up[:, k]
  const upT = new Float32Array(rank * out);
  for (let o = 0; o < out; o++) for (let k = 0; k < rank; k++) upT[k * out + o] = up[o * rank + k]!;
  const acc = new Float64Array(out);
  for (let j = 0; j < inFlat; j++) {
    acc.fill(0);
    for (let k = 0; k < rank; k++) {
      const d = c * down[k * inFlat + j]!;
      if (d === 0) continue;
      const row = k * out;
      for (let o = 0; o < out; o++) acc[o]! += d * upT[row + o]!;
    }
    const base = j * out;
    for (let o = 0; o < out; o++) w[base + o] = w[base + o]! + acc[o]!;
  }
}

/** a (rows x cols) transposed, times c. */
export function transposeScaled(a: Float32Array, rows: number, cols: number, c = 1): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = c * a[i * cols + j]!;
  return out;
}

export function scaled(a: Float32Array, c: number): Float32Array {
  if (c === 1) return a.slice();
  return Float32Array.from(a, (v) => v * c);
}
