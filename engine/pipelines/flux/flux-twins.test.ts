/**
 * The FLUX pipeline end to end on the Optimum and Black Forest Labs layout twins (64 x 64, 1-2
 * steps): BFL's names (clip/t5 text_embeddings, `latent`), ids without batch, bfloat16 graphs
 * prepared through the graph cache, Kontext edits through the sampling VAE encoder, bit-for-bit
 * seeds, the benchmark's stepInputs, and low-memory mode.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { describeModelFolder } from '../../models/detect.js';
import { ModelSession } from '../../runtime/session.js';
import { tempDir } from '../../testing/models.js';
import { copyTwin, twinDir } from '../../testing/twins.js';
import type { RunHooks, StepReport } from '../pipeline.js';
import { createPipeline } from '../registry.js';
import { SdPipeline } from '../sd/pipeline.js';
import { FluxPipeline } from './pipeline.js';

const size = { width: 64, height: 64 };
const generateJob = { prompt: 'a red cube', negativePrompt: '', seed: 5, steps: 2, guidance: 3.5, scheduler: 'flow-euler', ...size };

function hooks(reports: StepReport[] = []): RunHooks {
  return { signal: new AbortController().signal, wantPreview: true, onStep: (r) => void reports.push(r) };
}

afterEach(() => vi.restoreAllMocks());

describe('FLUX on the Optimum twin', () => {
  const entry = describeModelFolder(twinDir('flux-optimum'));

  it('generates reproducibly with previews, and keeps the benchmark API', async () => {
    const pipeline = await FluxPipeline.load(entry, 'cpu', { graphCacheDir: tempDir() });
    const reports: StepReport[] = [];
    const a = await pipeline.generate(generateJob, hooks(reports));
    const b = await pipeline.generate(generateJob, hooks());
    expect([a.width, a.height]).toEqual([64, 64]);
    expect(reports.map((r) => [r.step, r.total, r.preview?.width])).toEqual([
      [1, 2, 8],
      [2, 2, 8],
    ]);
    expect(Buffer.from(a.data).equals(Buffer.from(b.data))).toBe(true);
    const step = await pipeline.stepInputs('a red cube', null, { ...size, guidance: 3.5 });
    expect(step.tokens).toBe(16);
    const feeds = step.feeds(new Float32Array(16 * 64), 1);
    expect(feeds.img_ids!.dims).toEqual([16, 3]);
    expect(feeds.txt_ids!.dims).toEqual([512, 3]);
    await pipeline.release();
  });
});

describe('FLUX on the Black Forest Labs twin (Kontext, bfloat16 graphs)', () => {
  const dir = copyTwin('flux-bfl');
  const entry = describeModelFolder(dir);
  const graphCacheDir = tempDir();

  it('generates and edits one step, reproducibly, through prepared graphs', async () => {
    const pipeline = await createPipeline(entry, 'cpu', { graphCacheDir });
    expect(pipeline).toBeInstanceOf(FluxPipeline);
    const reports: StepReport[] = [];
    const image = await pipeline.generate({ ...generateJob, steps: 1 }, hooks(reports));
    expect([image.width, image.height]).toEqual([64, 64]);
    expect(reports).toHaveLength(1);
    const edit = { image, instruction: 'make the cube blue', seed: 9, steps: 1, guidance: 2.5, ...size };
    const a = await pipeline.edit!(edit, hooks());
    const b = await pipeline.edit!(edit, hooks());
    expect(Buffer.from(a.data).equals(Buffer.from(b.data))).toBe(true);
    expect(Buffer.from(a.data).equals(Buffer.from(image.data))).toBe(false);
    // transformer, VAE decoder and encoder: prepared once each
    expect(readdirSync(graphCacheDir)).toHaveLength(3);
    await pipeline.release();
  });

  it('low memory: same image, and the text encoders are released before the transformer runs', async () => {
    const normal = await FluxPipeline.load(entry, 'cpu', { graphCacheDir });
    const expected = await normal.generate(generateJob, hooks());
    await normal.release();
    const released: string[] = [];
    const release = ModelSession.prototype.release;
    vi.spyOn(ModelSession.prototype, 'release').mockImplementation(function (this: ModelSession) {
      released.push(path.basename(path.dirname(this.file)));
      return release.call(this);
    });
    const low = await FluxPipeline.load(entry, 'cpu', { graphCacheDir, lowMemory: true });
    const image = await low.generate(generateJob, hooks());
    expect(Buffer.from(image.data).equals(Buffer.from(expected.data))).toBe(true);
    expect(released).toEqual(['clip.opt', 't5.opt']);
    await low.release();
  });
});

describe('pipeline registry', () => {
  it('picks the Stable Diffusion pipeline for SD specs', async () => {
    const pipeline = await createPipeline(describeModelFolder(twinDir('sd15-optimum-fp16')), 'cpu', { graphCacheDir: tempDir() });
    expect(pipeline).toBeInstanceOf(SdPipeline);
    expect(pipeline.img2img).toBeTypeOf('function');
    await pipeline.release();
  });
});
