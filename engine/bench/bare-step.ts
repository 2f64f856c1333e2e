/**
 * The reference every engine benchmark divides by: the bare ONNX Runtime session.run of a
 * model's denoiser on exactly the inputs a denoising step feeds it (built by the pipeline once),
 * with nothing of the engine around it.
 */
import { gaussianNoise } from '../noise/philox.js';
import type { FluxPipeline } from '../pipelines/flux/pipeline.js';
import { median } from './report.js';

export const BENCH_PROMPT = 'a large red circle at the top left and a small blue square in the center on a white background';

/** Median milliseconds of `runs` bare runs (after one warm-up run). */
export async function bareStepMs(pipeline: FluxPipeline, size: { width: number; height: number }, runs: number): Promise<number> {
  const step = await pipeline.stepInputs(BENCH_PROMPT, null, { ...size, guidance: 2.5 });
  const feeds = step.feeds(gaussianNoise(1, step.tokens * step.features), 0.7);
  const raw = step.transformer.raw;
  await raw.run(feeds);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await raw.run(feeds);
    times.push(performance.now() - t);
  }
  return median(times);
}
