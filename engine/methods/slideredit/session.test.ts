/**
 * SliderEdit sessions on a real FLUX Kontext graph set (the Optimum twin as Kontext) with an
 * STLoRA of random factors: strength 1 on every part reproduces the plain edit (final latents
 * within 1e-5), other strengths change it; a slider move reuses the cached encodings (no text
 * encoder or VAE encoder run, the same transformer session) and reruns only the denoising loop;
 * previews come with every step; a plain edit after slider jobs keeps the STLoRA at weight 0 in the
 * same transformer session and matches the plain edit (bit for bit when the branch folds into the
 * layers, within rounding beside a user's live adapter); other jobs take it off.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { AdapterManager } from '../../adapters/manager.js';
import { describeModelFolder } from '../../models/detect.js';
import { FluxPipeline } from '../../pipelines/flux/pipeline.js';
import type { RunHooks, StepReport } from '../../pipelines/pipeline.js';
import { ModelSession } from '../../runtime/session.js';
import { maxAbsDiff } from '../../testing/adapters.js';
import { tempDir } from '../../testing/models.js';
import { kontextTwin, sourceImage, sourcePng, writeRandomStlora } from '../../testing/slideredit.js';
import { SliderEditRunner, type SliderJob } from './runner.js';

const instruction = 'make the square blue and move it left';
const input = { seed: 11, steps: 2, guidance: 3.5 };

function hooks(latents: Float32Array[], reports: StepReport[] = []): RunHooks {
  return { signal: new AbortController().signal, wantPreview: true, onStep: (r) => void reports.push(r), onLatents: (l) => void latents.push(l.slice()) };
}

/** Counts session runs per graph folder (text_encoder, text_encoder_2, vae_encoder, transformer...). */
function countRuns() {
  const counts = new Map<string, number>();
  const sessions = new Map<string, Set<ModelSession>>();
  const original = ModelSession.prototype.run;
  const spy = vi.spyOn(ModelSession.prototype, 'run').mockImplementation(function (this: ModelSession, ...args) {
    const names = new Set(this.inputs.map((i) => i.name));
    // the transformer opens as the STLoRA's live-branch graph (a cached copy), so tell graphs by their inputs
    const graph = names.has('encoder_hidden_states') ? 'transformer' : names.has('latent_sample') ? 'vae_decoder' : names.has('sample') ? 'vae_encoder' : path.basename(path.dirname(this.file));
    counts.set(graph, (counts.get(graph) ?? 0) + 1);
    if (!sessions.has(graph)) sessions.set(graph, new Set());
    sessions.get(graph)!.add(this);
    return original.apply(this, args);
  });
  return { counts, sessions, reset: () => (counts.clear(), sessions.clear()), restore: () => spy.mockRestore() };
}

