/**
 * Key formats into the normalized adapter model: format detection, kohya flattening, BFL names
 * (qkv and linear1 split by rows, the final layer's swapped halves), alphas from tensors and
 * metadata, LoHa and LoKr materialized exactly (checked against the formulas computed plainly),
 * and the keys that cannot be used, each with its reason.
 */
import { describe, expect, it } from 'vitest';
import { gaussianNoise } from '../noise/philox.js';
import { readAdapter } from './formats/read.js';
import { denseOf, loadDelta } from './load.js';
import { bytesSource, encodeSafetensors, SafetensorsReader, type TensorToWrite } from './safetensors.js';

const f32 = (name: string, shape: number[], seed: number): TensorToWrite => ({ name, dtype: 'F32', shape, data: gaussianNoise(seed, shape.reduce((a, b) => a * b, 1)) });
const scalar = (name: string, v: number): TensorToWrite => ({ name, dtype: 'F32', shape: [], data: Float32Array.of(v) });

async function read(tensors: TensorToWrite[], metadata: Record<string, string> = {}) {
  const reader = await SafetensorsReader.open(bytesSource('a.safetensors', encodeSafetensors(tensors, metadata)));
  return { reader, adapter: await readAdapter(reader) };
}

/** Plain matrix product, float64. */
function mm(a: Float32Array, b: Float32Array, n: number, k: number, m: number): Float64Array {
  const out = new Float64Array(n * m);
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) for (let q = 0; q < k; q++) out[i * m + j]! += a[i * k + q]! * b[q * m + j]!;
  return out;
}

function close(a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-5): void {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  expect(worst).toBeLessThanOrEqual(tol);
}

