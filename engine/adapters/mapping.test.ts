/**
 * Mapping adapters to ONNX weights on small synthetic graphs: weights stored through a Transpose,
 * Gemm with transB = 0, bfloat16 weights behind a Cast, a 3x3 Conv; baked and live outputs checked
 * against y = x (W + c B A)^T computed by hand (independent of the mapping's own orientation
 * logic). Then what is refused, and why: graphs without scope names, fused projections, shape
 * mismatches, quantized weights, ambiguous flattened names, components the model lacks.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { create } from '@bufbuild/protobuf';
import { TensorProtoSchema } from 'onnx-buf';
import { describe, expect, it } from 'vitest';
import { gaussianNoise } from '../noise/philox.js';
import { DataType, buildModel, floatTensor, intAttribute, intsAttribute, node, parseModel, serializeModel, valueInfo, type NodeProto, type TensorProto } from '../onnx/proto.js';
import { float32ToBytes } from '../onnx/tensor-data.js';
import { ort } from '../runtime/ort.js';
import { openSession } from '../runtime/session.js';
import { float32Of } from '../runtime/tensors.js';
import { tempDir } from '../testing/models.js';
import { denseDelta, maxAbsDiff } from '../testing/adapters.js';
import { coverage } from './coverage.js';
import { loadAdapterFile } from './loaded.js';
import { indexModules } from './mapping.js';
import { encodeSafetensors, type TensorToWrite } from './safetensors.js';
import { AdapterScales, planGraph } from './stack.js';

const readBytes = (file: string) => new Uint8Array(readFileSync(file));
const X = gaussianNoise(1, 4 * 8);
const IMG = gaussianNoise(2, 3 * 5 * 5);
const W_T = gaussianNoise(3, 6 * 8); // torch (out 6, in 8), stored as is, transposed by a node
const W_G = gaussianNoise(4, 8 * 5); // stored (in 8, out 5): Gemm transB = 0
const W_B = gaussianNoise(5, 8 * 3); // stored (in 8, out 3) in bfloat16
const W_C = gaussianNoise(6, 4 * 3 * 3 * 3);

function bf16Tensor(name: string, dims: number[], values: Float32Array): TensorProto {
  return create(TensorProtoSchema, { name, dims: dims.map(BigInt), dataType: DataType.BFLOAT16, rawData: new Uint8Array(float32ToBytes(values, DataType.BFLOAT16)) });
}

function graph(dir: string, names: (scope: string, op: string) => string = (s, op) => `/${s}/${op}`): string {
  const nodes: NodeProto[] = [
    node('Transpose', ['w_t'], ['w_t_T'], names('lin_t', 'Transpose'), [intsAttribute('perm', [1, 0])]),
    node('MatMul', ['x', 'w_t_T'], ['y1'], names('lin_t', 'MatMul')),
    node('Reshape', ['x', 'shape2d'], ['x2'], '/Reshape'),
    node('Gemm', ['x2', 'w_g'], ['y2'], names('gemm', 'Gemm'), [intAttribute('transB', 0)]),
    node('Cast', ['w_b'], ['w_b32'], '/bf/Cast', [intAttribute('to', DataType.FLOAT)]),
    node('MatMul', ['x', 'w_b32'], ['y3'], names('bf', 'MatMul')),
    node('Conv', ['img', 'w_c'], ['y4'], names('conv', 'Conv'), [intsAttribute('kernel_shape', [3, 3]), intsAttribute('pads', [1, 1, 1, 1])]),
  ];
  const shape = create(TensorProtoSchema, { name: 'shape2d', dims: [2n], dataType: DataType.INT64, rawData: new Uint8Array(BigInt64Array.of(4n, 8n).buffer) });
  const model = buildModel({
    inputs: [valueInfo('x', DataType.FLOAT, [1, 4, 8]), valueInfo('img', DataType.FLOAT, [1, 3, 5, 5])],
    outputs: [valueInfo('y1', DataType.FLOAT, [1, 4, 6]), valueInfo('y2', DataType.FLOAT, [4, 5]), valueInfo('y3', DataType.FLOAT, [1, 4, 3]), valueInfo('y4', DataType.FLOAT, [1, 4, 5, 5])],
    nodes,
    initializers: [floatTensor('w_t', [6, 8], W_T), floatTensor('w_g', [8, 5], W_G), bf16Tensor('w_b', [8, 3], W_B), floatTensor('w_c', [4, 3, 3, 3], W_C), shape],
  });
  const file = path.join(dir, 'model.onnx');
  writeFileSync(file, serializeModel(model));
  return file;
}

interface Factors {
  module: string;
  out: number;
  in: number;
  kernel?: number[];
  up: Float32Array;
  down: Float32Array;
}

function lora(dir: string, factors: Factors[], name = 'lora.safetensors'): string {
  const tensors: TensorToWrite[] = factors.flatMap((f) => [
    { name: `transformer.${f.module}.lora_A.weight`, dtype: 'F32' as const, shape: f.kernel ? [2, f.in, ...f.kernel] : [2, f.in], data: f.down },
    { name: `transformer.${f.module}.lora_B.weight`, dtype: 'F32' as const, shape: f.kernel ? [f.out, 2, 1, 1] : [f.out, 2], data: f.up },
  ]);
  const file = path.join(dir, name);
  writeFileSync(file, encodeSafetensors(tensors, { lora_adapter_metadata: JSON.stringify({ lora_alpha: 1 }) }));
  return file;
}

/** y = x (W + c dW)^T for x (rows x in), W and dW torch (out x in). */
function linear(x: Float32Array, rows: number, w: ArrayLike<number>, dW: Float64Array, c: number, out: number, inF: number): Float32Array {
  const y = new Float32Array(rows * out);
  for (let r = 0; r < rows; r++) for (let o = 0; o < out; o++) {
    let s = 0;
    for (let j = 0; j < inF; j++) s += x[r * inF + j]! * (w[o * inF + j]! + c * dW[o * inF + j]!);
    y[r * out + o] = s;
  }
  return y;
}

