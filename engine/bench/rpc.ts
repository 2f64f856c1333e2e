/**
 * `bench rpc`: the engine's overhead per denoising step through its RPC. One run measures
 * (1) the bare ONNX Runtime session.run of the model's transformer on exactly the inputs a step
 * feeds it, in this process, and (2) the interval between consecutive progress events of a real
 * job run by an engine child process over the real protocol (process IPC, as the web shell's
 * engine), which includes the scheduler step, the preview and the message. The image size is
 * raised until a bare step takes at least 20 ms, so the ratio is measured where it matters; the
 * two are measured in alternating rounds and the ratio is the median of the rounds' ratios.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describeModelFolder } from '../models/detect.js';
import { embeddedModelDir } from '../paths.js';
import { FluxPipeline } from '../pipelines/flux/pipeline.js';
import { EngineChild } from './engine-child.js';
import { BENCH_PROMPT, bareStepMs } from './bare-step.js';
import { median, type Figures } from './report.js';

const MIN_STEP_MS = 20;

/** Median interval between consecutive progress events of one job of `steps` + 1 steps. */
async function rpcStepMs(engine: EngineChild, size: number, steps: number, seed: number): Promise<number> {
  const intervals: number[] = [];
  let last: number | null = null;
  const done = new Promise<void>((resolve, reject) => {
    const off = engine.onEvent((e, at) => {
      if (e.event === 'progress') {
        if (last !== null) intervals.push(at - last);
        last = at;
      } else if (e.event === 'jobDone') (off(), resolve());
      else if (e.event === 'jobFailed') (off(), reject(new Error(e.data.message)));
    });
  });
  await engine.call('runJob', { kind: 'generate', prompt: BENCH_PROMPT, steps: steps + 1, width: size, height: size, seed });
  await done;
  return median(intervals);
}

export async function benchRpc(options: { modelDir?: string; steps?: number; rounds?: number }): Promise<Figures> {
  const modelDir = options.modelDir ?? embeddedModelDir();
  const steps = options.steps ?? 10;
  const rounds = options.rounds ?? 5;
  const entry = describeModelFolder(modelDir, true);
  const pipeline = await FluxPipeline.load(entry, 'cpu');
  let size = entry.info.defaults.width;
  const guidance = entry.info.defaults.guidance;
  while ((await bareStepMs(pipeline, { width: size, height: size }, 5, guidance)) < MIN_STEP_MS && size < 1024) size *= 2;

  const work = mkdtempSync(path.join(os.tmpdir(), 'atelier-bench-'));
  const engine = await EngineChild.start(['--data-dir', path.join(work, 'data'), '--models', modelDir]);
  try {
    const { models } = await engine.call('listModels', {});
    const model = models.find((m) => path.resolve(m.path) === path.resolve(modelDir));
    if (!model) throw new Error(`${modelDir}: the engine did not list this model`);
    await engine.call('loadModel', { modelId: model.id, provider: 'cpu' });
    await rpcStepMs(engine, size, 2, 1); // warm-up: sessions, text encoders
    // Interleaved rounds, so load from elsewhere on the machine affects both sides alike.
    const bare: number[] = [];
    const rpc: number[] = [];
    const ratios: number[] = [];
    for (let r = 0; r < rounds; r++) {
      bare.push(await bareStepMs(pipeline, { width: size, height: size }, steps, guidance));
      rpc.push(await rpcStepMs(engine, size, steps, 2 + r));
      ratios.push(rpc.at(-1)! / bare.at(-1)!);
    }
    return {
      suite: 'rpc',
      model: entry.info.name,
      width: size,
      height: size,
      steps_per_round: steps,
      rounds,
      bare_step_ms: median(bare),
      rpc_step_ms: median(rpc),
      ratio: median(ratios),
      goal_ratio: 1.05,
    };
  } finally {
    engine.stop();
    await pipeline.release();
    rmSync(work, { recursive: true, force: true });
  }
}
