/**
 * Bake and live branches on the layout twins' real graphs (torch-exported scopes, anonymous
 * transposed MatMul weights, Gemm, 1x1 and 3x3 Conv, float16 weights behind Cast nodes, external
 * data), each checked against the graph patched the plain way (W + w (alpha/r) B A computed
 * directly): kohya, peft and SliderEdit names; several adapters at once; live scale 0 equal to the
 * base output bit for bit; removing adapters gives the base graph back.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openSession } from '../runtime/session.js';
import { tempDir } from '../testing/models.js';
import { copyTwin, type TwinName } from '../testing/twins.js';
import { denseDelta, feedsFor, loraFile, maxAbsDiff, randomLora, referenceModel, runOutput, scalarFeed, type LoraModule, type TestFormat } from '../testing/adapters.js';
import { coverage } from './coverage.js';
import { loadAdapterFile } from './loaded.js';
import { indexModules } from './mapping.js';
import { parseModel } from '../onnx/proto.js';
import { planGraph, AdapterScales, type AdapterSlot } from './stack.js';
import type { Component } from './model.js';

interface Case {
  twin: TwinName;
  graph: string;
  component: Component;
  prefix: string;
  modules: string[];
  shapes: Record<string, number[]>;
  /** float16 weights: the live branch computes in float32 while the bake rounds to float16 */
  float16?: boolean;
}

const FLUX_SHAPES = { hidden_states: [1, 16, 64], encoder_hidden_states: [1, 8, 32], pooled_projections: [1, 16], timestep: [1], img_ids: [16, 3], txt_ids: [8, 3], guidance: [1] };
const UNET_SHAPES = { sample: [1, 4, 8, 8], timestep: [1], encoder_hidden_states: [1, 8, 16] };

const CASES: Case[] = [
  {
    twin: 'flux-optimum',
    graph: 'transformer/model.onnx',
    component: 'denoiser',
    prefix: 'transformer.',
    // to_q/k/v and a single block's to_q + proj_mlp read the same input: grouped live branches
    modules: ['transformer_blocks.0.attn.to_q', 'transformer_blocks.0.attn.add_k_proj', 'single_transformer_blocks.0.proj_mlp', 'transformer_blocks.0.norm1.linear', 'x_embedder', 'transformer_blocks.0.ff_context.net.2', 'transformer_blocks.0.attn.to_k', 'transformer_blocks.0.attn.to_v', 'single_transformer_blocks.0.attn.to_q'],
    shapes: FLUX_SHAPES,
  },
  {
    twin: 'sd15-optimum-fp16',
    graph: 'unet/model.onnx',
    component: 'denoiser',
    prefix: 'unet.',
    modules: ['down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q', 'down_blocks.0.resnets.0.conv1', 'time_embedding.linear_1', 'down_blocks.0.attentions.0.proj_in'],
    shapes: UNET_SHAPES,
    float16: true,
  },
  {
    twin: 'sd15-diffusers',
    graph: 'unet/model.onnx',
    component: 'denoiser',
    prefix: 'unet.',
    modules: ['down_blocks.0.attentions.0.proj_in', 'down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k', 'conv_in', 'mid_block.resnets.0.conv2'],
    shapes: UNET_SHAPES,
  },
  {
    twin: 'sd15-diffusers',
    graph: 'text_encoder/model.onnx',
    component: 'text_encoder',
    prefix: 'text_encoder.',
    modules: ['text_model.encoder.layers.0.self_attn.q_proj', 'text_model.encoder.layers.0.self_attn.k_proj', 'text_model.encoder.layers.0.mlp.fc1', 'text_model.encoder.layers.1.self_attn.out_proj'],
    shapes: { input_ids: [1, 8] },
  },
  {
    twin: 'flux-optimum',
    graph: 'vae_decoder/model.onnx',
    component: 'vae',
    prefix: 'vae.',
    modules: ['decoder.up_blocks.0.resnets.0.conv1', 'decoder.conv_in', 'decoder.mid_block.attentions.0.to_q'],
    shapes: { latent_sample: [1, 16, 4, 4] },
  },
];

function patches(modules: LoraModule[], weight: number) {
  return modules.map((m) => ({ module: m.module, delta: denseDelta(m), coefficient: (weight * m.alpha) / m.rank }));
}

async function outputOf(file: string, shapes: Record<string, number[]>, extra = {}): Promise<Float32Array> {
  const session = await openSession(file, { provider: 'cpu' });
  try {
    return await runOutput(session, feedsFor(session, shapes), extra);
  } finally {
    await session.release();
  }
}

function tolerance(reference: Float32Array, relative: number): number {
  return relative * Math.max(1, ...Array.from(reference, Math.abs));
}

