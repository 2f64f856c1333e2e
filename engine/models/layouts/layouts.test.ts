/**
 * Layout detection and validation on the layout twins (models/twins) and on broken copies of
 * them: every twin is recognized with the right layout, family and defaults; a missing graph, a
 * wrong dtype, wrong input names, a truncated file, missing BFL tokenizers and TensorRT-only
 * transformers each give a sentence naming the file.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../cli/main.js';
import { DataType, buildModel, node, serializeModel, valueInfo } from '../../onnx/proto.js';
import { copyTwin, mutateGraph, twinDir } from '../../testing/twins.js';
import { inspectModelFolder } from '../detect.js';
import type { SdSpec } from '../../pipelines/sd/spec.js';
import type { FluxSpec } from '../../pipelines/flux/spec.js';

function inspect(dir: string) {
  const report = inspectModelFolder(dir);
  return { ...report, info: report.descriptor?.info };
}

describe('layout twins are detected and validated', () => {
  it('sd15-diffusers: the diffusers conversion script layout, SD 1.5, PNDM running as DDIM', () => {
    const r = inspect(twinDir('sd15-diffusers'));
    expect(r.problems).toEqual([]);
    expect(r.layout).toBe('diffusers-onnx-sd');
    expect(r.info).toMatchObject({ family: 'sd15', tasks: ['generate', 'img2img'], negativePrompt: true, fixedSize: false });
    expect(r.info?.defaults).toEqual({ steps: 25, guidance: 7.5, width: 512, height: 512, scheduler: 'ddim' });
    expect(r.info?.schedulers).toEqual(['ddim', 'euler', 'euler-a', 'dpmpp-2m', 'dpmpp-2m-karras', 'lcm']);
    const spec = r.descriptor!.spec as SdSpec;
    expect(spec.unet).toMatchObject({ batch: null, timestep: 'per-sample', timeIds: 0 });
    expect(spec.vaeEncoder).toMatchObject({ output: 'latent_sample', sampled: true });
    expect(spec.vae.scalingFactor).toBe(0.18215);
    expect(r.notes.join('\n')).toMatch(/safety_checker\/model.onnx: present; Atelier does not run it/);
  });

  it('sd15-optimum-fp16: float16 I/O, int64 timestep of shape (steps), latent_parameters', () => {
    const r = inspect(twinDir('sd15-optimum-fp16'));
    expect(r.problems).toEqual([]);
    expect(r.layout).toBe('optimum-sd');
    expect(r.info).toMatchObject({ family: 'sd15', negativePrompt: true, fixedSize: false });
    // diffusers' default size: unet sample_size (8, shrunk in the twin) x the VAE factor
    expect(r.info?.defaults).toMatchObject({ width: 64, height: 64, steps: 25, guidance: 7.5 });
    const spec = r.descriptor!.spec as SdSpec;
    expect(spec.unet.timestep).toBe('single');
    expect(spec.vaeEncoder).toMatchObject({ output: 'latent_parameters', sampled: false });
    expect(spec.sizeMultiple).toBe(16);
  });

  it('sdxl-optimum: two encoders (penultimate hidden states), text_embeds and 6 time_ids, external data', () => {
    const r = inspect(twinDir('sdxl-optimum'));
    expect(r.problems).toEqual([]);
    expect(r.info).toMatchObject({ family: 'sdxl', negativePrompt: true });
    expect(r.info?.defaults).toMatchObject({ steps: 30, guidance: 5, scheduler: 'euler' });
    expect(r.info?.schedulers[0]).toBe('euler');
    const spec = r.descriptor!.spec as SdSpec;
    expect(spec.textEncoders.map((t) => [t.hidden, t.pooled])).toEqual([
      ['hidden_states.1', null],
      ['hidden_states.1', 'text_embeds'],
    ]);
    expect(spec.unet.timeIds).toBe(6);
    expect(spec.zerosForEmptyNegative).toBe(true);
    expect(spec.vae.scalingFactor).toBe(0.13025);
  });

  it('flux-optimum: FLUX.1-dev with int64 ids and external data', () => {
    const r = inspect(twinDir('flux-optimum'));
    expect(r.problems).toEqual([]);
    expect(r.info).toMatchObject({ family: 'flux-dev', layout: 'optimum-flux', schedulers: ['flow-euler'], negativePrompt: false, fixedSize: false });
    expect((r.descriptor!.spec as FluxSpec).io).toMatchObject({ clipPooled: 'pooler_output', transformerOutput: 'out_hidden_states', idsBatched: false });
  });

  it('flux-bfl as published (no tokenizers): says which folders to copy from which repository', () => {
    const r = inspect(copyTwin('flux-bfl', { withoutTokenizers: true }));
    expect(r.layout).toBe('bfl-flux');
    expect(r.descriptor).toBeNull();
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]).toMatch(/^tokenizer\/ and tokenizer_2\/: missing\. .*black-forest-labs\/FLUX\.1-schnell/);
  });

  it('flux-bfl with tokenizers: Kontext, bf16 graphs noted, BFL I/O names, T5 length from the graph', () => {
    const r = inspect(copyTwin('flux-bfl'));
    expect(r.problems).toEqual([]);
    expect(r.info).toMatchObject({ family: 'flux-kontext', layout: 'bfl-flux', tasks: ['generate', 'edit'], fixedSize: false });
    expect(r.info?.defaults).toMatchObject({ steps: 28, guidance: 2.5 });
    const spec = r.descriptor!.spec as FluxSpec;
    expect(spec.t5Length).toBe(512);
    expect(spec.io).toMatchObject({ clipPooled: 'pooled_embeddings', t5Hidden: 'text_embeddings', transformerOutput: 'latent', vaeDecoder: { input: 'latent', output: 'images' } });
    expect(r.notes.join('\n')).toMatch(/transformer\.opt\/bf16\/model\.onnx: bfloat16 hidden_states, .*rewritten to float32 I\/O/);
  });

  it('names: a Turbo copy of the SDXL twin becomes sdxl-turbo (1 step, guidance 0, 512, no negative prompt)', () => {
    const r = inspect(copyTwin('sdxl-optimum', { as: 'sdxl-turbo-twin' }));
    expect(r.problems).toEqual([]);
    expect(r.info).toMatchObject({ family: 'sdxl-turbo', negativePrompt: false });
    expect(r.info?.defaults).toMatchObject({ steps: 1, guidance: 0, width: 512, height: 512 });
  });

  it('v-prediction scheduler configs make an SD 2.x model', () => {
    const dir = copyTwin('sd15-diffusers', { as: 'some-model' });
    const file = path.join(dir, 'scheduler/scheduler_config.json');
    writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), _class_name: 'DDIMScheduler', prediction_type: 'v_prediction' }));
    const r = inspect(dir);
    expect(r.problems).toEqual([]);
    expect(r.info).toMatchObject({ family: 'sd21' });
    expect(r.info?.defaults).toMatchObject({ width: 768, height: 768, scheduler: 'ddim' });
  });
});

describe('bad folders say exactly what is wrong, naming the file', () => {
  it('a missing graph', () => {
    const dir = copyTwin('sd15-optimum-fp16');
    rmSync(path.join(dir, 'vae_decoder/model.onnx'));
    expect(inspect(dir).problems).toEqual(['vae_decoder/model.onnx: missing']);
  });

  it('a graph input with the wrong dtype', () => {
    const dir = copyTwin('sd15-optimum-fp16');
    mutateGraph(path.join(dir, 'text_encoder/model.onnx'), (m) => {
      const input = m.graph!.input.find((i) => i.name === 'input_ids')!;
      if (input.type?.value.case === 'tensorType') input.type.value.value.elemType = DataType.FLOAT;
    });
    expect(inspect(dir).problems).toEqual(['text_encoder/model.onnx: input "input_ids" is float32, expected int32 or int64']);
  });

  it('a graph with wrong input names', () => {
    const dir = copyTwin('sdxl-optimum');
    mutateGraph(path.join(dir, 'unet/model.onnx'), (m) => {
      m.graph!.input.find((i) => i.name === 'time_ids')!.name = 'add_time_ids';
    });
    expect(inspect(dir).problems).toEqual([
      'unet/model.onnx: no input "time_ids" (inputs: sample, timestep, encoder_hidden_states, text_embeds, add_time_ids)',
      'unet/model.onnx: input "add_time_ids" is not one the engine feeds (it feeds: sample, timestep, encoder_hidden_states, text_embeds, time_ids)',
    ]);
  });

  it('a wrong output name', () => {
    const dir = copyTwin('flux-optimum');
    mutateGraph(path.join(dir, 'vae_decoder/model.onnx'), (m) => {
      m.graph!.output[0]!.name = 'image';
      for (const n of m.graph!.node) n.output = n.output.map((o) => (o === 'sample' ? 'image' : o));
    });
    expect(inspect(dir).problems).toEqual(['vae_decoder/model.onnx: no output named "sample" (outputs: image)']);
  });

  it('a truncated ONNX file', () => {
    const dir = copyTwin('flux-bfl');
    const file = path.join(dir, 'transformer.opt/bf16/model.onnx');
    truncateSync(file, 4000);
    const r = inspect(dir);
    expect(r.descriptor).toBeNull();
    expect(r.problems).toContain(`${file}: the ONNX file is truncated`.replace(`${dir}/`, ''));
  });

  it('an SDXL UNet without its second text encoder', () => {
    const dir = copyTwin('sdxl-optimum');
    rmSync(path.join(dir, 'text_encoder_2'), { recursive: true });
    const index = path.join(dir, 'model_index.json');
    const json = JSON.parse(readFileSync(index, 'utf8')) as Record<string, unknown>;
    delete json.text_encoder_2;
    writeFileSync(index, JSON.stringify({ ...json, _class_name: 'StableDiffusionPipeline' }));
    expect(inspect(dir).problems[0]).toBe('text_encoder_2/model.onnx: missing (the UNet takes text_embeds and time_ids: an SDXL model needs its second text encoder)');
  });
});

/** A stand-in for a ModelOpt FP8/FP4 export: an operator from TensorRT's `trt` domain. */
function tensorRtGraph(file: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const model = buildModel({
    inputs: [valueInfo('hidden_states', DataType.FLOAT, ['B', 'L', 64])],
    outputs: [valueInfo('latent', DataType.FLOAT, ['B', 'L', 64])],
    nodes: [{ ...node('TRT_FP8QuantizeLinear', ['hidden_states'], ['latent'], 'q'), domain: 'trt' }],
  });
  model.opsetImport.push({ ...model.opsetImport[0]!, domain: 'trt', version: 1n });
  writeFileSync(file, serializeModel(model));
}

