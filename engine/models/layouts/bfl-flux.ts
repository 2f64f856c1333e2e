/**
 * Black Forest Labs' FLUX ONNX exports (black-forest-labs/FLUX.1-dev-onnx, FLUX.1-schnell-onnx,
 * FLUX.1-Kontext-dev-onnx): clip.opt/, t5.opt/, transformer.opt/{bf16,fp8,fp4}/, vae.opt/ and, for
 * Kontext, vae_encoder.opt/, each with model.onnx (large weights in backbone.onnx_data). Made for
 * TensorRT (BFL's flux/trt code), so:
 * - no tokenizers, scheduler or model_index: tokenizer/ and tokenizer_2/ must be copied in (the
 *   problem says from where); the scheduler is FLUX.1's published flow-matching config;
 * - bfloat16 graph I/O (transformer, VAE), which onnxruntime-node cannot open: prepared at load
 *   (runtime/graph-cache.ts); img_ids (L, 3) / txt_ids (512, 3) without batch; output `latent`;
 *   the VAE's scale and shift applied outside the graphs (0.3611, 0.1159: BFL src/flux/util.py);
 * - fp8 / fp4 transformers are TensorRT-only (ModelOpt's custom `trt` operators, FLOAT8 / FP4
 *   weights): detected and explained; bf16 is used when present.
 * Family: Kontext when vae_encoder.opt/ is there (only the Kontext repository ships it), schnell
 * when the transformer takes no guidance, else dev. Sizes and lengths come from the graphs.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { JobKind } from '../../protocol/index.js';
import { readGraphSignature, type GraphSignature } from '../../onnx/signature.js';
import { FLUX_DEFAULTS, flowMatchConfigFromJson } from '../../schedulers/flow-match-euler.js';
import { FLUX_LATENT_RGB } from '../../pipelines/latent-rgb.js';
import type { FluxSpec } from '../../pipelines/flux/spec.js';
import { FLOAT_TYPES, INT_TYPES, NUMBER_TYPES } from '../graph-check.js';
import type { LayoutReport } from '../descriptor.js';
import { FolderInspector, fixedDim, fluxDefaults, inputOf, outputOf, slug } from './common.js';

const MARKERS = ['transformer.opt', 'clip.opt', 't5.opt', 'vae.opt'];

/** Where to get the tokenizers BFL's repositories do not ship. */
export const BFL_TOKENIZER_HELP =
  "Black Forest Labs' ONNX exports ship no tokenizers: copy the folders tokenizer/ (CLIP, as in openai/clip-vit-large-patch14) and tokenizer_2/ (T5, as in google/t5-v1_1-xxl) from the Hugging Face repository black-forest-labs/FLUX.1-schnell (the same files are in FLUX.1-dev) into this folder";

export function isBflFlux(dir: string): boolean {
  return MARKERS.some((m) => existsSync(path.join(dir, m)));
}

const STANDARD_DOMAINS = new Set(['ai.onnx', '', 'ai.onnx.ml', 'com.microsoft', 'ai.onnx.training', 'ai.onnx.preview.training']);
const PREFERRED = ['bf16', 'fp16', 'fp32'];

interface Variant {
  name: string;
  rel: string;
  signature: GraphSignature | null;
  /** Why ONNX Runtime's CPU/CUDA providers cannot run it, or null. */
  tensorRtOnly: string | null;
}

function tensorRtReason(signature: GraphSignature | null): string | null {
  if (!signature) return null;
  const custom = Object.keys(signature.opsets).filter((d) => !STANDARD_DOMAINS.has(d));
  if (custom.length > 0) return `it uses TensorRT's own operators (domain ${custom.map((d) => `"${d}"`).join(', ')}), which ONNX Runtime's CPU and CUDA providers do not have`;
  const exotic = [...signature.inputs, ...signature.outputs].filter((v) => /^float8|^float4|^onnx-type-/.test(v.type));
  if (exotic.length > 0) return `its inputs/outputs are ${[...new Set(exotic.map((v) => v.type))].join(', ')}, which onnxruntime-node cannot feed`;
  return null;
}

