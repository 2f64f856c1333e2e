/**
 * The Stable Diffusion pipeline end to end on the layout twins (64 x 64, 1-2 steps): detection,
 * text-to-image and image-to-image through each twin's real graph I/O (float16 graphs, int64 and
 * float timesteps, SDXL's two encoders and micro-conditioning), bit-for-bit seeds, CFG batching
 * against two passes, Turbo without the unconditional pass, low-memory mode, the prompt cache and
 * cancellation.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Engine } from '../../engine.js';
import { CancelledError } from '../../errors.js';
import { describeModelFolder } from '../../models/detect.js';
import type { ModelDescriptor } from '../../models/descriptor.js';
import { ModelSession } from '../../runtime/session.js';
import type { OrtFeeds } from '../../runtime/ort.js';
import { tempDir } from '../../testing/models.js';
import { copyTwin, twinDir } from '../../testing/twins.js';
import type { GenerateInput, RunHooks, StepReport } from '../pipeline.js';
import { SdPipeline } from './pipeline.js';
import type { SdSpec } from './spec.js';

const graphCacheDir = tempDir();
const SD_TWINS = ['sd15-diffusers', 'sd15-optimum-fp16', 'sdxl-optimum'] as const;

function hooks(reports: StepReport[] = [], signal = new AbortController().signal): RunHooks {
  return { signal, wantPreview: true, onStep: (r) => void reports.push(r) };
}

function job(entry: ModelDescriptor, overrides: Partial<GenerateInput> = {}): GenerateInput {
  return { prompt: 'a red cube on a table', negativePrompt: 'blurry', seed: 42, steps: 1, guidance: 7.5, width: 64, height: 64, scheduler: entry.info.defaults.scheduler, ...overrides };
}

function withSpec(entry: ModelDescriptor, change: Partial<SdSpec['unet']>): ModelDescriptor {
  const spec = entry.spec as SdSpec;
  return { ...entry, spec: { ...spec, unet: { ...spec.unet, ...change } } };
}

/** Counts session runs per graph folder, with the batch of each UNet call. */
function spyRuns(): { runs: Map<string, number>; unetBatches: number[] } {
  const runs = new Map<string, number>();
  const unetBatches: number[] = [];
  const original = ModelSession.prototype.run;
  vi.spyOn(ModelSession.prototype, 'run').mockImplementation(function (this: ModelSession, feeds: OrtFeeds) {
    const graph = path.basename(path.dirname(this.file));
    runs.set(graph, (runs.get(graph) ?? 0) + 1);
    if (graph === 'unet') unetBatches.push(feeds.sample!.dims[0]!);
    return original.call(this, feeds);
  });
  return { runs, unetBatches };
}

afterEach(() => vi.restoreAllMocks());

describe.each(SD_TWINS)('%s', (twin) => {
  const entry = describeModelFolder(twinDir(twin));

  it('text-to-image: one guided step with a latent preview, reproducible bit for bit', async () => {
    const pipeline = await SdPipeline.load(entry, 'cpu', { graphCacheDir });
    const reports: StepReport[] = [];
    const a = await pipeline.generate(job(entry), hooks(reports));
    expect([a.width, a.height]).toEqual([64, 64]);
    expect(reports.map((r) => [r.step, r.total, r.preview?.width, r.preview?.height])).toEqual([[1, 1, 8, 8]]);
    const b = await pipeline.generate(job(entry), hooks());
    expect(Buffer.from(b.data).equals(Buffer.from(a.data))).toBe(true);
    const c = await pipeline.generate(job(entry, { seed: 43 }), hooks());
    expect(Buffer.from(c.data).equals(Buffer.from(a.data))).toBe(false);
    await pipeline.release();
  });

  it('image-to-image: strength 0.5 of 2 steps runs one step from the encoded image, reproducibly', async () => {
    const pipeline = await SdPipeline.load(entry, 'cpu', { graphCacheDir });
    const source = await pipeline.generate(job(entry, { seed: 1 }), hooks());
    const reports: StepReport[] = [];
    const input = { ...job(entry, { steps: 2 }), image: source, strength: 0.5 };
    const a = await pipeline.img2img(input, hooks(reports));
    expect([a.width, a.height]).toEqual([64, 64]);
    expect(reports.map((r) => [r.step, r.total])).toEqual([[1, 1]]);
    const b = await pipeline.img2img(input, hooks());
    expect(Buffer.from(b.data).equals(Buffer.from(a.data))).toBe(true);
    await pipeline.release();
  });
});

describe('classifier-free guidance', () => {
  it('batches the two passes when the batch dim is dynamic, and equals two separate passes', async () => {
    const entry = describeModelFolder(twinDir('sd15-diffusers'));
    expect((entry.spec as SdSpec).unet.batch).toBeNull();
    const spy = spyRuns();
    const batched = await SdPipeline.load(entry, 'cpu', { graphCacheDir });
    const one = await batched.generate(job(entry, { steps: 2 }), hooks());
    expect(spy.unetBatches).toEqual([2, 2]);
    spy.unetBatches.length = 0;
    const separate = await SdPipeline.load(withSpec(entry, { batch: 1 }), 'cpu', { graphCacheDir });
    const two = await separate.generate(job(entry, { steps: 2 }), hooks());
    expect(spy.unetBatches).toEqual([1, 1, 1, 1]);
    expect(Buffer.from(two.data).equals(Buffer.from(one.data))).toBe(true);
    await Promise.all([batched.release(), separate.release()]);
  });

  it('Turbo (guidance 0) runs the conditional pass only', async () => {
    const entry = describeModelFolder(copyTwin('sdxl-optimum', { as: 'sdxl-turbo-twin' }));
    expect(entry.info.family).toBe('sdxl-turbo');
    const spy = spyRuns();
    const pipeline = await SdPipeline.load(entry, 'cpu', { graphCacheDir });
    const image = await pipeline.generate(job(entry, { guidance: entry.info.defaults.guidance, steps: entry.info.defaults.steps }), hooks());
    expect(image.width).toBe(64);
    expect(spy.unetBatches).toEqual([1]);
    expect(spy.runs.get('text_encoder')).toBe(1); // no negative prompt encoded
    await pipeline.release();
  });
});

