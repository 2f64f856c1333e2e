/**
 * Stable Diffusion ONNX folders (SD 1.x, 2.x, SDXL, Turbo) in two layouts:
 * - diffusers' conversion script (OnnxStableDiffusionPipeline): text_encoder/, unet/ (weights often
 *   in unet/weights.pb), vae_encoder/, vae_decoder/, optional safety_checker/, tokenizer/,
 *   scheduler/; no component config.json files.
 * - Optimum (`optimum-cli export onnx`, ORTStableDiffusion[XL]Pipeline): the same folders with
 *   config.json files, external data in model.onnx_data, float16 graphs with --fp16, and for SDXL
 *   text_encoder_2/ + tokenizer_2/ and a UNet taking text_embeds and time_ids.
 * Everything the pipeline feeds is read from the graphs (input/output names, dtypes, which dims
 * are fixed) and from the config files; family and defaults: sd-family.ts.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { JobKind } from '../../protocol/index.js';
import { readGraphSignature, type GraphSignature } from '../../onnx/signature.js';
import type { SdSpec, SdTextEncoderSpec } from '../../pipelines/sd/spec.js';
import type { PredictionType } from '../../schedulers/types.js';
import { FLOAT_TYPES, INT_TYPES, NUMBER_TYPES, checkGraph } from '../graph-check.js';
import type { LayoutReport } from '../descriptor.js';
import { FolderInspector, fixedDim, inputOf, outputOf, safeJson, schedulerChoices, slug } from './common.js';
import { numberAt, stringAt, type JsonObject } from './json.js';
import { familyVaeScaling, sdDefaults, sdFamily, sdPreview } from './sd-family.js';

const SD_PIPELINES = new Set([
  'OnnxStableDiffusionPipeline',
  'StableDiffusionOnnxPipeline',
  'OnnxStableDiffusionImg2ImgPipeline',
  'StableDiffusionPipeline',
  'StableDiffusionImg2ImgPipeline',
  'StableDiffusionXLPipeline',
  'StableDiffusionXLImg2ImgPipeline',
  'ORTStableDiffusionPipeline',
  'ORTStableDiffusionImg2ImgPipeline',
  'ORTStableDiffusionXLPipeline',
  'ORTStableDiffusionXLImg2ImgPipeline',
]);

export function isStableDiffusion(dir: string): boolean {
  const cls = stringAt(safeJson(path.join(dir, 'model_index.json')), '_class_name');
  if (cls !== undefined) return SD_PIPELINES.has(cls);
  return existsSync(path.join(dir, 'unet', 'model.onnx')) || existsSync(path.join(dir, 'unet', 'config.json'));
}

function trySignature(file: string): GraphSignature | null {
  try {
    return readGraphSignature(file);
  } catch {
    return null;
  }
}

/** Whether model_index.json names a component (a non-null entry). */
function hasComponent(index: JsonObject | null, name: string): boolean {
  const entry = index?.[name];
  return Array.isArray(entry) && entry[0] !== null;
}

/** The penultimate `hidden_states.N` output (diffusers' SDXL uses hidden_states[-2]), or null. */
function penultimateHidden(signature: GraphSignature | null): string | null {
  const indices = (signature?.outputs ?? []).map((o) => /^hidden_states\.(\d+)$/.exec(o.name)).filter((m) => m !== null).map((m) => Number(m[1]));
  if (indices.length < 2) return null;
  return `hidden_states.${Math.max(...indices) - 1}`;
}

function predictionOf(config: JsonObject | null): PredictionType {
  const p = stringAt(config, 'prediction_type');
  return p === 'v_prediction' || p === 'sample' ? p : 'epsilon';
}

function textLength(f: FolderInspector, tokenizer: string, encoder: GraphSignature | null): number {
  const configured = numberAt(f.json(`${tokenizer}/tokenizer_config.json`), 'model_max_length');
  const fixed = fixedDim(inputOf(encoder, 'input_ids'), 1);
  if (fixed !== null) return fixed;
  return configured !== undefined && configured >= 8 && configured <= 1024 ? configured : 77;
}