function transpose(a: ArrayLike<number>, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = a[i * cols + j]!;
  return out;
}

function conv3x3(img: Float32Array, w: ArrayLike<number>, cout: number, cin: number, hw: number): Float32Array {
  const y = new Float32Array(cout * hw * hw);
  for (let o = 0; o < cout; o++) for (let yy = 0; yy < hw; yy++) for (let xx = 0; xx < hw; xx++) {
    let s = 0;
    for (let i = 0; i < cin; i++) for (let ky = 0; ky < 3; ky++) for (let kx = 0; kx < 3; kx++) {
      const sy = yy + ky - 1;
      const sx = xx + kx - 1;
      if (sy >= 0 && sy < hw && sx >= 0 && sx < hw) s += img[(i * hw + sy) * hw + sx]! * w[((o * cin + i) * 3 + ky) * 3 + kx]!;
    }
    y[(o * hw + yy) * hw + xx] = s;
  }
  return y;
}

async function outputs(file: string, extra = {}): Promise<Record<string, Float32Array>> {
  const session = await openSession(file, { provider: 'cpu' });
  try {
    const out = await session.run({ x: new ort.Tensor('float32', X, [1, 4, 8]), img: new ort.Tensor('float32', IMG, [1, 3, 5, 5]), ...extra });
    return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, float32Of(v).slice()]));
  } finally {
    await session.release();
  }
}