describe.each(CASES)('$twin $graph', (c) => {
  const dir = copyTwin(c.twin);
  const source = path.join(dir, c.graph);
  const cacheDir = tempDir();
  const formats: TestFormat[] = c.component === 'denoiser' ? ['kohya', 'peft', 'slideredit'] : c.component === 'text_encoder' ? ['kohya', 'peft'] : ['peft'];

  it.each(formats)('%s: maps every module; bake and live match W + w (alpha/r) B A', async (format) => {
    const lora = randomLora(source, c.modules, { rank: 4, alpha: format === 'slideredit' ? 4 : 2, seed: 3 }); // SliderEdit files carry no alpha: alpha = rank
    const file = path.join(tempDir(), `lora-${format}.safetensors`);
    const prefix = format === 'kohya' ? (c.component === 'text_encoder' ? 'lora_te_' : 'lora_unet_') : c.prefix;
    writeFileSync(file, loraFile(lora, format, { prefix }));
    const loaded = await loadAdapterFile(file);
    const index = indexModules(parseModel(new Uint8Array(readFileSync(source)), source));
    const { report } = coverage(loaded.adapter, [{ name: 'g', component: c.component, file: source, index }]);
    expect(report.entries.filter((e) => !e.mapped)).toEqual([]);
    expect(report.complete).toBe(true);

    const weight = 0.75;
    const base = await outputOf(source, c.shapes);
    const reference = await outputOf(referenceModel(source, patches(lora, weight), `ref-${format}.onnx`), c.shapes);
    expect(maxAbsDiff(base, reference)).toBeGreaterThan(1e-3); // the LoRA changes the output

    const baked = await planGraph(source, c.component, [{ loaded, weight, mode: 'bake', perToken: false }], cacheDir);
    const bakedOut = await outputOf(baked!.file, c.shapes);
    expect(maxAbsDiff(bakedOut, reference)).toBeLessThanOrEqual(tolerance(reference, c.float16 ? 2e-3 : 1e-5));

    const live = await planGraph(source, c.component, [{ loaded, weight, mode: 'live', perToken: false }], cacheDir);
    expect(live!.inputs).toEqual([{ adapterId: loaded.id, input: 'atelier_adapter_scale_0', perToken: false }]);
    const liveRef = c.float16 ? await outputOf(referenceModel(source, patches(lora, weight), `ref32-${format}.onnx`, { float32: true }), c.shapes) : reference;
    const liveOut = await outputOf(live!.file, c.shapes, scalarFeed('atelier_adapter_scale_0', weight));
    expect(maxAbsDiff(liveOut, liveRef)).toBeLessThanOrEqual(tolerance(liveRef, c.float16 ? 2e-3 : 1e-5));
    const zero = await outputOf(live!.file, c.shapes, scalarFeed('atelier_adapter_scale_0', 0));
    expect(maxAbsDiff(zero, base)).toBe(0);
  });

  it('stacks two adapters with their own weights; no adapters is the base graph', async () => {
    const a = randomLora(source, c.modules.slice(0, 2), { rank: 4, alpha: 4, seed: 5 });
    const b = randomLora(source, c.modules.slice(1), { rank: 2, alpha: 1, seed: 6 });
    const fa = path.join(tempDir(), 'a.safetensors');
    const fb = path.join(tempDir(), 'b.safetensors');
    writeFileSync(fa, loraFile(a, 'peft', { prefix: c.prefix }));
    writeFileSync(fb, loraFile(b, 'peft', { prefix: c.prefix }));
    const [la, lb] = await Promise.all([loadAdapterFile(fa), loadAdapterFile(fb)]);
    const reference = await outputOf(referenceModel(source, [...patches(a, 0.5), ...patches(b, -1.25)], 'ref-stack.onnx'), c.shapes);
    const slots = (mode: 'bake' | 'live'): AdapterSlot[] => [
      { loaded: la, weight: 0.5, mode, perToken: false },
      { loaded: lb, weight: -1.25, mode, perToken: false },
    ];
    const tol = tolerance(reference, c.float16 ? 3e-3 : 1e-5);
    const baked = await planGraph(source, c.component, slots('bake'), cacheDir);
    expect(maxAbsDiff(await outputOf(baked!.file, c.shapes), reference)).toBeLessThanOrEqual(tol);
    const live = await planGraph(source, c.component, slots('live'), cacheDir);
    const scales = new AdapterScales();
    scales.setWeight(la.id, 0.5);
    scales.setWeight(lb.id, -1.25);
    expect(maxAbsDiff(await outputOf(live!.file, c.shapes, scales.feeds(live!.inputs)), reference)).toBeLessThanOrEqual(tol);
    // mixed: a baked, b live
    const mixed = await planGraph(source, c.component, [slots('bake')[0]!, slots('live')[1]!], cacheDir);
    expect(mixed!.inputs.map((i) => i.adapterId)).toEqual([lb.id]);
    expect(maxAbsDiff(await outputOf(mixed!.file, c.shapes, scales.feeds(mixed!.inputs)), reference)).toBeLessThanOrEqual(tol);
    expect(await planGraph(source, c.component, [], cacheDir)).toBeNull();
  });
});

