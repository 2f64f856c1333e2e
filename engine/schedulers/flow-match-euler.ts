/**
 * Flow-matching Euler, as FLUX uses it (diffusers' FlowMatchEulerDiscreteScheduler with the FLUX
 * pipelines' sigmas): rectified flow (Lipman et al. 2023, "Flow Matching for Generative Modeling";
 * Esser et al. 2024, "Scaling Rectified Flow Transformers", the SD3 paper) interpolates
 * x_sigma = (1 - sigma) x0 + sigma noise, the model predicts the velocity v = noise - x0, and each
 * step is x <- x + (sigma_next - sigma) * v. The schedule `linspace(1, 1/N, N)` is shifted by
 * `mu`, which grows linearly with the number of image tokens ("dynamic shifting", FLUX's
 * resolution-dependent shift: sigma' = e^mu / (e^mu + (1/sigma - 1))), or by a fixed `shift`
 * (sigma' = shift sigma / (1 + (shift - 1) sigma), SD3's time shift).
 *
 * Two faces: `FlowMatchEulerScheduler`, the in-place helper the FLUX pipeline uses, and
 * `FlowMatchEulerDiscreteScheduler`, the same maths behind the common `Scheduler` interface
 * (plans, img2img strength, previews). Both are small pure objects.
 */
import { checkIndex, checkLength, checkPlan, checkStrength } from './discrete.js';
import type { SchedulePlan, Scheduler, StepOptions, StepResult, TimestepOptions } from './types.js';

export interface FlowMatchConfig {
  baseImageSeqLen: number;
  maxImageSeqLen: number;
  baseShift: number;
  maxShift: number;
  useDynamicShifting: boolean;
  /** Used when dynamic shifting is off. */
  shift: number;
}

/** FLUX.1's scheduler_config.json values. */
export const FLUX_DEFAULTS: FlowMatchConfig = {
  baseImageSeqLen: 256,
  maxImageSeqLen: 4096,
  baseShift: 0.5,
  maxShift: 1.15,
  useDynamicShifting: true,
  shift: 3.0,
};

/** `mu` linear in the image token count through (base, baseShift) and (max, maxShift). */
export function flowMatchMu(imageSeqLen: number, c: FlowMatchConfig): number {
  const m = (c.maxShift - c.baseShift) / (c.maxImageSeqLen - c.baseImageSeqLen);
  return imageSeqLen * m + (c.baseShift - m * c.baseImageSeqLen);
}

/** Steps + 1 sigmas, from the shifted 1 down to the final 0. */
export function flowMatchSigmas(steps: number, imageSeqLen: number, config: FlowMatchConfig): Float64Array {
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`steps must be a positive integer, got ${steps}`);
  const out = new Float64Array(steps + 1);
  const mu = flowMatchMu(imageSeqLen, config);
  for (let i = 0; i < steps; i++) {
    const s = steps === 1 ? 1 : 1 + ((1 / steps - 1) * i) / (steps - 1);
    out[i] = config.useDynamicShifting
      ? Math.exp(mu) / (Math.exp(mu) + (1 / s - 1))
      : (config.shift * s) / (1 + (config.shift - 1) * s);
  }
  out[steps] = 0;
  return out;
}

export class FlowMatchEulerScheduler {
  constructor(readonly config: FlowMatchConfig) {}

  /** Steps + 1 sigmas, from the shifted 1 down to the final 0. */
  sigmas(steps: number, imageSeqLen: number): Float64Array {
    return flowMatchSigmas(steps, imageSeqLen, this.config);
  }

  /** One Euler step in place: sample += (sigmaNext - sigma) * velocity. */
  step(sample: Float32Array, velocity: Float32Array, sigma: number, sigmaNext: number): void {
    const dt = sigmaNext - sigma;
    for (let i = 0; i < sample.length; i++) sample[i]! += dt * velocity[i]!;
  }