describe('mapping to ONNX weights', () => {
  it('Transpose-stored, Gemm transB=0, bfloat16 behind Cast, 3x3 Conv: bake and live equal x (W + c B A)^T', async () => {
    const dir = tempDir();
    const source = graph(dir);
    const f = (module: string, out: number, inF: number, seed: number, kernel?: number[]): Factors => ({ module, out, in: inF, kernel, up: gaussianNoise(seed, out * 2), down: gaussianNoise(seed + 1, 2 * inF * (kernel ? 9 : 1)) });
    const factors = [f('lin_t', 6, 8, 10), f('gemm', 5, 8, 20), f('bf', 3, 8, 30), f('conv', 4, 3, 40, [3, 3])];
    const loaded = await loadAdapterFile(lora(dir, factors));
    const index = indexModules(parseModel(readBytes(source), source));
    expect([...index.sites.values()].map((s) => `${s.module}:${s.op}:${s.layout}:${s.storedType}->${s.computeType}`)).toEqual(['lin_t:MatMul:out_in:1->1', 'gemm:Gemm:in_out:1->1', 'bf:MatMul:in_out:16->1', 'conv:Conv:conv:1->1']);
    const w = 1.5;
    const c = w * 0.5; // alpha 1 / rank 2
    const wb = new Float32Array(new Uint32Array(Array.from(new Uint16Array(float32ToBytes(W_B, DataType.BFLOAT16).buffer), (h) => h << 16)).buffer);
    const expected = {
      y1: linear(X, 4, W_T, denseDelta({ rank: 2, ...factors[0]! }), c, 6, 8),
      y2: linear(X, 4, transpose(W_G, 8, 5), denseDelta({ rank: 2, ...factors[1]! }), c, 5, 8),
      y3: linear(X, 4, transpose(wb, 8, 3), denseDelta({ rank: 2, ...factors[2]! }), c, 3, 8),
      y4: conv3x3(IMG, Float64Array.from(W_C, (v, i) => v + c * denseDelta({ rank: 2, ...factors[3]! })[i]!), 4, 3, 5),
    };
    const cacheDir = tempDir();
    const baked = await outputs((await planGraph(source, 'denoiser', [{ loaded, weight: w, mode: 'bake', perToken: false }], cacheDir))!.file);
    const live = await planGraph(source, 'denoiser', [{ loaded, weight: w, mode: 'live', perToken: false }], cacheDir);
    const scales = new AdapterScales();
    scales.setWeight(loaded.id, w);
    const branched = await outputs(live!.file, scales.feeds(live!.inputs));
    for (const k of ['y1', 'y2', 'y4'] as const) {
      expect(maxAbsDiff(baked[k]!, expected[k])).toBeLessThan(1e-4);
      expect(maxAbsDiff(branched[k]!, expected[k])).toBeLessThan(1e-4);
    }
    // bfloat16: the bake rounds W + c dW to bfloat16 (8 bits of mantissa); the live branch does not
    expect(maxAbsDiff(branched.y3!, expected.y3)).toBeLessThan(1e-4);
    expect(maxAbsDiff(baked.y3!, expected.y3)).toBeLessThan(0.1);
  });

  it('refuses what it cannot map, saying why', async () => {
    const dir = tempDir();
    const unscoped = graph(tempDir(), (_s, op) => `${op}_${Math.floor(Math.random() * 1000)}`);
    const dq = path.join(dir, 'dq.onnx');
    writeFileSync(
      dq,
      serializeModel(
        buildModel({
          inputs: [valueInfo('x', DataType.FLOAT, [1, 4, 8])],
          outputs: [valueInfo('y', DataType.FLOAT, [1, 4, 8]), valueInfo('z', DataType.FLOAT, [1, 4, 24])],
          nodes: [
            node('DequantizeLinear', ['wq', 'ws'], ['w'], '/q/DequantizeLinear'),
            node('MatMul', ['x', 'w'], ['y'], '/q/MatMul'),
            node('MatMul', ['x', 'wqkv'], ['z'], '/attn/to_qkv/MatMul'),
          ],
          initializers: [
            create(TensorProtoSchema, { name: 'wq', dims: [8n, 8n], dataType: DataType.INT8, rawData: new Uint8Array(64) }),
            floatTensor('ws', [], Float32Array.of(0.1)),
            floatTensor('wqkv', [8, 24], new Float32Array(192)),
            floatTensor('a_b.c', [1], new Float32Array(1)),
          ],
        }),
      ),
    );
    const factors: Factors[] = [
      { module: 'q', out: 8, in: 8, up: new Float32Array(16), down: new Float32Array(16) },
      { module: 'attn.to_q', out: 8, in: 8, up: new Float32Array(16), down: new Float32Array(16) },
      { module: 'lin_t', out: 7, in: 8, up: new Float32Array(14), down: new Float32Array(16) },
    ];
    const loaded = await loadAdapterFile(lora(dir, factors));
    const parse = (file: string) => indexModules(parseModel(readBytes(file), file));
    const scoped = graph(tempDir());
    const report = coverage(loaded.adapter, [
      { name: 'dq', component: 'denoiser', file: dq, index: parse(dq) },
    ]).report;
    const reasons = Object.fromEntries(report.entries.map((e) => [e.module, e.reason]));
    expect(reasons.q).toMatch(/q: the weight is computed by a DequantizeLinear node/);
    expect(reasons['attn.to_q']).toMatch(/it has attn.to_qkv \(fused projections are not split\)/);
    expect(report.complete).toBe(false);
    expect(coverage(loaded.adapter, [{ name: 'g', component: 'denoiser', file: scoped, index: parse(scoped) }]).report.entries.find((e) => e.module === 'lin_t')!.reason).toMatch(/shape mismatch: the delta is 7 x 8, the weight 6 x 8/);
    const none = coverage(loaded.adapter, [{ name: 'u', component: 'denoiser', file: unscoped, index: parse(unscoped) }]).report;
    expect(none.entries[0]!.reason).toMatch(/carry no module scopes \(an optimized or renamed export\)/);
    expect(none.graphs[0]!.note).toMatch(/no module scopes/);
    expect(coverage(loaded.adapter, [{ name: 'v', component: 'vae', file: scoped, index: parse(scoped) }]).report.entries[0]!.reason).toBe('this model has no denoiser graph');
  });

  it('a flattened kohya name matching two module paths is refused as ambiguous', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'amb.onnx');
    writeFileSync(
      file,
      serializeModel(
        buildModel({
          inputs: [valueInfo('x', DataType.FLOAT, [1, 2])],
          outputs: [valueInfo('y', DataType.FLOAT, [1, 2]), valueInfo('z', DataType.FLOAT, [1, 2])],
          nodes: [node('MatMul', ['x', 'w1'], ['y'], '/a/b_c/MatMul'), node('MatMul', ['x', 'w2'], ['z'], '/a_b/c/MatMul')],
          initializers: [floatTensor('w1', [2, 2], new Float32Array(4)), floatTensor('w2', [2, 2], new Float32Array(4))],
        }),
      ),
    );
    const lf = path.join(dir, 'k.safetensors');
    writeFileSync(lf, encodeSafetensors([{ name: 'lora_unet_a_b_c.lora_down.weight', dtype: 'F32', shape: [1, 2], data: new Float32Array(2) }, { name: 'lora_unet_a_b_c.lora_up.weight', dtype: 'F32', shape: [2, 1], data: new Float32Array(2) }]));
    const loaded = await loadAdapterFile(lf);
    const report = coverage(loaded.adapter, [{ name: 'g', component: 'denoiser', file, index: indexModules(parseModel(readBytes(file), file)) }]).report;
    expect(report.entries[0]!.reason).toBe('the flattened name matches several modules: a.b_c, a_b.c');
  });
});

