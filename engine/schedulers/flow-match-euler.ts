/**
 * Flow-matching Euler, as FLUX uses it (diffusers' FlowMatchEulerDiscreteScheduler): sigmas run
 * from 1 to 0, the model predicts the velocity v = noise - x0, and each step is
 * x <- x + (sigma_next - sigma) * v. The schedule `linspace(1, 1/N, N)` is shifted by `mu`, which
 * grows linearly with the number of image tokens ("dynamic shifting"), or by a fixed `shift`.
 *
 * A small pure object: no sessions, no state beyond its configuration.
 */

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

export class FlowMatchEulerScheduler {
  constructor(readonly config: FlowMatchConfig) {}

  /** Steps + 1 sigmas, from the shifted 1 down to the final 0. */
  sigmas(steps: number, imageSeqLen: number): Float64Array {
    if (!Number.isInteger(steps) || steps < 1) throw new Error(`steps must be a positive integer, got ${steps}`);
    const out = new Float64Array(steps + 1);
    const mu = flowMatchMu(imageSeqLen, this.config);
    for (let i = 0; i < steps; i++) {
      const s = steps === 1 ? 1 : 1 + ((1 / steps - 1) * i) / (steps - 1);
      out[i] = this.config.useDynamicShifting
        ? Math.exp(mu) / (Math.exp(mu) + (1 / s - 1))
        : (this.config.shift * s) / (1 + (this.config.shift - 1) * s);
    }
    out[steps] = 0;
    return out;
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