describe('adapter key formats', () => {
  it('peft: component prefixes, alphas from lora_adapter_metadata (alpha_pattern first)', async () => {
    const { adapter } = await read(
      [f32('transformer.a.to_q.lora_A.weight', [4, 8], 1), f32('transformer.a.to_q.lora_B.weight', [6, 4], 2), f32('transformer.b.proj.lora_A.weight', [4, 8], 3), f32('transformer.b.proj.lora_B.weight', [6, 4], 4), f32('text_encoder.text_model.x.lora_A.weight', [2, 8], 5), f32('text_encoder.text_model.x.lora_B.weight', [8, 2], 6)],
      { lora_adapter_metadata: JSON.stringify({ 'transformer.lora_alpha': 8, 'transformer.alpha_pattern': { 'b\\.proj': 2 }, 'text_encoder.lora_alpha': 1 }) },
    );
    expect(adapter.format).toBe('peft');
    expect(adapter.ranks).toEqual([2, 4]);
    const byModule = Object.fromEntries(adapter.targets.map((t) => [t.module, t]));
    expect(byModule['a.to_q']).toMatchObject({ component: 'denoiser', naming: 'dotted', out: 6, inFlat: 8, source: { alpha: 8 } });
    expect(byModule['b.proj']!.source.alpha).toBe(2);
    expect(byModule['text_model.x']).toMatchObject({ component: 'text_encoder', source: { alpha: 1 } });
  });

  it('kohya: flattened names, per-module alpha tensors, ss_network_alpha as the fallback, text encoders', async () => {
    const { adapter, reader } = await read(
      [
        f32('lora_unet_down_blocks_0_attn1_to_q.lora_down.weight', [4, 8], 1),
        f32('lora_unet_down_blocks_0_attn1_to_q.lora_up.weight', [8, 4], 2),
        scalar('lora_unet_down_blocks_0_attn1_to_q.alpha', 2),
        f32('lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_down.weight', [4, 8], 3),
        f32('lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_up.weight', [16, 4], 4),
        f32('lora_unet_conv_in.lora_down.weight', [4, 3, 3, 3], 5),
        f32('lora_unet_conv_in.lora_up.weight', [8, 4, 1, 1], 6),
      ],
      { ss_network_alpha: '1', ss_network_dim: '4' },
    );
    expect(adapter.format).toBe('kohya');
    const [q, fc1, conv] = adapter.targets;
    expect(q).toMatchObject({ module: 'down_blocks_0_attn1_to_q', naming: 'flat', component: 'denoiser', source: { alpha: 2 } });
    expect(fc1).toMatchObject({ component: 'text_encoder_2', source: { alpha: 1 }, out: 16 });
    expect(conv).toMatchObject({ kernel: [3, 3], inFlat: 27, out: 8 });
    const d = await loadDelta(reader, q!);
    expect(d).toMatchObject({ kind: 'lowrank', rank: 4, scale: 0.5 });
  });

  it('BFL names and kohya FLUX names: fused qkv and linear1 split by rows, exactly', async () => {
    const d = 8;
    const tensors = [
      f32('double_blocks.0.img_attn.qkv.lora_A.weight', [4, d], 1),
      f32('double_blocks.0.img_attn.qkv.lora_B.weight', [3 * d, 4], 2),
      f32('single_blocks.1.linear1.lora_A.weight', [4, d], 3),
      f32('single_blocks.1.linear1.lora_B.weight', [7 * d, 4], 4),
      f32('final_layer.adaLN_modulation.1.lora_A.weight', [4, d], 5),
      f32('final_layer.adaLN_modulation.1.lora_B.weight', [2 * d, 4], 6),
    ];
    const { adapter, reader } = await read(tensors);
    expect(adapter.format).toBe('bfl');
    expect(adapter.targets.map((t) => t.module)).toEqual([
      'transformer_blocks.0.attn.to_q',
      'transformer_blocks.0.attn.to_k',
      'transformer_blocks.0.attn.to_v',
      'single_transformer_blocks.1.attn.to_q',
      'single_transformer_blocks.1.attn.to_k',
      'single_transformer_blocks.1.attn.to_v',
      'single_transformer_blocks.1.proj_mlp',
      'norm_out.linear',
    ]);
    expect(adapter.targets.map((t) => t.out)).toEqual([d, d, d, d, d, d, 4 * d, 2 * d]);
    const fused = mm(tensors[3]!.data as Float32Array, tensors[2]!.data as Float32Array, 7 * d, 4, d);
    let row = 0;
    for (const t of adapter.targets.slice(3, 7)) {
      const delta = await loadDelta(reader, t);
      expect(delta.kind).toBe('lowrank');
      close(denseOf(delta), fused.subarray(row * d, (row + t.out) * d));
      row += t.out;
    }
    const final = await loadDelta(reader, adapter.targets[7]!);
    const plain = mm(tensors[5]!.data as Float32Array, tensors[4]!.data as Float32Array, 2 * d, 4, d);
    close(denseOf(final), [...plain.subarray(d * d), ...plain.subarray(0, d * d)]); // scale, shift <- shift, scale

    const kohya = await read([f32('lora_unet_double_blocks_3_txt_attn_qkv.lora_down.weight', [2, d], 7), f32('lora_unet_double_blocks_3_txt_attn_qkv.lora_up.weight', [3 * d, 2], 8), scalar('lora_unet_double_blocks_3_txt_attn_qkv.alpha', 1)]);
    expect(kohya.adapter.format).toBe('kohya');
    expect(kohya.adapter.targets.map((t) => `${t.module}:${t.naming}:${t.source.alpha}`)).toEqual([
      'transformer_blocks.3.attn.add_q_proj:dotted:1',
      'transformer_blocks.3.attn.add_k_proj:dotted:1',
      'transformer_blocks.3.attn.add_v_proj:dotted:1',
    ]);
  });

  it('SliderEdit checkpoint names: bare module paths, alpha = rank', async () => {
    const { adapter, reader } = await read([f32('transformer_blocks.0.attn.add_q_proj.lora_A.weight', [16, 8], 1), f32('transformer_blocks.0.attn.add_q_proj.lora_B.weight', [8, 16], 2)]);
    expect(adapter.format).toBe('slideredit');
    expect(adapter.targets[0]).toMatchObject({ module: 'transformer_blocks.0.attn.add_q_proj', component: 'denoiser', source: { alpha: null } });
    expect((await loadDelta(reader, adapter.targets[0]!)).scale).toBe(1);
  });

  it('LoHa: (w1a w1b) * (w2a w2b) x alpha / rank, exactly', async () => {
    const t = [f32('lora_unet_a_to_q.hada_w1_a', [6, 3], 1), f32('lora_unet_a_to_q.hada_w1_b', [3, 5], 2), f32('lora_unet_a_to_q.hada_w2_a', [6, 3], 3), f32('lora_unet_a_to_q.hada_w2_b', [3, 5], 4), scalar('lora_unet_a_to_q.alpha', 1.5)];
    const { adapter, reader } = await read(t);
    expect(adapter.format).toBe('lycoris');
    expect(adapter.kinds).toEqual(['loha']);
    const d = await loadDelta(reader, adapter.targets[0]!);
    const p1 = mm(t[0]!.data as Float32Array, t[1]!.data as Float32Array, 6, 3, 5);
    const p2 = mm(t[2]!.data as Float32Array, t[3]!.data as Float32Array, 6, 3, 5);
    expect(d).toMatchObject({ kind: 'dense', out: 6, inFlat: 5, scale: 0.5 });
    close(denseOf(d), p1.map((v, i) => v * p2[i]!));
  });

  it('LoKr: kron(w1, w2_a w2_b), kron(w1_a w1_b, w2), and a 4-D w2 kernel, exactly', async () => {
    const kron = (a: ArrayLike<number>, ar: number, ac: number, b: ArrayLike<number>, br: number, bc: number) => {
      const out = new Float64Array(ar * br * ac * bc);
      for (let i = 0; i < ar; i++) for (let j = 0; j < ac; j++) for (let k = 0; k < br; k++) for (let l = 0; l < bc; l++) out[(i * br + k) * (ac * bc) + j * bc + l] = a[i * ac + j]! * b[k * bc + l]!;
      return out;
    };
    const t = [f32('lora_unet_m.lokr_w1', [2, 3], 1), f32('lora_unet_m.lokr_w2_a', [4, 2], 2), f32('lora_unet_m.lokr_w2_b', [2, 5], 3), scalar('lora_unet_m.alpha', 4)];
    const a = await read(t);
    const d = await loadDelta(a.reader, a.adapter.targets[0]!);
    expect(d).toMatchObject({ kind: 'dense', out: 8, inFlat: 15, scale: 2 });
    close(denseOf(d), kron(t[0]!.data, 2, 3, mm(t[1]!.data as Float32Array, t[2]!.data as Float32Array, 4, 2, 5), 4, 5));

    const u = [f32('lora_unet_m.lokr_w1_a', [2, 1], 4), f32('lora_unet_m.lokr_w1_b', [1, 3], 5), f32('lora_unet_m.lokr_w2', [4, 5], 6)];
    const b = await read(u);
    const e = await loadDelta(b.reader, b.adapter.targets[0]!);
    expect(e.scale).toBe(1); // no alpha: 1
    close(denseOf(e), kron(mm(u[0]!.data as Float32Array, u[1]!.data as Float32Array, 2, 1, 3), 2, 3, u[2]!.data, 4, 5));

    const v = [f32('lora_unet_c.lokr_w1', [2, 2], 7), f32('lora_unet_c.lokr_w2', [3, 4, 3, 3], 8)];
    const c = await read(v);
    expect(c.adapter.targets[0]).toMatchObject({ out: 6, inFlat: 72, kernel: [3, 3] });
    const k = await loadDelta(c.reader, c.adapter.targets[0]!);
    const expected = new Float64Array(6 * 72);
    for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) for (let p = 0; p < 3; p++) for (let q = 0; q < 4; q++) for (let s = 0; s < 9; s++) expected[(i * 3 + p) * 72 + (j * 4 + q) * 9 + s] = v[0]!.data[i * 2 + j]! * v[1]!.data[(p * 4 + q) * 9 + s]!;
    close(denseOf(k), expected);
  });

  it('keys that cannot be used: each with its reason, and the whole module refused', async () => {
    const { adapter } = await read([
      f32('transformer.a.lora_A.weight', [4, 8], 1),
      f32('transformer.a.lora_B.weight', [8, 4], 2),
      f32('transformer.a.lora_magnitude_vector', [8], 3),
      f32('transformer.b.lora_A.weight', [4, 8], 4),
      f32('transformer.c.lora_A.weight', [4, 8], 5),
      f32('transformer.c.lora_B.weight', [8, 3], 6),
      f32('lora_unet_d.lora_mid.weight', [4, 4, 3, 3], 7),
      f32('something_else', [1], 8),
    ]);
    expect(adapter.targets).toEqual([]);
    const reasons = Object.fromEntries(adapter.unused.map((u) => [u.key, u.reason]));
    expect(reasons['transformer.a.lora_A.weight']).toMatch(/DoRA/);
    expect(reasons['transformer.b.lora_A.weight']).toMatch(/incomplete module: has down/);
    expect(reasons['transformer.c.lora_B.weight']).toMatch(/factor shapes do not fit/);
    expect(reasons['lora_unet_d.lora_mid.weight']).toMatch(/Tucker/);
    expect(reasons.something_else).toMatch(/unknown name suffix/);
  });
});