describe('schedulers and predictions', () => {
  it('ancestral and LCM steps draw seeded noise: same seed, same image', async () => {
    const entry = describeModelFolder(twinDir('sd15-optimum-fp16'));
    const pipeline = await SdPipeline.load(entry, 'cpu', { graphCacheDir });
    for (const scheduler of ['euler-a', 'lcm', 'dpmpp-2m-karras']) {
      const a = await pipeline.generate(job(entry, { steps: 3, scheduler }), hooks());
      const b = await pipeline.generate(job(entry, { steps: 3, scheduler }), hooks());
      expect(Buffer.from(a.data).equals(Buffer.from(b.data)), scheduler).toBe(true);
    }
    await expect(pipeline.generate(job(entry, { scheduler: 'flow-euler' }), hooks())).rejects.toThrow(/flow-euler cannot drive a model configured for PNDMScheduler/);
    await pipeline.release();
  });

  it('runs a v-prediction (SD 2.x) configuration', async () => {
    const dir = copyTwin('sd15-optimum-fp16', { as: 'v-model' });
    const file = path.join(dir, 'scheduler/scheduler_config.json');
    writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), _class_name: 'EulerDiscreteScheduler', prediction_type: 'v_prediction' }));
    const entry = describeModelFolder(dir);
    expect(entry.info.family).toBe('sd21');
    const pipeline = await SdPipeline.load(entry, 'cpu', { graphCacheDir });
    const image = await pipeline.generate(job(entry, { steps: 2 }), hooks());
    expect(image.data.some((v) => v !== image.data[0])).toBe(true);
    await pipeline.release();
  });
});

describe('through the engine', () => {
  it('runs an img2img job with a negative prompt and a chosen sampler, in low-memory mode', async () => {
    const engine = new Engine({ dataDir: tempDir(), modelRoots: [{ dir: twinDir('sd15-optimum-fp16'), explicit: true }], previewEvery: 0, lowMemory: true });
    const [model] = engine.listModels();
    expect(model).toMatchObject({ family: 'sd15', tasks: ['generate', 'img2img'] });
    await engine.loadModel(model!.id, 'cpu');
    const source = await engine.runJob({ kind: 'generate', prompt: 'a red cube', seed: 3, steps: 1 });
    const done = await engine.runJob({ kind: 'img2img', image: source.image.bytes, prompt: 'a blue cube', negativePrompt: 'red', strength: 0.5, steps: 2, seed: 4, scheduler: 'euler-a' });
    expect(done.metadata).toMatchObject({ kind: 'img2img', scheduler: 'euler-a', negativePrompt: 'red', strength: 0.5, width: 64, height: 64 });
    await engine.shutdown();
  });
});

describe('memory and caching', () => {
  it('low memory gives the same image, and a repeated prompt skips the text encoders', async () => {
    const entry = describeModelFolder(twinDir('sdxl-optimum'));
    const normal = await SdPipeline.load(entry, 'cpu', { graphCacheDir });
    const expected = await normal.generate(job(entry), hooks());
    await normal.release();
    const spy = spyRuns();
    const released: string[] = [];
    const release = ModelSession.prototype.release;
    vi.spyOn(ModelSession.prototype, 'release').mockImplementation(function (this: ModelSession) {
      released.push(path.basename(path.dirname(this.file)));
      return release.call(this);
    });
    const low = await SdPipeline.load(entry, 'cpu', { graphCacheDir, lowMemory: true });
    const image = await low.generate(job(entry), hooks());
    expect(Buffer.from(image.data).equals(Buffer.from(expected.data))).toBe(true);
    expect([spy.runs.get('text_encoder'), spy.runs.get('text_encoder_2')]).toEqual([2, 2]); // prompt + negative
    // each encoder released right after its run, before the UNet opened
    expect(released).toEqual(['text_encoder', 'text_encoder_2', 'text_encoder', 'text_encoder_2']);
    await low.generate(job(entry, { seed: 7 }), hooks());
    expect([spy.runs.get('text_encoder'), spy.runs.get('text_encoder_2')]).toEqual([2, 2]);
    expect(released).toHaveLength(4); // cached prompts: the UNet stays open
    await low.release();
  });

  it('stops between steps when cancelled', async () => {
    const entry = describeModelFolder(twinDir('sd15-diffusers'));
    const pipeline = await SdPipeline.load(entry, 'cpu', { graphCacheDir });
    const controller = new AbortController();
    const reports: StepReport[] = [];
    const run = pipeline.generate(job(entry, { steps: 5 }), {
      signal: controller.signal,
      onStep: (r) => {
        reports.push(r);
        if (r.step === 2) controller.abort();
      },
    });
    await expect(run).rejects.toBeInstanceOf(CancelledError);
    expect(reports.map((r) => r.step)).toEqual([1, 2]);
    await pipeline.release();
  });
});
