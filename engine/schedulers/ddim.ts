/**
 * DDIM: Song, Meng & Ermon 2020, "Denoising Diffusion Implicit Models", eq. 12 with eta = 0 (the
 * deterministic sampler): from the predicted clean sample x0 and noise eps at timestep t,
 *   x_prev = sqrt(alphaBar_prev) x0 + sqrt(1 - alphaBar_prev) eps,
 * where prev is the next timestep of the inference sub-sequence (or the end of the chain, with
 * alphaBar = 1 when `set_alpha_to_one`, else alphaBar_0). Configured like diffusers'
 * DDIMScheduler; see README.md in this folder for where it deliberately differs.
 */
import {
  ConfigReader,
  alphaToSigma,
  alphasCumprodFor,
  checkIndex,
  checkLength,
  checkPlan,
  checkSteps,
  img2imgStart,
  readDiscreteConfig,
  roundHalfEven,
  spacedTimesteps,
  vpPrediction,
  type DiscreteConfig,
  type SchedulerJson,
} from './discrete.js';
import type { SchedulePlan, Scheduler, StepOptions, StepResult, TimestepOptions } from './types.js';

export interface DdimConfig extends DiscreteConfig {
  /** Clamp the predicted x0 to [-clipSampleRange, clipSampleRange]. */
  clipSample: boolean;
  clipSampleRange: number;
  /** The end of the chain has alphaBar = 1 (else alphaBar at timestep 0). */
  setAlphaToOne: boolean;
}

/** diffusers' DDIMScheduler defaults. */
export const DDIM_DEFAULTS: DdimConfig = {
  numTrainTimesteps: 1000,
  betaStart: 0.0001,
  betaEnd: 0.02,
  betaSchedule: 'linear',
  trainedBetas: null,
  predictionType: 'epsilon',
  timestepSpacing: 'leading',
  stepsOffset: 0,
  rescaleBetasZeroSnr: false,
  clipSample: true,
  clipSampleRange: 1,
  setAlphaToOne: true,
};

export function ddimConfigFromJson(json: SchedulerJson, defaults: DdimConfig = DDIM_DEFAULTS): DdimConfig {
  const r = new ConfigReader(json, 'DDIM');
  return {
    ...readDiscreteConfig(r, defaults),
    clipSample: r.bool('clip_sample', defaults.clipSample),
    clipSampleRange: r.num('clip_sample_range', defaults.clipSampleRange),
    setAlphaToOne: r.bool('set_alpha_to_one', defaults.setAlphaToOne),
  };
}

export interface DdimPlan extends SchedulePlan {
  readonly kind: 'ddim';
  /** alphaBar at each step boundary: the plan's timesteps, then the end of the chain. */
  readonly alphasCumprod: Float64Array;
}

export class DdimScheduler implements Scheduler<DdimPlan> {
  readonly kind = 'ddim' as const;
  private readonly alphas: Float64Array;

  constructor(readonly config: DdimConfig) {
    this.alphas = alphasCumprodFor(config, false);
  }

  timesteps(steps: number, options: TimestepOptions = {}): DdimPlan {
    const c = this.config;
    checkSteps(steps, c.numTrainTimesteps);
    const start = img2imgStart(steps, options.strength ?? 1);
    const all = spacedTimesteps(c.timestepSpacing, c.numTrainTimesteps, steps, c.stepsOffset).map(roundHalfEven);
    const timesteps = all.slice(start);
    for (const t of timesteps) {
      if (t < 0 || t >= c.numTrainTimesteps) throw new RangeError(`timestep ${t} is outside the ${c.numTrainTimesteps} training timesteps (steps_offset too large?)`);
    }
    const final = c.setAlphaToOne ? 1 : this.alphas[0]!;
    const alphasCumprod = Float64Array.from([...timesteps].map((t) => this.alphas[t]!).concat(final));
    return {
      kind: 'ddim',
      steps: timesteps.length,
      requestedSteps: steps,
      startIndex: start,
      timesteps,
      integerTimesteps: true,
      sigmas: alphasCumprod.map(alphaToSigma),
      initNoiseSigma: 1,
      alphasCumprod,
    };
  }

  scaleModelInput(_plan: DdimPlan, sample: Float32Array, _index: number): Float32Array {
    return sample;
  }

  needsNoise(): boolean {
    return false;
  }

  step(plan: DdimPlan, index: number, modelOutput: Float32Array, sample: Float32Array, _options?: StepOptions): StepResult {
    checkPlan(plan, ['ddim']);
    checkIndex(plan, index);
    checkLength('modelOutput', modelOutput, sample.length);
    const c = this.config;
    const pred = vpPrediction(c.predictionType, plan.alphasCumprod[index]!);
    const aPrev = plan.alphasCumprod[index + 1]!;
    const sqrtA = Math.sqrt(aPrev);
    const sqrtB = Math.sqrt(1 - aPrev);
    const range = c.clipSampleRange;
    const next = new Float32Array(sample.length);
    const x0 = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) {
      const out = modelOutput[i]!;
      const x = sample[i]!;
      let p = pred.x0(out, x);
      if (c.clipSample) p = Math.min(Math.max(p, -range), range);
      // diffusers keeps the unclipped eps (use_clipped_model_output = false)
      next[i] = sqrtA * p + sqrtB * pred.eps(out, x);
      x0[i] = p;
    }
    return { sample: next, predictedOriginal: x0, state: null };
  }

  addNoise(plan: DdimPlan, x0: Float32Array, noise: Float32Array, index: number): Float32Array {
    checkPlan(plan, ['ddim']);
    checkIndex(plan, index);
    checkLength('noise', noise, x0.length);
    const a = plan.alphasCumprod[index]!;
    const sa = Math.sqrt(a);
    const sb = Math.sqrt(1 - a);
    return x0.map((v, i) => sa * v + sb * noise[i]!);
  }
}
