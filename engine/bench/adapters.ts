/**
 * `bench adapters`:
 * - ratio: a denoising step of the default model's transformer with an adapter as live branches
 *   (scale inputs fed every run) divided by the same step with the adapter baked in, both the bare
 *   session.run on the inputs a Kontext edit step feeds (target + context tokens), in alternating
 *   rounds (21, the order flipped every round) with one session open at a time (as in the engine:
 *   a second session's idle thread pool competes for the cores), median of the rounds' ratios
 *   (goal <= 1.10). The adapter is the zoo's `style` LoRA
 *   (models/tiny/adapters) or, where the zoo has not built it, random factors of the same rank on
 *   the same modules (every double block's attention and text feed-forward, every single block's
 *   q, k, v, proj_mlp).
 * - bake_seconds_sd15: baking a synthetic rank-16 LoRA over SD 1.5's 192 UNet attention-block layers
 *   (proj_in/out, attn1, attn2, ff; 320/640/1280 wide, 768-wide text) into a synthetic float32
 *   graph of those layers with external data (1.07 GB of weights): parse, read each weight by
 *   offset, add the delta, write the patched data, write the graph. A fresh cache; the base data is
 *   in the page cache (it was just written).
 */
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bakeGraph } from '../adapters/bake.js';
import { loadAdapterFile } from '../adapters/loaded.js';
import { encodeSafetensors, type TensorToWrite } from '../adapters/safetensors.js';
import { planGraph, AdapterScales } from '../adapters/stack.js';
import { describeModelFolder } from '../models/detect.js';
import { gaussianNoise } from '../noise/philox.js';
import { entry } from '../onnx/graph.js';
import { DataType, buildModel, node, parseModel, serializeModel, valueInfo, type TensorProto } from '../onnx/proto.js';
import { indexModules } from '../adapters/mapping.js';
import { embeddedModelDir } from '../paths.js';
import { FluxPipeline } from '../pipelines/flux/pipeline.js';
import { openSession, type ModelSession } from '../runtime/session.js';
import type { OrtFeeds } from '../runtime/ort.js';
import { create } from '@bufbuild/protobuf';
import { TensorProtoSchema } from 'onnx-buf';
import { BENCH_PROMPT } from './bare-step.js';
import { median, type Figures } from './report.js';

const RUNS_PER_ROUND = 30;

async function stepMs(session: ModelSession, feeds: OrtFeeds, runs: number): Promise<number> {
  const raw = session.raw;
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await raw.run(feeds);
    times.push(performance.now() - t);
  }
  return median(times);
}

function styleModules(layers: number, singles: number): string[] {
  const d = ['attn.to_q', 'attn.to_k', 'attn.to_v', 'attn.add_q_proj', 'attn.add_k_proj', 'attn.add_v_proj', 'attn.to_add_out', 'ff_context.net.0.proj', 'ff_context.net.2'];
  const s = ['attn.to_q', 'attn.to_k', 'attn.to_v', 'proj_mlp'];
  return [...Array.from({ length: layers }, (_, i) => d.map((m) => `transformer_blocks.${i}.${m}`)).flat(), ...Array.from({ length: singles }, (_, i) => s.map((m) => `single_transformer_blocks.${i}.${m}`)).flat()];
}

/** The zoo's style LoRA, or random rank-8 factors on the same modules of this transformer. */
async function benchAdapterFile(modelDir: string, transformer: string, work: string): Promise<{ file: string; origin: string }> {
  const zoo = path.join(modelDir, '..', 'adapters', 'style.peft.safetensors');
  if (existsSync(zoo)) return { file: zoo, origin: 'zoo style LoRA' };
  const sites = indexModules(parseModel(new Uint8Array(readFileSync(transformer)), transformer)).sites;
  const layers = new Set([...sites.keys()].filter((m) => m.startsWith('transformer_blocks.')).map((m) => m.split('.')[1])).size;
  const singles = new Set([...sites.keys()].filter((m) => m.startsWith('single_transformer_blocks.')).map((m) => m.split('.')[1])).size;
  const tensors: TensorToWrite[] = [];
  let seed = 1;
  for (const module of styleModules(layers, singles)) {
    const site = sites.get(module);
    if (!site) continue;
    tensors.push({ name: `transformer.${module}.lora_A.weight`, dtype: 'F32', shape: [8, site.in], data: gaussianNoise(seed++, 8 * site.in) });
    tensors.push({ name: `transformer.${module}.lora_B.weight`, dtype: 'F32', shape: [site.out, 8], data: Float32Array.from(gaussianNoise(seed++, site.out * 8), (v) => v * 0.01) });
  }
  const file = path.join(work, 'style-synthetic.safetensors');
  writeFileSync(file, encodeSafetensors(tensors));
  return { file, origin: 'random rank-8 factors on the zoo style LoRA modules' };
}

