/**
 * Loads a target's delta from its file: LoRA factors as they are (up out x r, down r x inFlat),
 * LoHa and LoKr materialized exactly into dense out x inFlat deltas (as ComfyUI and LyCORIS
 * compute them), then the target's row slice (fused qkv) and half swap applied. The per-layer
 * scale (alpha / rank, or 1) rides along unapplied.
 *
 * - LoHa: dW = (w1a w1b) * (w2a w2b) elementwise; scale = alpha / rank(w1b).
 * - LoKr: dW = kron(w1, w2) with w1 = w1a w1b and w2 = w2a w2b when decomposed, a 4-D w2 giving
 *   a convolution kernel; scale = alpha / rank of the decomposed factor (w2's first), else 1.
 */
import { EngineError } from '../errors.js';
import type { AdapterTarget, Delta } from './model.js';
import type { SafetensorsReader } from './safetensors.js';

interface Matrix {
  rows: number;
  cols: number;
  data: Float32Array;
}

async function matrix(reader: SafetensorsReader, key: string): Promise<Matrix & { shape: number[] }> {
  const shape = reader.info(key).shape;
  const data = await reader.readFloat32(key);
  const rows = shape[0] ?? 1;
  return { rows, cols: rows === 0 ? 0 : data.length / rows, data, shape };
}

/** a (n x k) times b (k x m), accumulated in float64 per element. */
export function matmul(a: Matrix, b: Matrix): Matrix {
  if (a.cols !== b.rows) throw new Error(`cannot multiply ${a.rows}x${a.cols} by ${b.rows}x${b.cols}`);
  const out = new Float32Array(a.rows * b.cols);
  const acc = new Float64Array(b.cols);
  for (let i = 0; i < a.rows; i++) {
    acc.fill(0);
    for (let k = 0; k < a.cols; k++) {
      const v = a.data[i * a.cols + k]!;
      if (v === 0) continue;
      const row = k * b.cols;
      for (let j = 0; j < b.cols; j++) acc[j]! += v * b.data[row + j]!;
    }
    out.set(acc, i * b.cols);
  }
  return { rows: a.rows, cols: b.cols, data: out };
}

async function factor(reader: SafetensorsReader, w: string | [string, string]): Promise<Matrix & { shape: number[] }> {
  if (typeof w === 'string') return matrix(reader, w);
  const [a, b] = await Promise.all([matrix(reader, w[0]), matrix(reader, w[1])]);
  const m = matmul(a, b);
  return { ...m, shape: [m.rows, m.cols] };
}

function kron(w1: Matrix, w2: Matrix & { shape: number[] }): Matrix {
  // w2 as (b, d, K): K = kh x kw for a 4-D kernel, else 1
  const b = w2.shape[0]!;
  const d = w2.shape[1] ?? 1;
  const K = w2.shape.length === 4 ? w2.shape[2]! * w2.shape[3]! : 1;
  const rows = w1.rows * b;
  const cols = w1.cols * d * K;
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < w1.rows; i++) {
    for (let j = 0; j < w1.cols; j++) {
      const v = w1.data[i * w1.cols + j]!;
      for (let k = 0; k < b; k++) {
        const dst = (i * b + k) * cols + j * d * K;
        const src = k * d * K;
        for (let q = 0; q < d * K; q++) out[dst + q] = v * w2.data[src + q]!;
      }
    }
  }
  return { rows, cols, data: out };
}

function sliceRows(data: Float32Array, cols: number, start: number, end: number): Float32Array {
  return data.slice(start * cols, end * cols);
}

function swapHalves(data: Float32Array, rows: number, cols: number): Float32Array {
  const half = (rows / 2) * cols;
  const out = new Float32Array(data.length);
  out.set(data.subarray(half), 0);
  out.set(data.subarray(0, half), half);
  return out;
}

async function loadWhole(reader: SafetensorsReader, target: AdapterTarget): Promise<Delta> {
  const s = target.source;
  if (s.kind === 'lowrank') {
    const [down, up] = await Promise.all([matrix(reader, s.down), matrix(reader, s.up)]);
    const rank = down.rows;
    const kernel = down.shape.length === 4 ? [down.shape[2]!, down.shape[3]!] : null;
    return { kind: 'lowrank', out: up.rows, inFlat: down.cols, rank, up: up.data, down: down.data, scale: (s.alpha ?? rank) / rank, kernel };
  }
  if (s.kind === 'loha') {
    const [w1a, w1b, w2a, w2b] = await Promise.all([s.w1a, s.w1b, s.w2a, s.w2b].map((k) => matrix(reader, k)));
    const p1 = matmul(w1a!, w1b!);
    const p2 = matmul(w2a!, w2b!);
    const delta = new Float32Array(p1.data.length);
    for (let i = 0; i < delta.length; i++) delta[i] = p1.data[i]! * p2.data[i]!;
    const rank = w1b!.rows;
    return { kind: 'dense', out: p1.rows, inFlat: p1.cols, delta, scale: (s.alpha ?? rank) / rank, kernel: null };
  }
  const [w1, w2] = await Promise.all([factor(reader, s.w1), factor(reader, s.w2)]);
  const k = kron(w1, w2);
  const rank = typeof s.w2 !== 'string' ? reader.info(s.w2[1]).shape[0]! : typeof s.w1 !== 'string' ? reader.info(s.w1[1]).shape[0]! : 0;
  const scale = rank > 0 && s.alpha !== null ? s.alpha / rank : 1;
  const kernel = w2.shape.length === 4 ? [w2.shape[2]!, w2.shape[3]!] : null;
  return { kind: 'dense', out: k.rows, inFlat: k.cols, delta: k.data, scale, kernel };
}

/** A target's delta, with its row slice and half swap applied. */
export async function loadDelta(reader: SafetensorsReader, target: AdapterTarget): Promise<Delta> {
  let delta = await loadWhole(reader, target);
  if (target.rows) {
    const total = target.rows.parts.reduce((a, b) => a + b, 0);
    const unit = delta.out / total;
    if (!Number.isInteger(unit)) throw new EngineError('bad_input', `${reader.name}: ${target.sourceModule} has ${delta.out} output rows, which do not split ${target.rows.parts.join(':')}`);
    const start = unit * target.rows.parts.slice(0, target.rows.part).reduce((a, b) => a + b, 0);
    const end = start + unit * target.rows.parts[target.rows.part]!;
    delta =
      delta.kind === 'lowrank'
        ? { ...delta, out: end - start, up: sliceRows(delta.up, delta.rank, start, end) }
        : { ...delta, out: end - start, delta: sliceRows(delta.delta, delta.inFlat, start, end) };
  }
  if (target.swapHalves) {
    if (delta.out % 2 !== 0) throw new EngineError('bad_input', `${reader.name}: ${target.sourceModule} has an odd number of output rows`);
    delta = delta.kind === 'lowrank' ? { ...delta, up: swapHalves(delta.up, delta.out, delta.rank) } : { ...delta, delta: swapHalves(delta.delta, delta.out, delta.inFlat) };
  }
  return delta;
}

/** The dense out x inFlat delta of a loaded delta (scale not applied). */
export function denseOf(delta: Delta): Float32Array {
  if (delta.kind === 'dense') return delta.delta;
  return matmul({ rows: delta.out, cols: delta.rank, data: delta.up }, { rows: delta.rank, cols: delta.inFlat, data: delta.down }).data;
}
