/**
 * LCM: Luo et al. 2023, "Latent Consistency Models: Synthesizing High-Resolution Images with
 * Few-Step Inference". The consistency function f(x, t) = c_skip(t) x + c_out(t) x0(x, t) with the
 * boundary-condition scalings of consistency models (Song et al. 2023, "Consistency Models"; LCM's
 * sigma_data = 0.5, t scaled by `timestep_scaling` = 10); multistep consistency sampling (Song et
 * al. 2023, Algorithm 1, as LCM uses it) re-noises the estimate to the next timestep with fresh noise,
 *   x_next = sqrt(alphaBar_next) f(x, t) + sqrt(1 - alphaBar_next) z,
 * and returns f(x, t) itself after the last step. Timesteps are a subset of the distillation
 * schedule (every num_train_timesteps / original_inference_steps). Configured like diffusers'
 * LCMScheduler; img2img (strength) shortens the distillation schedule rather than cutting the
 * plan, as diffusers' LCM img2img pipeline does.
 */
import {
  ConfigReader,
  alphaToSigma,
  alphasCumprodFor,
  checkIndex,
  checkLength,
  checkPlan,
  checkSteps,
  checkStrength,
  linspace,
  readDiscreteConfig,
  vpPrediction,
  type DiscreteConfig,
  type SchedulerJson,
} from './discrete.js';
import type { SchedulePlan, Scheduler, StepOptions, StepResult, TimestepOptions } from './types.js';

export interface LcmConfig extends DiscreteConfig {
  /** The step count of the schedule the model was distilled on. */
  originalInferenceSteps: number;
  clipSample: boolean;
  clipSampleRange: number;
  setAlphaToOne: boolean;
  timestepScaling: number;
}

/** diffusers' LCMScheduler defaults (Stable Diffusion's noise schedule). */
export const LCM_DEFAULTS: LcmConfig = {
  numTrainTimesteps: 1000,
  betaStart: 0.00085,
  betaEnd: 0.012,
  betaSchedule: 'scaled_linear',
  trainedBetas: null,
  predictionType: 'epsilon',
  timestepSpacing: 'leading',
  stepsOffset: 0,
  rescaleBetasZeroSnr: false,
  originalInferenceSteps: 50,
  clipSample: false,
  clipSampleRange: 1,
  setAlphaToOne: true,
  timestepScaling: 10,
};

export function lcmConfigFromJson(json: SchedulerJson, defaults: LcmConfig = LCM_DEFAULTS): LcmConfig {
  const r = new ConfigReader(json, 'LCM');
  return {
    ...readDiscreteConfig(r, defaults),
    originalInferenceSteps: r.int('original_inference_steps', defaults.originalInferenceSteps),
    clipSample: r.bool('clip_sample', defaults.clipSample),
    clipSampleRange: r.num('clip_sample_range', defaults.clipSampleRange),
    setAlphaToOne: r.bool('set_alpha_to_one', defaults.setAlphaToOne),
    timestepScaling: r.num('timestep_scaling', defaults.timestepScaling),
  };
}

export interface LcmPlan extends SchedulePlan {
  readonly kind: 'lcm';
  /** alphaBar at each step boundary: the plan's timesteps, then the end of the chain. */
  readonly alphasCumprod: Float64Array;
}

const SIGMA_DATA = 0.5;

/** The boundary-condition scalings (c_skip, c_out) at training timestep t: c_skip(0) = 1, c_out(0) = 0. */
export function lcmBoundaryScalings(t: number, timestepScaling: number): { cSkip: number; cOut: number } {
  const s = t * timestepScaling;
  const d = s * s + SIGMA_DATA * SIGMA_DATA;
  return { cSkip: (SIGMA_DATA * SIGMA_DATA) / d, cOut: s / Math.sqrt(d) };
}

export class LcmScheduler implements Scheduler<LcmPlan> {
  readonly kind = 'lcm' as const;
  private readonly alphas: Float64Array;