describe('BFL transformer variants (provider support)', () => {
  it('uses bf16 and notes that fp8 / fp4 are TensorRT-only', () => {
    const dir = copyTwin('flux-bfl');
    tensorRtGraph(path.join(dir, 'transformer.opt/fp8/model.onnx'));
    tensorRtGraph(path.join(dir, 'transformer.opt/fp4/model.onnx'));
    const r = inspect(dir);
    expect(r.problems).toEqual([]);
    expect((r.descriptor!.spec as FluxSpec).files.transformer).toMatch(/transformer\.opt\/bf16\/model\.onnx$/);
    expect(r.notes).toContain(
      `transformer.opt/fp8/model.onnx: a fp8 export for TensorRT: it uses TensorRT's own operators (domain "trt"), which ONNX Runtime's CPU and CUDA providers do not have; not used`,
    );
  });

  it('tries an fp8 export without TensorRT operators, with a note', () => {
    const dir = copyTwin('flux-bfl');
    renameSync(path.join(dir, 'transformer.opt/bf16'), path.join(dir, 'transformer.opt/fp8'));
    const r = inspect(dir);
    expect(r.problems).toEqual([]);
    expect(r.notes).toContain(
      'transformer.opt/fp8/model.onnx: a fp8 export, made for TensorRT; ONNX Runtime may refuse it (the load error will say so) or run it slowly; transformer.opt/bf16/ is the dependable choice',
    );
  });

  it('fails clearly when only TensorRT variants are present', () => {
    const dir = copyTwin('flux-bfl');
    rmSync(path.join(dir, 'transformer.opt/bf16'), { recursive: true });
    tensorRtGraph(path.join(dir, 'transformer.opt/fp4/model.onnx'));
    const r = inspect(dir);
    expect(r.descriptor).toBeNull();
    expect(r.problems).toEqual([
      `no transformer ONNX Runtime can run: transformer.opt/fp4/model.onnx: it uses TensorRT's own operators (domain "trt"), which ONNX Runtime's CPU and CUDA providers do not have; download transformer.opt/bf16/ (model.onnx and backbone.onnx_data) from the same repository`,
    ]);
  });
});

describe('atelier models validate', () => {
  let stdout: string[];
  beforeEach(() => {
    stdout = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => (stdout.push(String(chunk)), true));
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  });
  afterEach(() => vi.restoreAllMocks());

  it('exits 0 for every twin and 2 with the problem for a BFL folder as published (no tokenizers)', async () => {
    for (const twin of ['sd15-diffusers', 'sd15-optimum-fp16', 'sdxl-optimum', 'flux-optimum'] as const) {
      expect(await main(['models', 'validate', twinDir(twin)])).toBe(0);
    }
    expect(await main(['models', 'validate', twinDir('flux-bfl')])).toBe(0);
    stdout.length = 0;
    const bare = copyTwin('flux-bfl', { withoutTokenizers: true });
    expect(await main(['models', 'validate', bare])).toBe(2);
    expect(stdout[0]).toBe(`${bare}: not usable (bfl-flux)\n`);
    expect(stdout.some((l) => l.startsWith('  problem  tokenizer/ and tokenizer_2/: missing.'))).toBe(true);
  });
});
