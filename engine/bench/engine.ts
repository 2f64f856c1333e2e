/**
 * `bench engine`: the engine's own cost on the default model, in-process (no RPC):
 * - ratio: a denoising step as the pipeline runs it (scheduler step, preview, progress event)
 *   divided by the bare session.run of the transformer on the same inputs, in alternating
 *   rounds, median of the rounds' ratios; measured, as `bench rpc` does, at the smallest size from
 *   the model's own up where a bare step takes at least 20 ms (`ratio_size`): on the tiny model's
 *   8 ms steps the machine's run-to-run noise alone spread the ratio over 0.9-1.25;
 * - guidance_batch_ratio (true-CFG models): a bare guided step with both passes as one batch of two
 *   divided by the same two passes as two runs (FluxPipeline.batchesGuidance), same rounds and size;
 * - seconds_per_image_20_steps: a whole 20-step job at the model's size with a new prompt each
 *   time (text encoding, 20 steps, VAE decode, PNG with metadata, history write), median;
 * - peak_rss_mb: the process's peak resident memory after all of it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Engine } from '../engine.js';
import { describeModelFolder } from '../models/detect.js';
import { embeddedModelDir } from '../paths.js';
import { FluxPipeline } from '../pipelines/flux/pipeline.js';
import { BENCH_PROMPT, bareStepMs } from './bare-step.js';
import { median, type Figures } from './report.js';

/** The shortest bare step the ratio is measured on (as bench rpc). */
const MIN_STEP_MS = 20;
const COLORS = ['red', 'orange', 'yellow', 'green', 'blue', 'purple'];

export async function benchEngine(options: { modelDir?: string; rounds?: number } = {}): Promise<Figures> {
  const modelDir = options.modelDir ?? embeddedModelDir();
  const rounds = options.rounds ?? 11;
  const descriptor = describeModelFolder(modelDir, true);
  const size = { width: descriptor.info.defaults.width, height: descriptor.info.defaults.height };
  const bareModel = await FluxPipeline.load(descriptor, 'cpu');
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'atelier-bench-'));
  const engine = new Engine({
    dataDir,
    modelRoots: [{ dir: modelDir, embedded: true, explicit: true }],
  });
  try {
    const model = engine.listModels()[0];
    if (!model) throw new Error(`${modelDir}: no usable model there`);
    await engine.loadModel(model.id, 'cpu');
    const { guidance } = descriptor.info.defaults;
    let ratioSize = size.width;
    while ((await bareStepMs(bareModel, { width: ratioSize, height: ratioSize }, 5, guidance)) < MIN_STEP_MS && ratioSize < 1024) ratioSize *= 2;
    const ratioDims = { width: ratioSize, height: ratioSize };
    const stepMs = async (steps: number, seed: number): Promise<number> => {
      const intervals: number[] = [];
      let last: number | null = null;
      await engine.runJob({ kind: 'generate', prompt: BENCH_PROMPT, steps: steps + 1, seed, ...ratioDims }, () => {
        const now = performance.now();
        if (last !== null) intervals.push(now - last);
        last = now;
      });
      return median(intervals);
    };
    await stepMs(2, 0); // warm-up: sessions, the prompt's encoding
    const bare: number[] = [];
    const stepped: number[] = [];
    const ratios: number[] = [];
    const batching = bareModel.runsNegativePass(guidance) && (await bareModel.batchesGuidance());
    const separate: number[] = [];
    const batchRatios: number[] = [];
    for (let r = 0; r < rounds; r++) {
      bare.push(await bareStepMs(bareModel, ratioDims, 20, guidance));
      stepped.push(await stepMs(20, r + 1));
      ratios.push(stepped.at(-1)! / bare.at(-1)!);
      if (batching) {
        separate.push(await bareStepMs(bareModel, ratioDims, 20, guidance, true));
        batchRatios.push(bare.at(-1)! / separate.at(-1)!);
      }
    }
    const images: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const prompt = `a large ${COLORS[r % COLORS.length]} circle in the center on a white background`;
      const started = performance.now();
      await engine.runJob({ kind: 'generate', prompt, steps: 20, seed: 100 + r, ...size });
      images.push((performance.now() - started) / 1000);
    }
    return {
      suite: 'engine',
      model: model.name,
      width: size.width,
      height: size.height,
      rounds,
      ratio_size: ratioSize,
      bare_step_ms: median(bare),
      engine_step_ms: median(stepped),
      ratio: median(ratios),
      goal_ratio: 1.05,
      ...(batching ? { bare_step_separate_ms: median(separate), guidance_batch_ratio: median(batchRatios) } : {}),
      seconds_per_image_20_steps: median(images),
      goal_seconds_per_image_20_steps: 1,
      peak_rss_mb: process.resourceUsage().maxRSS / 1024,
    };
  } finally {
    await engine.shutdown();
    await bareModel.release();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