function transformerVariants(f: FolderInspector): Variant[] {
  const root = f.path('transformer.opt');
  if (!existsSync(root) || !statSync(root).isDirectory()) return [];
  return readdirSync(root)
    .filter((name) => existsSync(path.join(root, name, 'model.onnx')))
    .map((name) => {
      const rel = `transformer.opt/${name}/model.onnx`;
      let signature: GraphSignature | null = null;
      try {
        signature = readGraphSignature(f.path(rel));
      } catch {
        signature = null; // reported when this variant is checked
      }
      return { name, rel, signature, tensorRtOnly: tensorRtReason(signature) };
    })
    .sort((a, b) => rank(a.name) - rank(b.name));
}

function rank(name: string): number {
  const i = PREFERRED.indexOf(name);
  return i === -1 ? PREFERRED.length : i;
}

/** Picks the transformer variant to run and notes (or, if none can run, reports) the others. */
function pickTransformer(f: FolderInspector): Variant | null {
  const variants = transformerVariants(f);
  if (variants.length === 0) {
    f.problems.push('transformer.opt/bf16/model.onnx: missing (download transformer.opt/bf16/ from the same repository)');
    return null;
  }
  const usable = variants.find((v) => v.tensorRtOnly === null) ?? null;
  for (const v of variants) {
    if (v === usable) continue;
    if (v.tensorRtOnly) f.notes.push(`${v.rel}: a ${v.name} export for TensorRT: ${v.tensorRtOnly}; not used`);
    else f.notes.push(`${v.rel}: not used (${usable?.rel ?? '?'} is)`);
  }
  if (!usable) {
    const only = variants.map((v) => `${v.rel}: ${v.tensorRtOnly}`).join('; ');
    f.problems.push(`no transformer ONNX Runtime can run: ${only}; download transformer.opt/bf16/ (model.onnx and backbone.onnx_data) from the same repository`);
    return null;
  }
  if (!PREFERRED.includes(usable.name)) {
    f.notes.push(`${usable.rel}: a ${usable.name} export, made for TensorRT; ONNX Runtime may refuse it (the load error will say so) or run it slowly; transformer.opt/bf16/ is the dependable choice`);
  }
  return usable;
}

function bf16Note(f: FolderInspector, rel: string, signature: GraphSignature | null): void {
  const names = [...(signature?.inputs ?? []), ...(signature?.outputs ?? [])].filter((v) => v.type === 'bfloat16').map((v) => v.name);
  if (names.length > 0) f.notes.push(`${rel}: bfloat16 ${names.join(', ')}: rewritten to float32 I/O with Cast nodes when loaded (cached in the data folder)`);
}

