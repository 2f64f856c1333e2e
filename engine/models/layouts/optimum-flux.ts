/**
 * Optimum's FLUX layout (also the zoo's): model_index.json naming a Flux pipeline, transformer/,
 * text_encoder/ (CLIP), text_encoder_2/ (T5), vae_encoder/, vae_decoder/, tokenizer/,
 * tokenizer_2/, scheduler/. Constants come from the components' config.json files as diffusers
 * writes them; the zoo's atelier.json, when present, adds the name, defaults, text lengths and the
 * preview projection.
 *
 * Defaults without a manifest follow the models' published usage: FLUX.1-dev 28 steps, guidance
 * 3.5; schnell 4 steps, no guidance, T5 length 256; Kontext 28 steps, guidance 2.5; 1024 x 1024.
 */
import path from 'node:path';
import { existsSync } from 'node:fs';
import type { JobKind } from '../../protocol/index.js';
import { flowMatchConfigFromJson } from '../../schedulers/flow-match-euler.js';
import type { LatentRgbProjection } from '../../pipelines/flux/preview.js';
import type { FluxSpec } from '../../pipelines/flux/spec.js';
import { FLOAT_TYPES, INT_TYPES, NUMBER_TYPES, checkGraph } from '../graph-check.js';
import type { LayoutReport } from '../descriptor.js';
import { MANIFEST_FILE, readManifest, type AtelierManifest } from '../manifest.js';
import { numberAt, readJsonFile, stringAt, type JsonObject } from './json.js';

const FLUX_PIPELINES = new Set(['FluxPipeline', 'FluxKontextPipeline', 'FluxImg2ImgPipeline']);

export function isOptimumFlux(dir: string): boolean {
  const index = safeJson(path.join(dir, 'model_index.json'));
  const cls = stringAt(index, '_class_name');
  return (cls !== undefined && FLUX_PIPELINES.has(cls)) || existsSync(path.join(dir, 'transformer', 'model.onnx'));
}

function safeJson(file: string): JsonObject | null {
  try {
    return readJsonFile(file);
  } catch {
    return null;
  }
}

function parseProjection(value: unknown, channels: number): LatentRgbProjection | null {
  if (!value || typeof value !== 'object') return null;
  const { latent_rgb_factors: factors, latent_rgb_bias: bias } = value as Record<string, unknown>;
  const isRow = (r: unknown): r is number[] => Array.isArray(r) && r.length === 3 && r.every((x) => typeof x === 'number');
  if (!Array.isArray(factors) || factors.length !== channels || !factors.every(isRow) || !isRow(bias)) return null;
  return { factors, bias: [bias[0]!, bias[1]!, bias[2]!] };
}

function slug(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 100) || 'model';
}