  /** The model's current estimate of the clean sample, x0 = x - sigma * v (for previews). */
  predictedClean(sample: Float32Array, velocity: Float32Array, sigma: number): Float32Array {
    const out = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) out[i] = sample[i]! - sigma * velocity[i]!;
    return out;
  }
}

/** Reads diffusers' scheduler_config.json keys, with FLUX's values where a key is missing. */
export function flowMatchConfigFromJson(json: Record<string, unknown>): FlowMatchConfig {
  const num = (key: string, fallback: number): number => (typeof json[key] === 'number' ? (json[key] as number) : fallback);
  return {
    baseImageSeqLen: num('base_image_seq_len', FLUX_DEFAULTS.baseImageSeqLen),
    maxImageSeqLen: num('max_image_seq_len', FLUX_DEFAULTS.maxImageSeqLen),
    baseShift: num('base_shift', FLUX_DEFAULTS.baseShift),
    maxShift: num('max_shift', FLUX_DEFAULTS.maxShift),
    useDynamicShifting: typeof json.use_dynamic_shifting === 'boolean' ? json.use_dynamic_shifting : FLUX_DEFAULTS.useDynamicShifting,
    shift: num('shift', FLUX_DEFAULTS.shift),
  };
}

export interface FlowMatchPlan extends SchedulePlan {
  readonly kind: 'flow-euler';
}

/**
 * The `Scheduler` face. Plan timesteps are the sigmas themselves: FLUX's transformer takes
 * t = sigma in [0, 1] (diffusers' pipelines pass `timestep / 1000`). img2img follows
 * FluxImg2ImgPipeline: skip int(N - N * strength) steps and start from
 * x = sigma noise + (1 - sigma) x0.
 */
export class FlowMatchEulerDiscreteScheduler implements Scheduler<FlowMatchPlan> {
  readonly kind = 'flow-euler' as const;

  constructor(readonly config: FlowMatchConfig) {}

  timesteps(steps: number, options: TimestepOptions = {}): FlowMatchPlan {
    const strength = options.strength ?? 1;
    checkStrength(strength);
    if (this.config.useDynamicShifting && options.imageSeqLen === undefined) throw new Error('flow-euler with dynamic shifting needs imageSeqLen');
    const full = flowMatchSigmas(steps, options.imageSeqLen ?? 0, this.config);
    const start = Math.trunc(Math.max(steps - Math.min(steps * strength, steps), 0));
    if (start >= steps) throw new RangeError(`strength ${strength} leaves no step out of ${steps}`);
    const sigmas = full.slice(start);
    return {
      kind: 'flow-euler',
      steps: steps - start,
      requestedSteps: steps,
      startIndex: start,
      timesteps: sigmas.slice(0, steps - start),
      integerTimesteps: false,
      sigmas,
      initNoiseSigma: 1,
    };
  }

  scaleModelInput(_plan: FlowMatchPlan, sample: Float32Array, _index: number): Float32Array {
    return sample;
  }

  needsNoise(): boolean {
    return false;
  }

  step(plan: FlowMatchPlan, index: number, velocity: Float32Array, sample: Float32Array, _options?: StepOptions): StepResult {
    checkPlan(plan, ['flow-euler']);
    checkIndex(plan, index);
    checkLength('modelOutput', velocity, sample.length);
    const sigma = plan.sigmas[index]!;
    const dt = plan.sigmas[index + 1]! - sigma;
    const next = new Float32Array(sample.length);
    const x0 = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) {
      const x = sample[i]!;
      const v = velocity[i]!;
      next[i] = x + dt * v;
      x0[i] = x - sigma * v;
    }
    return { sample: next, predictedOriginal: x0, state: null };
  }

  addNoise(plan: FlowMatchPlan, x0: Float32Array, noise: Float32Array, index: number): Float32Array {
    checkPlan(plan, ['flow-euler']);
    checkIndex(plan, index);
    checkLength('noise', noise, x0.length);
    const s = plan.sigmas[index]!;
    return x0.map((v, i) => s * noise[i]! + (1 - s) * v);
  }
}