describe('per-token scales (SliderEdit) on the FLUX twin text stream', () => {
  const dir = copyTwin('flux-optimum');
  const source = path.join(dir, 'transformer/model.onnx');
  const shapes = CASES[0]!.shapes;
  const T = shapes.encoder_hidden_states![1]!;

  it('a uniform vector equals the scalar scale, zeros give the base exactly, a span changes the output', async () => {
    const modules = ['transformer_blocks.0.attn.add_q_proj', 'transformer_blocks.0.attn.add_k_proj', 'transformer_blocks.0.attn.add_v_proj', 'transformer_blocks.0.attn.to_add_out', 'transformer_blocks.0.ff_context.net.0.proj', 'transformer_blocks.0.ff_context.net.2'];
    const file = path.join(tempDir(), 'st.safetensors');
    writeFileSync(file, loraFile(randomLora(source, modules, { rank: 4, alpha: 4, seed: 8, scale: 0.5 }), 'slideredit'));
    const loaded = await loadAdapterFile(file);
    const cacheDir = tempDir();
    const perToken = await planGraph(source, 'denoiser', [{ loaded, weight: 1, mode: 'live', perToken: true }], cacheDir);
    const scalar = await planGraph(source, 'denoiser', [{ loaded, weight: 1, mode: 'live', perToken: false }], cacheDir);
    const scales = new AdapterScales();
    scales.setWeight(loaded.id, 0.8);
    scales.setTokenScales(loaded.id, new Float32Array(T).fill(1));
    const uniform = await outputOf(perToken!.file, shapes, scales.feeds(perToken!.inputs));
    expect(perToken!.inputs[0]!.perToken).toBe(true);
    expect(scales.feeds(perToken!.inputs)[perToken!.inputs[0]!.input]!.dims).toEqual([1, T, 1]);
    expect(maxAbsDiff(uniform, await outputOf(scalar!.file, shapes, scalarFeed('atelier_adapter_scale_0', 0.8)))).toBeLessThan(1e-6);
    scales.setTokenScales(loaded.id, new Float32Array(T));
    expect(maxAbsDiff(await outputOf(perToken!.file, shapes, scales.feeds(perToken!.inputs)), await outputOf(source, shapes))).toBe(0);
    const span = new Float32Array(T);
    span.set([1, 1], 2);
    scales.setTokenScales(loaded.id, span);
    expect(maxAbsDiff(await outputOf(perToken!.file, shapes, scales.feeds(perToken!.inputs)), await outputOf(source, shapes))).toBeGreaterThan(1e-4);
    // prompt-only (SliderEdit): a classifier-free guidance negative pass runs the base exactly
    const input = perToken!.inputs[0]!.input;
    expect(scales.feeds(perToken!.inputs, 'negative')[input]!.data).toEqual(scales.feeds(perToken!.inputs, 'prompt')[input]!.data);
    scales.setPromptOnly(loaded.id, true);
    expect(maxAbsDiff(await outputOf(perToken!.file, shapes, scales.feeds(perToken!.inputs, 'negative')), await outputOf(source, shapes))).toBe(0);
    expect(maxAbsDiff(await outputOf(perToken!.file, shapes, scales.feeds(perToken!.inputs, 'prompt')), await outputOf(source, shapes))).toBeGreaterThan(1e-4);
    // a guided step batching both passes: one row of scales per pass; a scalar scale that differs
    // between the passes cannot be shared by one run
    const both = scales.batchFeeds(perToken!.inputs, ['prompt', 'negative'])![input]!;
    expect(both.dims).toEqual([2, T, 1]);
    expect(Array.from(both.data as Float32Array)).toEqual([...span.map((v) => v * 0.8), ...new Array<number>(T).fill(0)]);
    expect(scales.batchFeeds(scalar!.inputs, ['prompt', 'negative'])).toBeNull();
    expect(scales.batchFeeds(scalar!.inputs, ['prompt', 'prompt'])![input]!.dims).toEqual([1]);
    scales.setTokenScales(loaded.id, null);
    expect(scales.batchFeeds(perToken!.inputs, ['prompt', 'negative'])![input]!.dims).toEqual([2, 1, 1]);
    scales.setTokenScales(loaded.id, span);
    scales.setPromptOnly(loaded.id, false);
    expect(scales.batchFeeds(scalar!.inputs, ['prompt', 'negative'])![input]!.data).toEqual(Float32Array.of(0.8));
    expect(scales.feeds(perToken!.inputs, 'negative')[input]!.data).toEqual(span.map((v) => v * 0.8));

    const image = path.join(tempDir(), 'img.safetensors');
    writeFileSync(image, loraFile(randomLora(source, ['transformer_blocks.0.attn.to_q'], { rank: 2 }), 'slideredit'));
    await expect(planGraph(source, 'denoiser', [{ loaded: await loadAdapterFile(image), weight: 1, mode: 'live', perToken: true }], cacheDir)).rejects.toThrow(/per-token scale needs every layer to run over the text tokens; 1 do not \(e\.g\. transformer_blocks\.0\.attn\.to_q\)/);
  });
});
