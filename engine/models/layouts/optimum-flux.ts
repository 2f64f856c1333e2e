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
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { JobKind } from '../../protocol/index.js';
import { flowMatchConfigFromJson } from '../../schedulers/flow-match-euler.js';
import { FLUX_LATENT_RGB } from '../../pipelines/latent-rgb.js';
import type { FluxSpec } from '../../pipelines/flux/spec.js';
import { FLOAT_TYPES, INT_TYPES, NUMBER_TYPES } from '../graph-check.js';
import type { LayoutReport } from '../descriptor.js';
import { MANIFEST_FILE, readManifest, type AtelierManifest } from '../manifest.js';
import { FolderInspector, fixedDim, fluxDefaults, inputOf, outputOf, parseProjection, safeJson, slug } from './common.js';
import { numberAt, readJsonFile, stringAt } from './json.js';

const FLUX_PIPELINES = new Set(['FluxPipeline', 'FluxKontextPipeline', 'FluxImg2ImgPipeline']);

export function isOptimumFlux(dir: string): boolean {
  const cls = stringAt(safeJson(path.join(dir, 'model_index.json')), '_class_name');
  return (cls !== undefined && FLUX_PIPELINES.has(cls)) || existsSync(path.join(dir, 'transformer', 'model.onnx'));
}

export function describeOptimumFlux(dir: string, embedded: boolean): LayoutReport {
  const f = new FolderInspector(dir);
  let manifest: AtelierManifest | null = null;
  if (f.exists(MANIFEST_FILE)) {
    try {
      manifest = readManifest(dir);
      f.found.push(MANIFEST_FILE);
    } catch (error) {
      f.problems.push(error instanceof Error ? error.message : String(error));
    }
  }
  const index = f.json('model_index.json');
  const className = stringAt(index, '_class_name');
  const transformerConfig = f.json('transformer/config.json');
  const vaeConfig = f.json('vae_decoder/config.json') ?? f.json('vae_encoder/config.json');
  const schedulerConfig = f.json('scheduler/scheduler_config.json');
  if (!schedulerConfig) f.problems.push('scheduler/scheduler_config.json: missing');

  const transformer = f.graph('transformer/model.onnx', 'transformer', {
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
  });
  const clip = f.graph('text_encoder/model.onnx', 'CLIP', { inputs: { input_ids: INT_TYPES }, outputs: [{ names: ['pooler_output', 'text_embeds'], types: FLOAT_TYPES }] });
  const t5 = f.graph('text_encoder_2/model.onnx', 'T5', { inputs: { input_ids: INT_TYPES }, outputs: [{ names: ['last_hidden_state'], types: FLOAT_TYPES }] });
  const vaeDecoder = f.graph('vae_decoder/model.onnx', 'VAE decoder', { inputs: { latent_sample: FLOAT_TYPES }, outputs: [{ names: ['sample'], types: FLOAT_TYPES }] });
  const hasEncoder = f.exists('vae_encoder/model.onnx');
  const vaeEncoder = hasEncoder
    ? f.graph('vae_encoder/model.onnx', 'VAE encoder', { inputs: { sample: FLOAT_TYPES }, outputs: [{ names: ['latent_parameters', 'latent_sample', 'latent_dist'], types: FLOAT_TYPES }] })
    : null;
  for (const tokenizer of ['tokenizer', 'tokenizer_2']) {
    if (!f.exists(tokenizer)) f.problems.push(`${tokenizer}/: missing`);
  }

  const kontext = manifest ? manifest.family === 'flux-kontext' : className === 'FluxKontextPipeline';
  if (kontext && !hasEncoder) f.problems.push('vae_encoder/model.onnx: missing (a Kontext model needs it to encode the source image)');
  const guidanceEmbedded = inputOf(transformer, 'guidance') !== undefined;
  const trueCfg = manifest?.guidance_mode === 'true_cfg';
  const schnell = !kontext && transformerConfig?.guidance_embeds === false;
  const channels = manifest?.latent_channels ?? numberAt(vaeConfig, 'latent_channels') ?? 16;
  const blockCount = Array.isArray(vaeConfig?.block_out_channels) ? vaeConfig.block_out_channels.length : 4;
  const vaeScaleFactor = manifest?.vae_scale_factor ?? 2 ** (blockCount - 1);
  const clipLength = manifest?.text.clip_max_length ?? numberAt(f.json('tokenizer/tokenizer_config.json'), 'model_max_length') ?? 77;
  const t5Length = manifest?.text.t5_max_length ?? fixedDim(inputOf(transformer, 'txt_ids'), 0) ?? (schnell ? 256 : 512);
  const size = manifest?.image_size ?? [1024, 1024];
  const flow = 'flow-euler';
  const defaults = manifest
    ? { steps: manifest.defaults.steps, guidance: manifest.defaults.guidance, width: size[0], height: size[1], scheduler: flow }
    : fluxDefaults({ schnell, kontext });
  const family = manifest?.family ?? (kontext ? 'flux-kontext' : schnell ? 'flux-schnell' : 'flux-dev');
  const name = manifest?.name ?? path.basename(dir);
  const tasks: JobKind[] = kontext ? ['generate', 'edit'] : ['generate'];
  const layout = manifest ? 'zoo' : 'optimum-flux';

  if (f.problems.length > 0 || !schedulerConfig || !transformer || !clip || !t5 || !vaeDecoder) return f.report('optimum-flux', null);
  const encoderOutput = outputOf(vaeEncoder, ['latent_parameters', 'latent_sample', 'latent_dist']);
  const spec: FluxSpec = {
    pipeline: 'flux',
    kontext,
    files: {
      transformer: f.path('transformer/model.onnx'),
      clip: f.path('text_encoder/model.onnx'),
      t5: f.path('text_encoder_2/model.onnx'),
      vaeEncoder: hasEncoder ? f.path('vae_encoder/model.onnx') : null,
      vaeDecoder: f.path('vae_decoder/model.onnx'),
    },
    io: {
      clipPooled: outputOf(clip, ['pooler_output', 'text_embeds'])!.name,
      t5Hidden: 'last_hidden_state',
      transformerOutput: outputOf(transformer, ['out_hidden_states', 'sample', 'latent'])!.name,
      idsBatched: inputOf(transformer, 'img_ids')?.shape?.length === 3,
      vaeDecoder: { input: 'latent_sample', output: 'sample' },
      vaeEncoder: encoderOutput ? { input: 'sample', output: encoderOutput.name, sampled: encoderOutput.name !== 'latent_parameters' } : null,
    },
    tokenizerDirs: { clip: f.path('tokenizer'), t5: f.path('tokenizer_2') },
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
    trueCfg,
    preview: manifest ? parseProjection(readJsonFile(path.join(dir, MANIFEST_FILE))?.preview, channels) : channels === 16 ? FLUX_LATENT_RGB : null,
  };
  return f.report('optimum-flux', {
    dir,
    spec,
    info: {
      id: slug(name),
      name,
      family,
      layout,
      path: dir,
      embedded,
      tasks,
      defaults,
      schedulers: [flow],
      negativePrompt: trueCfg,
      fixedSize: manifest !== null,
    },
  });
}
