/**
 * Test helpers for adapters: random low-rank factors for a graph's real modules, written in each
 * key format; a reference model patched the plain way (W + c B A computed directly in float64, in
 * the weight's stored layout) to compare bake and live branches against; and feeds for the twins.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { encodeSafetensors, type TensorToWrite } from '../adapters/safetensors.js';
import { indexModules, type WeightSite } from '../adapters/mapping.js';
import { gaussianNoise } from '../noise/philox.js';
import { parseModel, serializeModel } from '../onnx/proto.js';
import { float32ToBytes, readTensorFloat32, setInlineBytes } from '../onnx/tensor-data.js';
import { ort, type OrtFeeds } from '../runtime/ort.js';
import type { ModelSession } from '../runtime/session.js';
import { float32Of, tensorFor } from '../runtime/tensors.js';

export interface LoraModule {
  module: string;
  out: number;
  in: number;
  kernel: number[] | null;
  rank: number;
  alpha: number;
  /** up: out x r, down: r x inFlat (torch orientation, conv kernels flattened). */
  up: Float32Array;
  down: Float32Array;
}

export function sitesOf(file: string): Map<string, WeightSite> {
  return indexModules(parseModel(new Uint8Array(readFileSync(file)), file)).sites;
}

export function randn(seed: number, n: number, scale: number): Float32Array {
  return Float32Array.from(gaussianNoise(seed, n), (v) => v * scale);
}

/** Random factors for the named modules of a graph. */
export function randomLora(file: string, modules: string[], options: { rank?: number; alpha?: number; seed?: number; scale?: number } = {}): LoraModule[] {
  const sites = sitesOf(file);
  const rank = options.rank ?? 4;
  return modules.map((module, i) => {
    const site = sites.get(module);
    if (!site) throw new Error(`no module ${module} in ${file}`);
    const inFlat = site.in * (site.kernel ? site.kernel[0]! * site.kernel[1]! : 1);
    const seed = (options.seed ?? 1) * 1000 + i * 2;
    return {
      module,
      out: site.out,
      in: site.in,
      kernel: site.kernel,
      rank,
      alpha: options.alpha ?? rank / 2,
      up: randn(seed, site.out * rank, options.scale ?? 0.2),
      down: randn(seed + 1, rank * inFlat, options.scale ?? 0.2),
    };
  });
}

export type TestFormat = 'kohya' | 'peft' | 'slideredit';

/** The file bytes of factors in a key format (component: the denoiser, or as named by prefix). */
export function loraFile(modules: LoraModule[], format: TestFormat, options: { prefix?: string; dtype?: 'F32' | 'F16' | 'BF16' } = {}): Uint8Array {
  const tensors: TensorToWrite[] = [];
  const metadata: Record<string, string> = {};
  const f = (name: string, shape: number[], data: Float32Array): TensorToWrite => {
    const dtype = options.dtype ?? 'F32';
    if (dtype === 'F32') return { name, dtype, shape, data };
    const bytes = float32ToBytes(data, dtype === 'F16' ? 10 : 16);
    return { name, dtype, shape, data: new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2) };
  };
  const downShape = (m: LoraModule) => (m.kernel ? [m.rank, m.in, m.kernel[0]!, m.kernel[1]!] : [m.rank, m.in]);
  const upShape = (m: LoraModule) => (m.kernel ? [m.out, m.rank, 1, 1] : [m.out, m.rank]);
  for (const m of modules) {
    if (format === 'kohya') {
      const base = `${options.prefix ?? 'lora_unet_'}${m.module.replace(/\./g, '_')}`;
      tensors.push(f(`${base}.lora_down.weight`, downShape(m), m.down), f(`${base}.lora_up.weight`, upShape(m), m.up), { name: `${base}.alpha`, dtype: 'F32', shape: [], data: Float32Array.of(m.alpha) });
    } else {
      const base = `${format === 'peft' ? (options.prefix ?? 'transformer.') : ''}${m.module}`;
      tensors.push(f(`${base}.lora_A.weight`, downShape(m), m.down), f(`${base}.lora_B.weight`, upShape(m), m.up));
    }
  }
  if (format === 'peft') {
    const alpha = modules[0]?.alpha ?? 1;
    const rank = modules[0]?.rank ?? 1;
    metadata.lora_adapter_metadata = JSON.stringify({ 'transformer.lora_alpha': alpha, 'transformer.r': rank, lora_alpha: alpha, r: rank });
  }
  return encodeSafetensors(tensors, metadata);
}

/** dW = up @ down (out x inFlat), float64. */
export function denseDelta(m: { out: number; rank: number; up: Float32Array; down: Float32Array }): Float64Array {
  const inFlat = m.down.length / m.rank;
  const d = new Float64Array(m.out * inFlat);
  for (let o = 0; o < m.out; o++) for (let k = 0; k < m.rank; k++) for (let j = 0; j < inFlat; j++) d[o * inFlat + j]! += m.up[o * m.rank + k]! * m.down[k * inFlat + j]!;
  return d;
}

export interface ReferencePatch {
  module: string;
  /** out x inFlat, torch orientation */
  delta: Float64Array;
  coefficient: number;
}

/** Writes `name` beside `source` (so external data resolves): the graph with W += c dW, plainly. */
export function referenceModel(source: string, patches: ReferencePatch[], name = 'reference.onnx', options: { float32?: boolean } = {}): string {
  const model = parseModel(new Uint8Array(readFileSync(source)), source);
  const sites = indexModules(model).sites;
  const dir = path.dirname(source);
  for (const p of patches) {
    const site = sites.get(p.module)!;
    const w = Float64Array.from(readTensorFloat32(site.tensor, dir, p.module));
    const inFlat = p.delta.length / site.out;
    for (let o = 0; o < site.out; o++) {
      for (let j = 0; j < inFlat; j++) {
        const at = site.layout === 'in_out' ? j * site.out + o : o * inFlat + j;
        w[at]! += p.coefficient * p.delta[o * inFlat + j]!;
      }
    }
    // float32: keep float16 weights unrounded (a Cast to float of a float input is a no-op)
    const type = options.float32 ? 1 : site.storedType;
    setInlineBytes(site.tensor, float32ToBytes(Float32Array.from(w), type));
    site.tensor.dataType = type;
  }
  const file = path.join(dir, name);
  writeFileSync(file, serializeModel(model));
  return file;
}

/** Feeds of the given shapes for a session's inputs: Gaussian values, small integers for ids. */
export function feedsFor(session: ModelSession, shapes: Record<string, number[]>, seed = 5): OrtFeeds {
  const feeds: OrtFeeds = {};
  let s = seed;
  for (const spec of session.inputs) {
    const dims = shapes[spec.name];
    if (!dims) continue;
    const n = dims.reduce((a, b) => a * b, 1);
    const values = spec.type.startsWith('int') ? Float32Array.from({ length: n }, (_, i) => i % 7) : gaussianNoise(s++, n);
    feeds[spec.name] = tensorFor(spec, values, dims);
  }
  return feeds;
}

export async function runOutput(session: ModelSession, feeds: OrtFeeds, extra: OrtFeeds = {}): Promise<Float32Array> {
  const out = await session.run({ ...feeds, ...extra });
  return float32Of(out[session.outputs[0]!.name]!).slice();
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

export function scalarFeed(name: string, value: number): OrtFeeds {
  return { [name]: new ort.Tensor('float32', Float32Array.of(value), [1]) };
}