export function describeStableDiffusion(dir: string, embedded: boolean): LayoutReport {
  const f = new FolderInspector(dir);
  const index = f.json('model_index.json');
  const className = stringAt(index, '_class_name') ?? null;
  const onnxComponents = index !== null && JSON.stringify(index).includes('OnnxRuntimeModel');
  const layout = className?.startsWith('Onnx') || className === 'StableDiffusionOnnxPipeline' || onnxComponents ? 'diffusers-onnx-sd' : 'optimum-sd';

  const schedulerConfig = f.json('scheduler/scheduler_config.json');
  if (!schedulerConfig && !f.problems.some((p) => p.startsWith('scheduler/'))) f.problems.push('scheduler/scheduler_config.json: missing');
  const unetConfig = f.json('unet/config.json');
  const vaeConfig = f.json('vae_decoder/config.json') ?? f.json('vae_encoder/config.json') ?? f.json('vae/config.json');
  const te1Config = f.json('text_encoder/config.json');

  const unetPeek = trySignature(f.path('unet/model.onnx'));
  const xl = f.exists('text_encoder_2/model.onnx') || hasComponent(index, 'text_encoder_2') || /XL/.test(className ?? '');
  if (!xl && inputOf(unetPeek, 'text_embeds')) {
    f.problems.push('text_encoder_2/model.onnx: missing (the UNet takes text_embeds and time_ids: an SDXL model needs its second text encoder)');
  }

  // Text encoders.
  const te1 = f.graph('text_encoder/model.onnx', 'text encoder', {
    inputs: { input_ids: INT_TYPES },
    outputs: xl ? [] : [{ names: ['last_hidden_state'], types: FLOAT_TYPES }],
  });
  const te2 = xl
    ? f.graph('text_encoder_2/model.onnx', 'text encoder 2', { inputs: { input_ids: INT_TYPES }, outputs: [{ names: ['text_embeds'], types: FLOAT_TYPES }] })
    : null;
  const te1Hidden = xl ? penultimateHidden(te1) : 'last_hidden_state';
  const te2Hidden = xl ? penultimateHidden(te2) : null;
  if (xl && te1 && !te1Hidden) f.problems.push('text_encoder/model.onnx: no hidden_states.N outputs; SDXL conditions on the penultimate layer (export with output_hidden_states)');
  if (xl && te2 && !te2Hidden) f.problems.push('text_encoder_2/model.onnx: no hidden_states.N outputs; SDXL conditions on the penultimate layer (export with output_hidden_states)');
  f.requireFolder('tokenizer', 'the CLIP tokenizer of text_encoder');
  if (xl) f.requireFolder('tokenizer_2', 'the CLIP tokenizer of text_encoder_2');

  // UNet.
  const unet = f.graph('unet/model.onnx', 'denoiser', {
    inputs: { sample: FLOAT_TYPES, timestep: NUMBER_TYPES, encoder_hidden_states: FLOAT_TYPES, ...(xl ? { text_embeds: FLOAT_TYPES, time_ids: FLOAT_TYPES } : {}) },
    outputs: [{ names: ['out_sample'], types: FLOAT_TYPES }],
  });
  const sample = inputOf(unet, 'sample');
  const ehs = inputOf(unet, 'encoder_hidden_states');

  // VAE.
  const vaeDecoder = f.graph('vae_decoder/model.onnx', 'VAE decoder', { inputs: { latent_sample: FLOAT_TYPES }, outputs: [{ names: ['sample'], types: FLOAT_TYPES }] });
  const hasEncoder = f.exists('vae_encoder/model.onnx');
  const vaeEncoder = hasEncoder
    ? f.graph('vae_encoder/model.onnx', 'VAE encoder', { inputs: { sample: FLOAT_TYPES }, outputs: [{ names: ['latent_parameters', 'latent_sample', 'latent_dist'], types: FLOAT_TYPES }] })
    : null;
  if (!hasEncoder) f.notes.push('vae_encoder/model.onnx: absent, so image-to-image is unavailable');

  if (f.exists('safety_checker/model.onnx')) {
    const check = checkGraph(dir, 'safety_checker/model.onnx', {
      inputs: { clip_input: FLOAT_TYPES, images: FLOAT_TYPES },
      outputs: [{ names: ['has_nsfw_concepts'], types: ['bool'] }],
    });
    f.notes.push(...check.problems.map((p) => `${p} (not used)`));
    f.notes.push('safety_checker/model.onnx: present; Atelier does not run it');
  }

  // Constants, each from the graphs first, then the configs.
  const encoderOutput = outputOf(vaeEncoder, ['latent_parameters', 'latent_sample', 'latent_dist']);
  const sampled = encoderOutput !== undefined && encoderOutput.name !== 'latent_parameters';
  const encoderChannels = fixedDim(encoderOutput, 1);
  const channelSources: Array<[string, number | null]> = [
    ['unet/model.onnx sample', fixedDim(sample, 1)],
    ['unet/model.onnx out_sample', fixedDim(outputOf(unet, ['out_sample']), 1)],
    ['vae_decoder/model.onnx latent_sample', fixedDim(inputOf(vaeDecoder, 'latent_sample'), 1)],
    ['vae_encoder/model.onnx output', encoderChannels === null ? null : sampled ? encoderChannels : encoderChannels / 2],
    ['VAE config latent_channels', numberAt(vaeConfig, 'latent_channels') ?? null],
  ];
  const known = channelSources.filter((s): s is [string, number] => s[1] !== null);
  const channels = known[0]?.[1] ?? 4;
  const disagree = known.find((s) => s[1] !== channels);
  if (disagree) {
    const inChannels = fixedDim(sample, 1) ?? numberAt(unetConfig, 'in_channels');
    f.problems.push(
      inChannels !== undefined && inChannels !== null && inChannels > channels + 1
        ? `unet/model.onnx: takes ${inChannels} latent channels but the VAE has ${disagree[1]} (an inpainting UNet?)`
        : `latent channels disagree: ${known.map(([name, n]) => `${name} ${n}`).join(', ')}`,
    );
  }
  const blocks = Array.isArray(vaeConfig?.block_out_channels) ? vaeConfig.block_out_channels.length : 4;
  const vaeScaleFactor = 2 ** (blocks - 1);

  const widths = [te1Hidden ? fixedDim(outputOf(te1, [te1Hidden]), 2) : null, te2Hidden ? fixedDim(outputOf(te2, [te2Hidden]), 2) : null].filter((w) => w !== null);
  const textWidth = fixedDim(ehs, 2) ?? numberAt(unetConfig, 'cross_attention_dim') ?? numberAt(te1Config, 'hidden_size') ?? null;
  if (unet && widths.length === (xl ? 2 : 1) && fixedDim(ehs, 2) !== null) {
    const sum = widths.reduce((a, b) => a + b, 0);
    if (sum !== fixedDim(ehs, 2)) f.problems.push(`unet/model.onnx: encoder_hidden_states is ${fixedDim(ehs, 2)} wide but the text encoders give ${widths.join(' + ')}`);
  }
  const pooledWidth = fixedDim(outputOf(te2, ['text_embeds']), 1);
  const textEmbedsWidth = fixedDim(inputOf(unet, 'text_embeds'), 1);
  if (pooledWidth !== null && textEmbedsWidth !== null && pooledWidth !== textEmbedsWidth) {
    f.problems.push(`unet/model.onnx: text_embeds is ${textEmbedsWidth} wide but text_encoder_2 gives ${pooledWidth}`);
  }
  const timeIds = xl ? (fixedDim(inputOf(unet, 'time_ids'), 1) ?? (unetConfig?.requires_aesthetics_score === true ? 5 : 6)) : 0;
  if (xl && timeIds !== 5 && timeIds !== 6) f.problems.push(`unet/model.onnx: time_ids has ${timeIds} values; the engine fills 6 (sizes and crop) or 5 (with aesthetic score)`);

  const prediction = predictionOf(schedulerConfig);
  const name = path.basename(dir);
  const names = `${name} ${stringAt(index, '_name_or_path') ?? ''}`.toLowerCase();
  const { family, why } = sdFamily({
    xl,
    names,
    prediction,
    schedulerClass: stringAt(schedulerConfig, '_class_name') ?? null,
    spacing: stringAt(schedulerConfig, 'timestep_spacing') ?? null,
    textWidth: typeof textWidth === 'number' ? textWidth : null,
  });
  f.notes.push(`family ${family}: ${why}${prediction !== 'epsilon' ? `; prediction_type ${prediction}` : ''}`);
  const scalingFactor = numberAt(vaeConfig, 'scaling_factor');
  if (scalingFactor === undefined) f.notes.push(`VAE scaling factor ${familyVaeScaling(family)}: no VAE config.json, so the ${family} value is used`);
  const choices = schedulerConfig ? schedulerChoices(f, 'scheduler/scheduler_config.json', schedulerConfig) : null;

  const fixedH = fixedDim(sample, 2);
  const fixedW = fixedDim(sample, 3);
  const defaults = sdDefaults(family, prediction, numberAt(unetConfig, 'sample_size') ?? null, vaeScaleFactor);
  const fixedSize = fixedH !== null && fixedW !== null;
  if (fixedSize) {
    defaults.width = fixedW * vaeScaleFactor;
    defaults.height = fixedH * vaeScaleFactor;
    f.notes.push(`unet/model.onnx: exported for ${defaults.width}x${defaults.height} only (fixed sample dims)`);
  }
  const batch = fixedDim(sample, 0);
  if (batch !== null && batch > 2) f.problems.push(`unet/model.onnx: exported for a batch of ${batch}; the engine runs 1 or 2`);
  if (batch === 1) f.notes.push('unet/model.onnx: batch fixed to 1, so guidance runs the conditional and unconditional passes one after the other');
  const timestepInput = inputOf(unet, 'timestep');
  const timestep: SdSpec['unet']['timestep'] =
    timestepInput?.shape?.length === 0
      ? 'scalar'
      : fixedDim(timestepInput, 0) !== null
        ? fixedDim(timestepInput, 0) === 1
          ? 'single'
          : 'per-sample'
        : timestepInput?.shape?.[0] !== undefined && timestepInput.shape[0] !== null && timestepInput.shape[0] === sample?.shape?.[0]
          ? 'per-sample'
          : 'single';

  const textEncoders: SdTextEncoderSpec[] = [
    { file: f.path('text_encoder/model.onnx'), tokenizerDir: f.path('tokenizer'), length: textLength(f, 'tokenizer', te1), hidden: te1Hidden ?? 'last_hidden_state', pooled: null },
  ];
  if (xl) {
    textEncoders.push({ file: f.path('text_encoder_2/model.onnx'), tokenizerDir: f.path('tokenizer_2'), length: textLength(f, 'tokenizer_2', te2), hidden: te2Hidden ?? '', pooled: 'text_embeds' });
  }
  if (xl && textEncoders[0]!.length !== textEncoders[1]!.length) {
    f.problems.push(`tokenizer_2: ${textEncoders[1]!.length} tokens, but tokenizer has ${textEncoders[0]!.length}; SDXL concatenates the two encodings token by token`);
  }
  if (!schedulerConfig || !choices || !unet || !vaeDecoder) return f.report(layout, null);

  const spec: SdSpec = {
    pipeline: 'sd',
    family,
    unet: { file: f.path('unet/model.onnx'), output: 'out_sample', batch, timestep, timeIds },
    textEncoders,
    vaeDecoder: { file: f.path('vae_decoder/model.onnx'), input: 'latent_sample', output: 'sample' },
    vaeEncoder: vaeEncoder && encoderOutput ? { file: f.path('vae_encoder/model.onnx'), input: 'sample', output: encoderOutput.name, sampled } : null,
    scheduler: schedulerConfig,
    channels,
    vaeScaleFactor,
    sizeMultiple: vaeScaleFactor * 2 ** ((Array.isArray(unetConfig?.down_block_types) ? unetConfig.down_block_types.length : 4) - 1),
    vae: { scalingFactor: scalingFactor ?? familyVaeScaling(family), shiftFactor: numberAt(vaeConfig, 'shift_factor') ?? 0 },
    zerosForEmptyNegative: xl && index?.force_zeros_for_empty_prompt === true,
    preview: sdPreview(family, channels),
  };
  if (sampled) f.notes.push(`vae_encoder/model.onnx: samples its latent in the graph; it is prepared to return the mean so image-to-image reproduces`);
  const turbo = family === 'sd-turbo' || family === 'sdxl-turbo';
  const tasks: JobKind[] = spec.vaeEncoder ? ['generate', 'img2img'] : ['generate'];
  return f.report(layout, {
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
      defaults: { ...defaults, scheduler: choices.default },
      schedulers: choices.kinds,
      negativePrompt: !turbo,
      fixedSize,
    },
  });
}