async function liveOverBaked(modelDir: string, rounds: number, work: string): Promise<Figures> {
  const descriptor = describeModelFolder(modelDir, true);
  const pipeline = await FluxPipeline.load(descriptor, 'cpu', { graphCacheDir: path.join(work, 'graphs') });
  try {
    const transformer = pipeline.adapters.graphs().find((g) => g.component === 'denoiser')!.file;
    const { file, origin } = await benchAdapterFile(modelDir, transformer, work);
    const loaded = await loadAdapterFile(file);
    const cacheDir = path.join(work, 'adapters');
    const baked = await planGraph(transformer, 'denoiser', [{ loaded, weight: 1, mode: 'bake', perToken: false }], cacheDir);
    const live = await planGraph(transformer, 'denoiser', [{ loaded, weight: 1, mode: 'live', perToken: false }], cacheDir);
    const { width, height } = descriptor.info.defaults;
    const h = height / 8;
    const w = width / 8;
    const step = await pipeline.stepInputs(BENCH_PROMPT, new Float32Array((h / 2) * (w / 2) * 64), { width, height, guidance: 2.5 });
    await pipeline.release(); // one denoiser session alive at a time, as in the engine
    const feeds = step.feeds(gaussianNoise(1, step.tokens * step.features), 0.7);
    const scales = new AdapterScales();
    scales.setWeight(loaded.id, 1);
    const liveFeeds = { ...feeds, ...scales.feeds(live!.inputs) };
    /** Opens a graph alone (another session's idle threads would compete), warms it up, times it. */
    const timed = async (file: string, f: OrtFeeds): Promise<number> => {
      const session = await openSession(file, { provider: 'cpu' });
      try {
        await stepMs(session, f, 3);
        return await stepMs(session, f, RUNS_PER_ROUND);
      } finally {
        await session.release();
      }
    };
    const bakedMs: number[] = [];
    const liveMs: number[] = [];
    const ratios: number[] = [];
    for (let r = 0; r < rounds; r++) {
      // the order flips every round, so a drift in the machine's speed does not favour either
      if (r % 2 === 0) {
        bakedMs.push(await timed(baked!.file, feeds));
        liveMs.push(await timed(live!.file, liveFeeds));
      } else {
        liveMs.push(await timed(live!.file, liveFeeds));
        bakedMs.push(await timed(baked!.file, feeds));
      }
      ratios.push(liveMs.at(-1)! / bakedMs.at(-1)!);
    }
    return {
      model: descriptor.info.name,
      adapter: origin,
      adapter_modules: loaded.adapter.targets.length,
      adapter_rank: loaded.adapter.ranks.join(','),
      tokens: step.tokens * 2,
      rounds,
      baked_step_ms: median(bakedMs),
      live_step_ms: median(liveMs),
      ratio: median(ratios),
      goal_ratio: 1.1,
    };
  } finally {
    await pipeline.release();
  }
}

/** SD 1.5's UNet attention-block layers: (module, in, out, conv 1x1). */
export function sd15Layers(): Array<{ module: string; in: number; out: number; conv: boolean }> {
  const blocks: Array<[string, number]> = [];
  for (const [i, d] of [320, 640, 1280].entries()) for (const a of [0, 1]) blocks.push([`down_blocks.${i}.attentions.${a}`, d]);
  blocks.push(['mid_block.attentions.0', 1280]);
  for (const [i, d] of [1280, 640, 320].entries()) for (const a of [0, 1, 2]) blocks.push([`up_blocks.${i + 1}.attentions.${a}`, d]);
  const layers: Array<{ module: string; in: number; out: number; conv: boolean }> = [];
  for (const [b, d] of blocks) {
    const t = `${b}.transformer_blocks.0`;
    layers.push({ module: `${b}.proj_in`, in: d, out: d, conv: true });
    for (const m of ['attn1.to_q', 'attn1.to_k', 'attn1.to_v', 'attn1.to_out.0', 'attn2.to_q', 'attn2.to_out.0']) layers.push({ module: `${t}.${m}`, in: d, out: d, conv: false });
    for (const m of ['attn2.to_k', 'attn2.to_v']) layers.push({ module: `${t}.${m}`, in: 768, out: d, conv: false });
    layers.push({ module: `${t}.ff.net.0.proj`, in: d, out: 8 * d, conv: false });
    layers.push({ module: `${t}.ff.net.2`, in: 4 * d, out: d, conv: false });
    layers.push({ module: `${b}.proj_out`, in: d, out: d, conv: true });
  }
  return layers;
}