describe('SliderEdit session on the FLUX Kontext twin', () => {
  let pipeline: FluxPipeline;
  let runner: SliderEditRunner;
  let adapters: AdapterManager;
  let stlora: string;
  let png: Uint8Array;
  let modelDir: string;
  const job = (strengths: number[], parts?: string[]): SliderJob => ({
    modelId: 'twin',
    modelDir: '/nonexistent',
    pipeline,
    imageBytes: png,
    decodeImage: async () => sourceImage(),
    instruction,
    sliders: { strengths, stlora, ...(parts ? { parts } : {}) },
  });

  beforeAll(async () => {
    const dir = kontextTwin();
    modelDir = dir;
    pipeline = await FluxPipeline.load(describeModelFolder(dir), 'cpu', { graphCacheDir: tempDir() });
    stlora = writeRandomStlora(path.join(dir, 'transformer', 'model.onnx'), path.join(tempDir(), 'stlora.safetensors'));
    adapters = new AdapterManager(tempDir());
    runner = new SliderEditRunner(adapters);
    png = await sourcePng();
  });
  afterAll(async () => {
    await pipeline.release();
  });

  it('strength 1 on every part reproduces the plain edit; other strengths move it', async () => {
    const plain: Float32Array[] = [];
    await pipeline.edit({ image: sourceImage(), instruction, ...input, width: 64, height: 64 }, hooks(plain));
    const sliders: Float32Array[] = [];
    const reports: StepReport[] = [];
    const result = await runner.run(job([1, 1]), input, hooks(sliders, reports));
    expect(result.parts).toEqual(['make the square blue', 'move it left']);
    expect(result.cached).toBe(false);
    expect(maxAbsDiff(sliders[0]!, plain[0]!)).toBeLessThanOrEqual(1e-5);
    expect(reports.map((r) => [r.step, r.total, r.preview !== null])).toEqual([
      [1, 2, true],
      [2, 2, true],
    ]);
    const off: Float32Array[] = [];
    await runner.run(job([0, 1]), input, hooks(off));
    const more: Float32Array[] = [];
    await runner.run(job([1, 2]), input, hooks(more));
    expect(maxAbsDiff(off[0]!, plain[0]!)).toBeGreaterThan(1e-4);
    expect(maxAbsDiff(more[0]!, plain[0]!)).toBeGreaterThan(1e-4);
    expect(maxAbsDiff(more[0]!, off[0]!)).toBeGreaterThan(1e-4);
  });

  it('a slider move runs no encoder and keeps the transformer session; a new split reuses the encodings too', async () => {
    await runner.run(job([0.5, 1]), input, hooks([]));
    const runs = countRuns();
    try {
      const moved = await runner.run(job([1.5, 0.25]), input, hooks([]));
      expect(moved.cached).toBe(true);
      const split = await runner.run(job([0.5], ['make the square blue and move it left']), input, hooks([]));
      expect(split.parts).toEqual(['make the square blue and move it left']);
      expect(runs.counts.get('text_encoder') ?? 0).toBe(0);
      expect(runs.counts.get('text_encoder_2') ?? 0).toBe(0);
      expect(runs.counts.get('vae_encoder') ?? 0).toBe(0);
      expect(runs.counts.get('transformer')).toBe(2 * input.steps);
      expect(runs.counts.get('vae_decoder')).toBe(2);
      expect(runs.sessions.get('transformer')!.size).toBe(1);
      // another instruction is a new session: both text encoders and the VAE encoder run once
      runs.reset();
      await runner.run({ ...job([1, 0]), instruction: 'make the square green and move it up' }, input, hooks([]));
      expect([runs.counts.get('text_encoder'), runs.counts.get('text_encoder_2'), runs.counts.get('vae_encoder')]).toEqual([1, 1, 1]);
    } finally {
      runs.restore();
    }
  });

  it('a plain edit after slider jobs keeps the STLoRA at weight 0, in the same session, and matches the first plain edit bit for bit', async () => {
    const first: Float32Array[] = [];
    await runner.plain(pipeline, 'other');
    expect(adapters.methodAdapters()).toEqual([]);
    await pipeline.edit({ image: sourceImage(), instruction, ...input, width: 64, height: 64 }, hooks(first));
    await runner.run(job([0, 2]), input, hooks([]));
    const runs = countRuns();
    try {
      await runner.plain(pipeline, 'edit');
      expect(adapters.methodAdapters().map((s) => s.weight)).toEqual([0]);
      const again: Float32Array[] = [];
      await pipeline.edit({ image: sourceImage(), instruction, ...input, width: 64, height: 64 }, hooks(again));
      expect(maxAbsDiff(again[0]!, first[0]!)).toBe(0);
      // and back to the sliders: the one transformer session served all of it
      await runner.run(job([0, 2]), input, hooks([]));
      expect(runs.sessions.get('transformer')!.size).toBe(1);
    } finally {
      runs.restore();
    }
    // a job of another kind takes the STLoRA off
    await runner.plain(pipeline, 'other');
    expect(adapters.methodAdapters()).toEqual([]);
  });

  it('with a user live adapter as well (two adapters: branches not folded into the layers), a plain edit with the STLoRA at weight 0 is the plain edit within float rounding', async () => {
    const user = writeRandomStlora(path.join(modelDir, 'transformer', 'model.onnx'), path.join(tempDir(), 'user.safetensors'), 13);
    const id = (await adapters.add({ path: user })).id;
    await adapters.apply(pipeline.adapters!, [{ id, enabled: true, weight: 0.7, mode: 'live' }]);
    try {
      await runner.plain(pipeline, 'other');
      const first: Float32Array[] = [];
      await pipeline.edit({ image: sourceImage(), instruction, ...input, width: 64, height: 64 }, hooks(first));
      await runner.run(job([0, 2]), input, hooks([]));
      await runner.plain(pipeline, 'edit');
      const again: Float32Array[] = [];
      await pipeline.edit({ image: sourceImage(), instruction, ...input, width: 64, height: 64 }, hooks(again));
      // the user's branch is folded into the layers' own products without the STLoRA and summed
      // beside them with it: the same terms in another order (3.6e-7 here), never more
      expect(maxAbsDiff(again[0]!, first[0]!)).toBeLessThanOrEqual(1e-5);
    } finally {
      await runner.plain(pipeline, 'other');
      await adapters.apply(pipeline.adapters!, []);
    }
  });

  it('a session belongs to the pipeline it was made with: the same model loaded again encodes anew', async () => {
    await runner.run(job([0.5, 1]), input, hooks([]));
    expect((await runner.run(job([0.5, 1.5]), input, hooks([]))).cached).toBe(true);
    // a second pipeline of the same model (a reload), same model id, image and instruction
    const reloaded = await FluxPipeline.load(describeModelFolder(modelDir), 'cpu', { graphCacheDir: tempDir() });
    try {
      const fresh = await runner.run({ ...job([0.5, 1.5]), pipeline: reloaded }, input, hooks([]));
      expect(fresh.cached).toBe(false);
      expect((await runner.run({ ...job([0.5, 1]), pipeline: reloaded }, input, hooks([]))).cached).toBe(true);
      await runner.plain(reloaded, 'other');
    } finally {
      await reloaded.release();
    }
    // clear() forgets every pipeline's sessions
    runner.clear();
    expect((await runner.run(job([0.5, 1]), input, hooks([]))).cached).toBe(false);
    await runner.plain(pipeline, 'other');
  });

  it('names what is wrong: strengths, parts, the STLoRA file', async () => {
    await expect(runner.run(job([1, 2.5]), input, hooks([]))).rejects.toThrow('strength of "move it left" must be from 0 to 2');
    await expect(runner.run(job([1]), input, hooks([]))).rejects.toThrow('2 sub-instructions ("make the square blue", "move it left") but 1 strengths: give one strength per sub-instruction, in order');
    await expect(runner.run(job([1], ['make it red']), input, hooks([]))).rejects.toThrow('sub-instruction "make it red" is not part of the instruction');
    await expect(runner.run({ ...job([1, 1]), sliders: { strengths: [1, 1], stlora: '/nonexistent/stlora.safetensors' } }, input, hooks([]))).rejects.toThrow('STLoRA file not found');
    await expect(runner.run({ ...job([1, 1]), sliders: { strengths: [1, 1] } }, input, hooks([]))).rejects.toThrow('has no SliderEdit STLoRA');
  });
});