export function describeOptimumFlux(dir: string, embedded: boolean): LayoutReport {
  const problems: string[] = [];
  const found: string[] = [];
  const read = (rel: string): JsonObject | null => {
    try {
      const json = readJsonFile(path.join(dir, rel));
      if (json) found.push(rel);
      return json;
    } catch (error) {
      problems.push(error instanceof Error ? error.message.replace(dir + path.sep, '') : String(error));
      return null;
    }
  };
  let manifest: AtelierManifest | null = null;
  if (existsSync(path.join(dir, MANIFEST_FILE))) {
    try {
      manifest = readManifest(dir);
      found.push(MANIFEST_FILE);
    } catch (error) {
      problems.push(error instanceof Error ? error.message : String(error));
    }
  }
  const index = read('model_index.json');
  const className = stringAt(index, '_class_name');
  const transformerConfig = read('transformer/config.json');
  const vaeConfig = read('vae_decoder/config.json') ?? read('vae_encoder/config.json');
  const schedulerConfig = read('scheduler/scheduler_config.json');
  if (!schedulerConfig) problems.push('scheduler/scheduler_config.json: missing');

  const graphs = {
    transformer: checkGraph(dir, 'transformer/model.onnx', {
      inputs: {
        hidden_states: FLOAT_TYPES,
        encoder_hidden_states: FLOAT_TYPES,
        pooled_projections: FLOAT_TYPES,
        timestep: NUMBER_TYPES,
        img_ids: NUMBER_TYPES,
        txt_ids: NUMBER_TYPES,
      },
      optionalInputs: { guidance: FLOAT_TYPES },
      outputs: [{ names: ['out_hidden_states', 'sample', 'latent'], types: FLOAT_TYPES }],
    }),
    clip: checkGraph(dir, 'text_encoder/model.onnx', {
      inputs: { input_ids: INT_TYPES },
      outputs: [{ names: ['pooler_output', 'text_embeds'], types: FLOAT_TYPES }],
    }),
    t5: checkGraph(dir, 'text_encoder_2/model.onnx', {
      inputs: { input_ids: INT_TYPES },
      outputs: [{ names: ['last_hidden_state'], types: FLOAT_TYPES }],
    }),
    vaeDecoder: checkGraph(dir, 'vae_decoder/model.onnx', {
      inputs: { latent_sample: FLOAT_TYPES },
      outputs: [{ names: ['sample'], types: FLOAT_TYPES }],
    }),
  };
  const hasEncoder = existsSync(path.join(dir, 'vae_encoder', 'model.onnx'));
  const vaeEncoder = hasEncoder
    ? checkGraph(dir, 'vae_encoder/model.onnx', {
        inputs: { sample: FLOAT_TYPES },
        outputs: [{ names: ['latent_parameters', 'latent_sample', 'latent_dist'], types: FLOAT_TYPES }],
      })
    : null;
  for (const [name, check] of Object.entries({ ...graphs, ...(vaeEncoder ? { vaeEncoder } : {}) })) {
    problems.push(...check.problems);
    if (check.signature) found.push(`${path.relative(dir, check.signature.file)} (${name})`);
  }
  for (const tokenizer of ['tokenizer', 'tokenizer_2']) {
    if (!existsSync(path.join(dir, tokenizer))) problems.push(`${tokenizer}/: missing`);
  }

  const kontext = manifest ? manifest.family === 'flux-kontext' : className === 'FluxKontextPipeline';
  if (kontext && !hasEncoder) problems.push('vae_encoder/model.onnx: missing (a Kontext model needs it to encode the source image)');
  const guidanceEmbedded = graphs.transformer.signature?.inputs.some((i) => i.name === 'guidance') ?? false;
  const schnell = !kontext && transformerConfig?.guidance_embeds === false;
  const channels = manifest?.latent_channels ?? numberAt(vaeConfig, 'latent_channels') ?? 16;
  const blockCount = Array.isArray(vaeConfig?.block_out_channels) ? vaeConfig.block_out_channels.length : 4;
  const vaeScaleFactor = manifest?.vae_scale_factor ?? 2 ** (blockCount - 1);
  const clipLength = manifest?.text.clip_max_length ?? numberAt(read('tokenizer/tokenizer_config.json'), 'model_max_length') ?? 77;
  const t5Length = manifest?.text.t5_max_length ?? (schnell ? 256 : 512);
  const size = manifest?.image_size ?? [1024, 1024];
  const defaults = manifest
    ? { steps: manifest.defaults.steps, guidance: manifest.defaults.guidance, width: size[0], height: size[1], scheduler: 'flow-euler' }
    : { steps: schnell ? 4 : 28, guidance: schnell ? 0 : kontext ? 2.5 : 3.5, width: 1024, height: 1024, scheduler: 'flow-euler' };
  const family = manifest?.family ?? (kontext ? 'flux-kontext' : schnell ? 'flux-schnell' : 'flux-dev');
  const name = manifest?.name ?? path.basename(dir);
  const tasks: JobKind[] = kontext ? ['generate', 'edit'] : ['generate'];

  if (problems.length > 0 || !schedulerConfig) return { layout: 'optimum-flux', found, problems, descriptor: null };
  const spec: FluxSpec = {
    pipeline: 'flux',
    kontext,
    files: {
      transformer: path.join(dir, 'transformer', 'model.onnx'),
      clip: path.join(dir, 'text_encoder', 'model.onnx'),
      t5: path.join(dir, 'text_encoder_2', 'model.onnx'),
      vaeEncoder: hasEncoder ? path.join(dir, 'vae_encoder', 'model.onnx') : null,
      vaeDecoder: path.join(dir, 'vae_decoder', 'model.onnx'),
    },
    tokenizerDirs: { clip: path.join(dir, 'tokenizer'), t5: path.join(dir, 'tokenizer_2') },
    scheduler: flowMatchConfigFromJson(schedulerConfig),
    channels,
    vaeScaleFactor,
    vae: {
      scalingFactor: manifest?.vae.scaling_factor ?? numberAt(vaeConfig, 'scaling_factor') ?? 0.3611,
      shiftFactor: manifest?.vae.shift_factor ?? numberAt(vaeConfig, 'shift_factor') ?? 0.1159,
    },
    clipLength,
    t5Length,
    guidanceEmbedded,
    preview: parseProjection(manifest ? readJsonFile(path.join(dir, MANIFEST_FILE))?.preview : undefined, channels),
  };
  return {
    layout: 'optimum-flux',
    found,
    problems,
    descriptor: {
      dir,
      spec,
      info: {
        id: slug(name),
        name,
        family,
        layout: manifest ? 'zoo' : 'optimum-flux',
        path: dir,
        embedded,
        tasks,
        defaults,
        schedulers: ['flow-euler'],
        negativePrompt: false,
        fixedSize: manifest !== null,
      },
    },
  };
}
