/**
 * Euler ancestral: an Euler step down to sigma_down followed by fresh noise of scale sigma_up, with
 * sigma_up^2 + sigma_down^2 = sigma_next^2 and sigma_up = sigma_next * sqrt(1 - sigma_next^2 /
 * sigma^2) (k-diffusion's sample_euler_ancestral with eta = 1, the ancestral sampling of Ho et
 * al. 2020 transposed to the ODE's sigma parametrisation of Karras et al. 2022). The noise comes
 * from the caller (`needsNoise` says when), so runs are reproducible. Configured like diffusers'
 * EulerAncestralDiscreteScheduler (no Karras sigmas there either).
 */
import { ConfigReader, checkIndex, checkLength, checkPlan, readDiscreteConfig, veDenoiser, type DiscreteConfig, type SchedulerJson } from './discrete.js';
import { addNoiseBySigma, scaleBySigma, sigmaPlan, type SigmaPlan } from './euler.js';
import type { Scheduler, StepOptions, StepResult, TimestepOptions } from './types.js';

export type EulerAncestralConfig = DiscreteConfig;

/** diffusers' EulerAncestralDiscreteScheduler defaults. */
export const EULER_ANCESTRAL_DEFAULTS: EulerAncestralConfig = {
  numTrainTimesteps: 1000,
  betaStart: 0.0001,
  betaEnd: 0.02,
  betaSchedule: 'linear',
  trainedBetas: null,
  predictionType: 'epsilon',
  timestepSpacing: 'linspace',
  stepsOffset: 0,
  rescaleBetasZeroSnr: false,
};

export function eulerAncestralConfigFromJson(json: SchedulerJson, defaults: EulerAncestralConfig = EULER_ANCESTRAL_DEFAULTS): EulerAncestralConfig {
  return readDiscreteConfig(new ConfigReader(json, 'Euler ancestral'), defaults);
}

/** sigma_up and sigma_down for a step from `from` to `to`. */
export function ancestralStep(from: number, to: number): { up: number; down: number } {
  const up = Math.min(to, Math.sqrt((to * to * (from * from - to * to)) / (from * from)));
  return { up, down: Math.sqrt(to * to - up * up) };
}

export class EulerAncestralScheduler implements Scheduler<SigmaPlan> {
  readonly kind = 'euler-a' as const;

  constructor(readonly config: EulerAncestralConfig) {}

  timesteps(steps: number, options: TimestepOptions = {}): SigmaPlan {
    return sigmaPlan('euler-a', { ...this.config, useKarrasSigmas: false, sigmaMin: null, sigmaMax: null, finalSigmasType: 'zero' }, steps, options);
  }

  scaleModelInput(plan: SigmaPlan, sample: Float32Array, index: number): Float32Array {
    return scaleBySigma(plan, sample, index);
  }

  /** Every step but one that ends at sigma 0. */
  needsNoise(plan: SigmaPlan, index: number): boolean {
    checkIndex(plan, index);
    return plan.sigmas[index + 1]! > 0;
  }

  step(plan: SigmaPlan, index: number, modelOutput: Float32Array, sample: Float32Array, options: StepOptions = {}): StepResult {
    checkPlan(plan, ['euler-a']);
    checkIndex(plan, index);
    checkLength('modelOutput', modelOutput, sample.length);
    const sigma = plan.sigmas[index]!;
    const { up, down } = ancestralStep(sigma, plan.sigmas[index + 1]!);
    const noise = up > 0 ? options.noise : undefined;
    if (up > 0) {
      if (!noise) throw new Error(`euler-a step ${index} needs noise (see needsNoise)`);
      checkLength('noise', noise, sample.length);
    }
    const dt = down - sigma;
    const denoise = veDenoiser(this.config.predictionType, sigma);
    const next = new Float32Array(sample.length);
    const x0 = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) {
      const x = sample[i]!;
      const d = denoise(modelOutput[i]!, x);
      next[i] = x + ((x - d) / sigma) * dt + (noise ? noise[i]! * up : 0);
      x0[i] = d;
    }
    return { sample: next, predictedOriginal: x0, state: null };
  }

  addNoise(plan: SigmaPlan, x0: Float32Array, noise: Float32Array, index: number): Float32Array {
    return addNoiseBySigma(plan, x0, noise, index);
  }
}