  constructor(readonly config: LcmConfig) {
    this.alphas = alphasCumprodFor(config, false);
  }

  timesteps(steps: number, options: TimestepOptions = {}): LcmPlan {
    const c = this.config;
    checkSteps(steps, c.numTrainTimesteps);
    const strength = options.strength ?? 1;
    checkStrength(strength);
    const orig = c.originalInferenceSteps;
    if (!(orig >= 1 && orig <= c.numTrainTimesteps)) throw new RangeError(`original_inference_steps must be in [1, ${c.numTrainTimesteps}], got ${orig}`);
    if (steps > orig) throw new RangeError(`LCM steps (${steps}) cannot exceed original_inference_steps (${orig})`);
    const k = Math.floor(c.numTrainTimesteps / orig);
    const count = Math.trunc(orig * strength);
    if (Math.floor(count / steps) < 1) throw new RangeError(`strength ${strength} leaves ${count} of the ${orig} distillation timesteps, fewer than ${steps} steps`);
    // the distillation schedule k-1, 2k-1, ..., descending; take `steps` of them evenly by index
    const origin = Float64Array.from({ length: count }, (_, i) => (count - i) * k - 1);
    const timesteps = linspace(0, count, steps, false).map((i) => origin[Math.floor(i)]!);
    const final = c.setAlphaToOne ? 1 : this.alphas[0]!;
    const alphasCumprod = Float64Array.from([...timesteps].map((t) => this.alphas[t]!).concat(final));
    return {
      kind: 'lcm',
      steps,
      requestedSteps: steps,
      startIndex: 0,
      timesteps,
      integerTimesteps: true,
      sigmas: alphasCumprod.map(alphaToSigma),
      initNoiseSigma: 1,
      alphasCumprod,
    };
  }

  scaleModelInput(_plan: LcmPlan, sample: Float32Array, _index: number): Float32Array {
    return sample;
  }

  /** Every step but the last. */
  needsNoise(plan: LcmPlan, index: number): boolean {
    checkIndex(plan, index);
    return index < plan.steps - 1;
  }

  step(plan: LcmPlan, index: number, modelOutput: Float32Array, sample: Float32Array, options: StepOptions = {}): StepResult {
    checkPlan(plan, ['lcm']);
    checkIndex(plan, index);
    checkLength('modelOutput', modelOutput, sample.length);
    const c = this.config;
    const last = index === plan.steps - 1;
    const noise = last ? undefined : options.noise;
    if (!last) {
      if (!noise) throw new Error(`lcm step ${index} needs noise (see needsNoise)`);
      checkLength('noise', noise, sample.length);
    }
    const pred = vpPrediction(c.predictionType, plan.alphasCumprod[index]!);
    const { cSkip, cOut } = lcmBoundaryScalings(plan.timesteps[index]!, c.timestepScaling);
    const aNext = plan.alphasCumprod[index + 1]!;
    const sa = Math.sqrt(aNext);
    const sb = Math.sqrt(1 - aNext);
    const range = c.clipSampleRange;
    const denoised = new Float32Array(sample.length);
    const next = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) {
      const x = sample[i]!;
      let p = pred.x0(modelOutput[i]!, x);
      if (c.clipSample) p = Math.min(Math.max(p, -range), range);
      const f = cOut * p + cSkip * x;
      denoised[i] = f;
      next[i] = noise ? sa * f + sb * noise[i]! : f;
    }
    return { sample: next, predictedOriginal: denoised, state: null };
  }

  addNoise(plan: LcmPlan, x0: Float32Array, noise: Float32Array, index: number): Float32Array {
    checkPlan(plan, ['lcm']);
    checkIndex(plan, index);
    checkLength('noise', noise, x0.length);
    const a = plan.alphasCumprod[index]!;
    const sa = Math.sqrt(a);
    const sb = Math.sqrt(1 - a);
    return x0.map((v, i) => sa * v + sb * noise[i]!);
  }
}