/** A float32 graph of SD 1.5's attention-block layers (external data) and a rank-16 LoRA over all of them. */
function syntheticSd15(dir: string): { graph: string; lora: string; bytes: number } {
  const layers = sd15Layers();
  const data = path.join(dir, 'weights.pb');
  const fd = openSync(data, 'w');
  let offset = 0;
  const initializers: TensorProto[] = [];
  const nodes = [];
  const inputs = new Map<number, ReturnType<typeof valueInfo>>();
  const outputs = [];
  const zeros = new Uint8Array(1 << 24);
  for (const [i, l] of layers.entries()) {
    const dims = l.conv ? [l.out, l.in, 1, 1] : [l.in, l.out];
    const bytes = l.in * l.out * 4;
    const name = l.conv ? `${l.module}.weight` : `onnx::MatMul_${1000 + i}`;
    const t = create(TensorProtoSchema, { name, dims: dims.map(BigInt), dataType: DataType.FLOAT, dataLocation: 1, externalData: [entry('location', 'weights.pb'), entry('offset', String(offset)), entry('length', String(bytes))] });
    initializers.push(t);
    for (let done = 0; done < bytes; ) done += writeSync(fd, zeros, 0, Math.min(zeros.length, bytes - done), offset + done);
    offset += bytes;
    const x = l.conv ? `x_conv_${l.in}` : `x_${l.in}`;
    if (!inputs.has(l.conv ? -l.in : l.in)) inputs.set(l.conv ? -l.in : l.in, valueInfo(x, DataType.FLOAT, l.conv ? ['b', l.in, 'h', 'w'] : ['b', 't', l.in]));
    const y = `y_${i}`;
    nodes.push(node(l.conv ? 'Conv' : 'MatMul', [x, name], [y], `/${l.module.replace(/\./g, '/')}/${l.conv ? 'Conv' : 'MatMul'}`));
    outputs.push(valueInfo(y, DataType.FLOAT, l.conv ? ['b', l.out, 'h', 'w'] : ['b', 't', l.out]));
  }
  closeSync(fd);
  const graph = path.join(dir, 'model.onnx');
  writeFileSync(graph, serializeModel(buildModel({ inputs: [...inputs.values()], outputs, nodes, initializers })));
  const tensors: TensorToWrite[] = [];
  let seed = 100;
  for (const l of layers) {
    const k = `lora_unet_${l.module.replace(/\./g, '_')}`;
    tensors.push({ name: `${k}.lora_down.weight`, dtype: 'F32', shape: l.conv ? [16, l.in, 1, 1] : [16, l.in], data: gaussianNoise(seed++, 16 * l.in) });
    tensors.push({ name: `${k}.lora_up.weight`, dtype: 'F32', shape: l.conv ? [l.out, 16, 1, 1] : [l.out, 16], data: gaussianNoise(seed++, 16 * l.out) });
    tensors.push({ name: `${k}.alpha`, dtype: 'F32', shape: [], data: Float32Array.of(8) });
  }
  const lora = path.join(dir, 'sd15-lora.safetensors');
  writeFileSync(lora, encodeSafetensors(tensors));
  return { graph, lora, bytes: offset };
}

async function bakeSd15(work: string): Promise<Figures> {
  const dir = path.join(work, 'sd15');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const { graph, lora, bytes } = syntheticSd15(dir);
  const loaded = await loadAdapterFile(lora);
  const result = await bakeGraph({ cacheDir: path.join(work, 'sd15-cache'), source: graph, component: 'denoiser', uses: [{ loaded, weight: 1 }] });
  return { bake_seconds_sd15: result.seconds, bake_sd15_layers: result.patched, bake_sd15_weight_mb: bytes / 1e6, bake_sd15_rank: 16 };
}

export async function benchAdapters(options: { modelDir?: string; rounds?: number } = {}): Promise<Figures> {
  const work = mkdtempSync(path.join(os.tmpdir(), 'atelier-bench-adapters-'));
  try {
    const live = await liveOverBaked(options.modelDir ?? embeddedModelDir(), options.rounds ?? 21, work);
    const bake = await bakeSd15(work);
    return { suite: 'adapters', ...live, ...bake };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