export function describeBflFlux(dir: string, embedded: boolean): LayoutReport {
  const f = new FolderInspector(dir);
  const variant = pickTransformer(f);
  const transformer = variant
    ? f.graph(variant.rel, 'transformer', {
        inputs: {
          hidden_states: FLOAT_TYPES,
          encoder_hidden_states: FLOAT_TYPES,
          pooled_projections: FLOAT_TYPES,
          timestep: NUMBER_TYPES,
          img_ids: NUMBER_TYPES,
          txt_ids: NUMBER_TYPES,
        },
        optionalInputs: { guidance: NUMBER_TYPES },
        outputs: [{ names: ['latent', 'out_hidden_states'], types: FLOAT_TYPES }],
      })
    : null;
  const clip = f.graph('clip.opt/model.onnx', 'CLIP', { inputs: { input_ids: INT_TYPES }, outputs: [{ names: ['pooled_embeddings', 'pooler_output', 'text_embeds'], types: FLOAT_TYPES }] });
  const t5 = f.graph('t5.opt/model.onnx', 'T5', { inputs: { input_ids: INT_TYPES }, outputs: [{ names: ['text_embeddings', 'last_hidden_state'], types: FLOAT_TYPES }] });
  const vae = f.graph('vae.opt/model.onnx', 'VAE decoder', { inputs: { latent: FLOAT_TYPES }, outputs: [{ names: ['images'], types: FLOAT_TYPES }] });
  const hasEncoder = f.exists('vae_encoder.opt/model.onnx');
  const vaeEncoder = hasEncoder ? f.graph('vae_encoder.opt/model.onnx', 'VAE encoder', { inputs: { images: FLOAT_TYPES }, outputs: [{ names: ['latent'], types: FLOAT_TYPES }] }) : null;
  if (f.exists('t5-fp8.opt')) f.notes.push('t5-fp8.opt/: an FP8 T5 for TensorRT; not used (t5.opt/ is)');
  if (!f.exists('tokenizer') || !f.exists('tokenizer_2')) {
    const missing = ['tokenizer', 'tokenizer_2'].filter((t) => !f.exists(t)).map((t) => `${t}/`);
    f.problems.push(`${missing.join(' and ')}: missing. ${BFL_TOKENIZER_HELP}`);
  } else f.found.push('tokenizer/', 'tokenizer_2/');
  const schedulerJson = f.json('scheduler/scheduler_config.json');
  if (!schedulerJson) f.notes.push("no scheduler/scheduler_config.json (BFL ships none): FLUX.1's flow-matching values are used (shift 0.5-1.15 over 256-4096 tokens)");

  for (const [rel, sig] of [
    [variant?.rel ?? '', transformer],
    ['vae.opt/model.onnx', vae],
    ['vae_encoder.opt/model.onnx', vaeEncoder],
    ['clip.opt/model.onnx', clip],
    ['t5.opt/model.onnx', t5],
  ] as const) {
    bf16Note(f, rel, sig);
  }

  const name = path.basename(dir);
  const kontextNamed = /kontext/i.test(name);
  if (kontextNamed && !hasEncoder) f.problems.push('vae_encoder.opt/model.onnx: missing (a Kontext export needs it to encode the source image)');
  const kontext = hasEncoder;
  const guidanceEmbedded = inputOf(transformer, 'guidance') !== undefined;
  const schnell = !kontext && transformer !== null && !guidanceEmbedded;
  const t5Length = fixedDim(inputOf(t5, 'input_ids'), 1) ?? fixedDim(inputOf(transformer, 'txt_ids'), 0) ?? (schnell ? 256 : 512);
  const txtIds = fixedDim(inputOf(transformer, 'txt_ids'), 0);
  if (txtIds !== null && txtIds !== t5Length) f.problems.push(`${variant?.rel}: txt_ids has ${txtIds} rows but t5.opt takes ${t5Length} tokens`);
  const clipLength = fixedDim(inputOf(clip, 'input_ids'), 1) ?? 77;
  const channels = fixedDim(inputOf(vae, 'latent'), 1) ?? 16;
  const family = kontext ? 'flux-kontext' : schnell ? 'flux-schnell' : 'flux-dev';
  f.notes.push(`family ${family}: ${kontext ? 'vae_encoder.opt/ present (only the Kontext export has it)' : schnell ? 'the transformer takes no guidance' : 'guidance-embedded transformer, no vae_encoder.opt/'}`);
  if (!transformer || !clip || !t5 || !vae || !variant) return f.report('bfl-flux', null);

  const spec: FluxSpec = {
    pipeline: 'flux',
    kontext,
    files: {
      transformer: f.path(variant.rel),
      clip: f.path('clip.opt/model.onnx'),
      t5: f.path('t5.opt/model.onnx'),
      vaeEncoder: hasEncoder ? f.path('vae_encoder.opt/model.onnx') : null,
      vaeDecoder: f.path('vae.opt/model.onnx'),
    },
    io: {
      clipPooled: outputOf(clip, ['pooled_embeddings', 'pooler_output', 'text_embeds'])!.name,
      t5Hidden: outputOf(t5, ['text_embeddings', 'last_hidden_state'])!.name,
      transformerOutput: outputOf(transformer, ['latent', 'out_hidden_states'])!.name,
      idsBatched: inputOf(transformer, 'img_ids')?.shape?.length === 3,
      vaeDecoder: { input: 'latent', output: 'images' },
      vaeEncoder: hasEncoder ? { input: 'images', output: 'latent', sampled: true } : null,
    },
    tokenizerDirs: { clip: f.path('tokenizer'), t5: f.path('tokenizer_2') },
    scheduler: schedulerJson ? flowMatchConfigFromJson(schedulerJson) : FLUX_DEFAULTS,
    channels,
    vaeScaleFactor: 8,
    vae: { scalingFactor: 0.3611, shiftFactor: 0.1159 },
    clipLength,
    t5Length,
    guidanceEmbedded,
    trueCfg: false,
    preview: channels === 16 ? FLUX_LATENT_RGB : null,
  };
  const tasks: JobKind[] = kontext ? ['generate', 'edit'] : ['generate'];
  return f.report('bfl-flux', {
    dir,
    spec,
    info: {
      id: slug(name),
      name,
      family,
      layout: 'bfl-flux',
      path: dir,
      embedded,
      tasks,
      defaults: fluxDefaults({ schnell, kontext }),
      schedulers: ['flow-euler'],
      negativePrompt: false,
      fixedSize: false,
    },
  });
}
