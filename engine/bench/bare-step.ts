/**
 * The reference every engine benchmark divides by: the bare ONNX Runtime session.run of a
 * model's denoiser on exactly the inputs a denoising step feeds it (built by the pipeline once),
 * with nothing of the engine around it; for a true-CFG model at guidance > 1, the two runs of a
 * step (the prompt's and the empty negative prompt's).
 */
import { gaussianNoise } from '../noise/philox.js';
import type { FluxPipeline } from '../pipelines/flux/pipeline.js';
import { median } from './report.js';

export const BENCH_PROMPT = 'a large red circle at the top left and a small blue square in the center on a white background';

/** Median milliseconds of `runs` bare steps (after one warm-up step) at `guidance`. */
export async function bareStepMs(pipeline: FluxPipeline, size: { width: number; height: number }, runs: number, guidance: number): Promise<number> {
  const step = await pipeline.stepInputs(BENCH_PROMPT, null, { ...size, guidance });
  const latents = gaussianNoise(1, step.tokens * step.features);
  const passes = [step.feeds(latents, 0.7)];
  if (pipeline.runsNegativePass(guidance)) passes.push((await pipeline.stepInputs(await pipeline.encodeText(''), null, { ...size, guidance })).feeds(latents, 0.7));
  const raw = step.transformer.raw;
  const runStep = async () => {
    for (const feeds of passes) await raw.run(feeds);
  };
  await runStep();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await runStep();
    times.push(performance.now() - t);
  }
  return median(times);
}
