/**
 * `bench slideredit`: what SliderEdit's caching buys. On the default model (or --model) with its
 * STLoRA, a two-part edit of a held-out source image, in alternating rounds:
 * - scratch: a full edit from nothing cached (the session cache is cleared): decode the source
 *   image, both text encoders, the VAE encoder, the denoising loop, the VAE decode;
 * - move: the same edit after a slider move (other strengths, same image and instruction): only
 *   the denoising loop and the VAE decode run.
 * Both run through the engine's SliderEdit runner with the STLoRA as live branches (the
 * transformer session stays open in both), at the model's default steps. `ratio` is the median
 * over rounds of move / scratch (goal <= 0.9); the medians of each are reported too. With a
 * true-CFG model (two transformer passes a step, FluxSpec.trueCfg) the caching saves the same
 * encoders on a loop twice as long, so the same rounds also run at guidance 1 (one pass a step):
 * `ratio_one_pass`, `scratch_ms_one_pass`, `move_ms_one_pass`.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AdapterManager } from '../adapters/manager.js';
import { decodeImage } from '../images/codec.js';
import { findCheckpoints } from '../methods/slideredit/checkpoint.js';
import { SliderEditRunner, type SliderJob } from '../methods/slideredit/runner.js';
import { describeModelFolder } from '../models/detect.js';
import { readEditSet } from '../eval/scenes.js';
import { embeddedModelDir, packageRoot } from '../paths.js';
import { FluxPipeline } from '../pipelines/flux/pipeline.js';
import { median, type Figures } from './report.js';

const ROUNDS = 7;

export async function benchSliderEdit(flags: { modelDir?: string }): Promise<Figures> {
  const modelDir = flags.modelDir ?? embeddedModelDir();
  const checkpoints = findCheckpoints(modelDir);
  if (!checkpoints) throw new Error(`${modelDir}: no SliderEdit STLoRA found (build it in the zoo, see models/zoo/README.md)`);
  const evalDir = path.join(packageRoot(), 'models', 'tiny', 'eval');
  const item = readEditSet(path.join(evalDir, 'edit.json')).items.find((i) => i.n_parts === 2);
  if (!item) throw new Error('the edit set has no two-part item');
  const bytes = new Uint8Array(readFileSync(path.join(evalDir, item.source)));
  const work = mkdtempSync(path.join(os.tmpdir(), 'atelier-bench-slideredit-'));
  const descriptor = describeModelFolder(modelDir, true);
  const pipeline = await FluxPipeline.load(descriptor, 'cpu', { graphCacheDir: path.join(work, 'graphs') });
  const runner = new SliderEditRunner(new AdapterManager(work));
  const { steps, guidance } = descriptor.info.defaults;
  const hooks = { signal: new AbortController().signal };
  const job = (strengths: number[]): SliderJob => ({
    modelId: descriptor.info.id,
    modelDir,
    pipeline,
    imageBytes: bytes,
    decodeImage: () => decodeImage(bytes, { name: item.source }),
    instruction: item.instruction,
    sliders: { strengths, stlora: checkpoints.stlora },
  });
  const rounds = async (g: number) => {
    const input = { seed: item.seed, steps, guidance: g };
    await runner.run(job([1, 1]), input, hooks); // warm-up: sessions open, graphs built
    const scratch: number[] = [];
    const move: number[] = [];
    const ratios: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      runner.clear();
      let t = performance.now();
      const cold = await runner.run(job([1, 0.5]), input, hooks);
      const s = performance.now() - t;
      t = performance.now();
      const warm = await runner.run(job([1.5, 0.5 + r * 0.1]), input, hooks);
      const m = performance.now() - t;
      if (cold.cached || !warm.cached) throw new Error('the bench did not get the cache states it measures');
      scratch.push(s);
      move.push(m);
      ratios.push(m / s);
    }
    return { scratch: median(scratch), move: median(move), ratio: median(ratios) };
  };
  try {
    const main = await rounds(guidance);
    const onePass = pipeline.runsNegativePass(guidance) ? await rounds(1) : null;
    return {
      suite: 'slideredit',
      model: descriptor.info.name,
      steps,
      guidance,
      rounds: ROUNDS,
      scratch_ms: main.scratch,
      move_ms: main.move,
      ratio: main.ratio,
      ...(onePass ? { scratch_ms_one_pass: onePass.scratch, move_ms_one_pass: onePass.move, ratio_one_pass: onePass.ratio } : {}),
      goal: 0.9,
    };
  } finally {
    await pipeline.release();
    rmSync(work, { recursive: true, force: true });
  }
}
