/**
 * Euler: Karras et al. 2022, "Elucidating the Design Space of Diffusion-Based Generative Models",
 * Algorithm 2 with S_churn = 0 and without the second-order correction, i.e. Euler's method on the
 * probability-flow ODE dx/dsigma = (x - D(x; sigma)) / sigma in the VE view of a VP-trained model
 * (sigma = sqrt((1 - alphaBar) / alphaBar); the model sees x / sqrt(sigma^2 + 1), Table 1).
 * Optionally on Karras sigmas (eq. 5, rho = 7). Configured like diffusers' EulerDiscreteScheduler.
 * The schedule helpers here are shared with Euler ancestral.
 */
import {
  ConfigReader,
  alphasCumprodFor,
  checkIndex,
  checkLength,
  checkPlan,
  checkSteps,
  img2imgStart,
  interpTable,
  isIntegral,
  karrasSigmas,
  readDiscreteConfig,
  sigmaToTimestep,
  sigmasFromAlphas,
  spacedTimesteps,
  veDenoiser,
  type DiscreteConfig,
  type SchedulerJson,
} from './discrete.js';
import type { SchedulePlan, Scheduler, StepOptions, StepResult, TimestepOptions } from './types.js';

export interface EulerConfig extends DiscreteConfig {
  useKarrasSigmas: boolean;
  /** Karras endpoints (`sigma_min` / `sigma_max`); null: the schedule's own. */
  sigmaMin: number | null;
  sigmaMax: number | null;
  /** The sigma after the last step: 0, or the training schedule's smallest sigma. */
  finalSigmasType: 'zero' | 'sigma_min';
}

/** diffusers' EulerDiscreteScheduler defaults. */
export const EULER_DEFAULTS: EulerConfig = {
  numTrainTimesteps: 1000,
  betaStart: 0.0001,
  betaEnd: 0.02,
  betaSchedule: 'linear',
  trainedBetas: null,
  predictionType: 'epsilon',
  timestepSpacing: 'linspace',
  stepsOffset: 0,
  rescaleBetasZeroSnr: false,
  useKarrasSigmas: false,
  sigmaMin: null,
  sigmaMax: null,
  finalSigmasType: 'zero',
};

export function eulerConfigFromJson(json: SchedulerJson, defaults: EulerConfig = EULER_DEFAULTS): EulerConfig {
  const r = new ConfigReader(json, 'Euler');
  return {
    ...readDiscreteConfig(r, defaults),
    useKarrasSigmas: r.bool('use_karras_sigmas', defaults.useKarrasSigmas),
    sigmaMin: r.optionalNum('sigma_min') ?? defaults.sigmaMin,
    sigmaMax: r.optionalNum('sigma_max') ?? defaults.sigmaMax,
    finalSigmasType: r.oneOf('final_sigmas_type', ['zero', 'sigma_min'] as const, defaults.finalSigmasType),
  };
}

/** A sigma-parametrised plan (Euler, Euler ancestral). */
export interface SigmaPlan extends SchedulePlan {
  readonly kind: 'euler' | 'euler-a';
}

/**
 * The Euler-family schedule: spaced timesteps, their sigmas interpolated from the training ones
 * (or replaced by Karras sigmas, with timesteps mapped back through log sigma), then the final
 * sigma. Text-to-image noise is scaled by the largest sigma, or by sqrt(sigma^2 + 1) for "leading"
 * spacing (diffusers' convention).
 */
export function sigmaPlan(kind: 'euler' | 'euler-a', c: EulerConfig, steps: number, options: TimestepOptions): SigmaPlan {
  checkSteps(steps, c.numTrainTimesteps);
  const start = img2imgStart(steps, options.strength ?? 1);
  const alphas = alphasCumprodFor(c, true);
  const train = sigmasFromAlphas(alphas);
  let timesteps: Float64Array = spacedTimesteps(c.timestepSpacing, c.numTrainTimesteps, steps, c.stepsOffset);
  let sigmas: Float64Array = timesteps.map((t) => interpTable(t, train));
  if (c.useKarrasSigmas) {
    sigmas = karrasSigmas(c.sigmaMin ?? sigmas[steps - 1]!, c.sigmaMax ?? sigmas[0]!, steps);
    const logs = train.map(Math.log);
    timesteps = sigmas.map((s) => sigmaToTimestep(s, logs));
  }
  const final = c.finalSigmasType === 'sigma_min' ? train[0]! : 0;
  const full = Float64Array.from([...sigmas, final]);
  const max = full.reduce((m, s) => Math.max(m, s), 0);
  const sliced = timesteps.slice(start);
  return {
    kind,
    steps: sliced.length,
    requestedSteps: steps,
    startIndex: start,
    timesteps: sliced,
    integerTimesteps: isIntegral(sliced),
    sigmas: full.slice(start),
    initNoiseSigma: c.timestepSpacing === 'leading' ? Math.sqrt(max * max + 1) : max,
  };
}

/** x / sqrt(sigma^2 + 1): the VP-scaled input a DDPM-trained model expects. */
export function scaleBySigma(plan: SchedulePlan, sample: Float32Array, index: number): Float32Array {
  checkIndex(plan, index);
  const s = plan.sigmas[index]!;
  const k = 1 / Math.sqrt(s * s + 1);
  return sample.map((v) => v * k);
}

/** x0 + sigma * noise at the start of step `index`. */
export function addNoiseBySigma(plan: SchedulePlan, x0: Float32Array, noise: Float32Array, index: number): Float32Array {
  checkIndex(plan, index);
  checkLength('noise', noise, x0.length);
  const s = plan.sigmas[index]!;
  return x0.map((v, i) => v + s * noise[i]!);
}

export class EulerScheduler implements Scheduler<SigmaPlan> {
  readonly kind = 'euler' as const;

  constructor(readonly config: EulerConfig) {}

  timesteps(steps: number, options: TimestepOptions = {}): SigmaPlan {
    return sigmaPlan('euler', this.config, steps, options);
  }

  scaleModelInput(plan: SigmaPlan, sample: Float32Array, index: number): Float32Array {
    return scaleBySigma(plan, sample, index);
  }

  needsNoise(): boolean {
    return false;
  }

  step(plan: SigmaPlan, index: number, modelOutput: Float32Array, sample: Float32Array, _options?: StepOptions): StepResult {
    checkPlan(plan, ['euler']);
    checkIndex(plan, index);
    checkLength('modelOutput', modelOutput, sample.length);
    const sigma = plan.sigmas[index]!;
    const dt = plan.sigmas[index + 1]! - sigma;
    const denoise = veDenoiser(this.config.predictionType, sigma);
    const next = new Float32Array(sample.length);
    const x0 = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) {
      const x = sample[i]!;
      const d = denoise(modelOutput[i]!, x);
      next[i] = x + ((x - d) / sigma) * dt;
      x0[i] = d;
    }
    return { sample: next, predictedOriginal: x0, state: null };
  }

  addNoise(plan: SigmaPlan, x0: Float32Array, noise: Float32Array, index: number): Float32Array {
    return addNoiseBySigma(plan, x0, noise, index);
  }
}
