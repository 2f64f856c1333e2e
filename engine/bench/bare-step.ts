/**
 * The reference every engine benchmark divides by: the bare ONNX Runtime session.run of a
 * model's denoiser on exactly the inputs a denoising step feeds it (built by the pipeline once),
 * with nothing of the engine around it; for a true-CFG model at guidance > 1, the two passes of a
 * step (the prompt's and the empty negative prompt's).
 */
import { gaussianNoise } from '../noise/philox.js';
import type { FluxPipeline } from '../pipelines/flux/pipeline.js';
import { median } from './report.js';

export const BENCH_PROMPT = 'a large red circle at the top left and a small blue square in the center on a white background';

/**
 * Median milliseconds of `runs` bare steps (after one warm-up step) at `guidance`. A guided step's
 * two passes run as the pipeline runs them (one batch of two where it batches guidance), or, with
 * `separate`, as two runs.
 */
export async function bareStepMs(pipeline: FluxPipeline, size: { width: number; height: number }, runs: number, guidance: number, separate = false): Promise<number> {
  const guided = pipeline.runsNegativePass(guidance);
  const negative = guided ? await pipeline.encodeText('') : null;
  const batched = negative !== null && !separate && (await pipeline.batchesGuidance());
  const step = await pipeline.stepInputs(BENCH_PROMPT, null, { ...size, guidance }, 'prompt', batched ? negative : null);
  const latents = gaussianNoise(1, step.tokens * step.features);
  const passes = [step.feeds(latents, 0.7)];
  if (negative && !batched) passes.push((await pipeline.stepInputs(negative, null, { ...size, guidance }, 'negative')).feeds(latents, 0.7));
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
