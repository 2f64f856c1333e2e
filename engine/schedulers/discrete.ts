/**
 * The discrete-time DDPM noise schedule the Stable Diffusion family was trained with, shared by
 * the DDIM, Euler, Euler ancestral, DPM-Solver++ and LCM schedulers: betas (Ho et al. 2020,
 * "Denoising Diffusion Probabilistic Models"; the "scaled_linear" variant of Latent Diffusion;
 * "squaredcos_cap_v2" from Nichol & Dhariwal 2021, "Improved DDPM", eq. 17), the zero terminal
 * SNR rescale (Lin et al. 2023, "Common Diffusion Noise Schedules and Sample Steps are Flawed",
 * Algorithm 1), the ways inference timesteps are spaced (ibid., Table 2), Karras sigmas
 * (Karras et al. 2022, "Elucidating the Design Space...", eq. 5), and the readers for diffusers'
 * scheduler_config.json keys.
 *
 * Conventions follow diffusers' schedulers so that a model folder's config means the same here,
 * down to numpy's rounding (half to even) and `arange`/`linspace` arithmetic. Everything is
 * computed in float64 (diffusers uses float32 for the betas; the difference is ~1e-7 relative).
 */
import type { PredictionType, SchedulePlan, TimestepSpacing } from './types.js';

/** A parsed scheduler_config.json: unknown keys are ignored, known ones are type-checked. */
export type SchedulerJson = Readonly<Record<string, unknown>>;

export type BetaSchedule = 'linear' | 'scaled_linear' | 'squaredcos_cap_v2';

/** The keys every DDPM-family scheduler reads. */
export interface DiscreteConfig {
  numTrainTimesteps: number;
  betaStart: number;
  betaEnd: number;
  betaSchedule: BetaSchedule;
  /** Explicit betas (`trained_betas`), overriding the schedule. */
  trainedBetas: readonly number[] | null;
  predictionType: PredictionType;
  timestepSpacing: TimestepSpacing;
  /** Added to "leading" timesteps (Stable Diffusion: 1). */
  stepsOffset: number;
  rescaleBetasZeroSnr: boolean;
}

/** Typed access to scheduler_config.json keys with per-class defaults; wrong types throw. */
export class ConfigReader {
  constructor(
    private readonly json: SchedulerJson,
    private readonly owner: string,
  ) {}

  private present(key: string): boolean {
    return this.json[key] !== undefined && this.json[key] !== null;
  }

  private fail(key: string, expected: string): never {
    throw new Error(`${this.owner}: scheduler config "${key}" must be ${expected}, got ${JSON.stringify(this.json[key])}`);
  }

  num(key: string, fallback: number): number {
    if (!this.present(key)) return fallback;
    const v = this.json[key];
    return typeof v === 'number' && !Number.isNaN(v) ? v : this.fail(key, 'a number');
  }

  /** A number, or null where the key is absent or null (e.g. `sigma_min`). */
  optionalNum(key: string): number | null {
    return this.present(key) ? this.num(key, 0) : null;
  }

  int(key: string, fallback: number): number {
    const v = this.num(key, fallback);
    return Number.isInteger(v) ? v : this.fail(key, 'an integer');
  }

  bool(key: string, fallback: boolean): boolean {
    if (!this.present(key)) return fallback;
    const v = this.json[key];
    return typeof v === 'boolean' ? v : this.fail(key, 'true or false');
  }

  oneOf<T extends string>(key: string, allowed: readonly T[], fallback: T): T {
    if (!this.present(key)) return fallback;
    const v = this.json[key];
    return typeof v === 'string' && (allowed as readonly string[]).includes(v) ? (v as T) : this.fail(key, `one of ${allowed.join(', ')}`);
  }

  numbers(key: string): readonly number[] | null {
    if (!this.present(key)) return null;
    const v = this.json[key];
    return Array.isArray(v) && v.every((x) => typeof x === 'number') ? (v as number[]) : this.fail(key, 'an array of numbers');
  }
}

export const PREDICTION_TYPES: readonly PredictionType[] = ['epsilon', 'v_prediction', 'sample'];
export const SPACINGS: readonly TimestepSpacing[] = ['leading', 'trailing', 'linspace'];
const BETA_SCHEDULES: readonly BetaSchedule[] = ['linear', 'scaled_linear', 'squaredcos_cap_v2'];

/** The shared keys, with `defaults` (the target class's diffusers defaults) where a key is absent. */
export function readDiscreteConfig(r: ConfigReader, defaults: DiscreteConfig): DiscreteConfig {
  const c: DiscreteConfig = {
    numTrainTimesteps: r.int('num_train_timesteps', defaults.numTrainTimesteps),
    betaStart: r.num('beta_start', defaults.betaStart),
    betaEnd: r.num('beta_end', defaults.betaEnd),
    betaSchedule: r.oneOf('beta_schedule', BETA_SCHEDULES, defaults.betaSchedule),
    trainedBetas: r.numbers('trained_betas') ?? defaults.trainedBetas,
    predictionType: r.oneOf('prediction_type', PREDICTION_TYPES, defaults.predictionType),
    timestepSpacing: r.oneOf('timestep_spacing', SPACINGS, defaults.timestepSpacing),
    stepsOffset: r.int('steps_offset', defaults.stepsOffset),
    rescaleBetasZeroSnr: r.bool('rescale_betas_zero_snr', defaults.rescaleBetasZeroSnr),
  };
  if (c.numTrainTimesteps < 2) throw new Error(`num_train_timesteps must be at least 2, got ${c.numTrainTimesteps}`);
  if (c.trainedBetas && c.trainedBetas.length !== c.numTrainTimesteps) {
    throw new Error(`trained_betas has ${c.trainedBetas.length} values for ${c.numTrainTimesteps} training timesteps`);
  }
  return c;
}

// ---------------------------------------------------------------------------------------------
// numpy-compatible arithmetic

/** numpy's `round`: halves go to the even neighbour. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** numpy's `linspace(start, stop, num, endpoint)`. */
export function linspace(start: number, stop: number, num: number, endpoint = true): Float64Array {
  const out = new Float64Array(num);
  const div = endpoint ? num - 1 : num;
  if (div <= 0) {
    if (num > 0) out[0] = start;
    return out;
  }
  const step = (stop - start) / div;
  for (let i = 0; i < num; i++) out[i] = i * step + start;
  if (endpoint && num > 1) out[num - 1] = stop;
  return out;
}

/** numpy's `arange(start, stop, step)` for floats (its length and fill rule included). */
export function arange(start: number, stop: number, step: number): Float64Array {
  const len = Math.max(0, Math.ceil((stop - start) / step));
  const out = new Float64Array(len);
  if (len > 0) out[0] = start;
  const delta = start + step - start;
  for (let i = 1; i < len; i++) out[i] = start + i * delta;
  return out;
}

/** numpy's `interp(x, arange(table.length), table)`: linear, clamped at both ends. */
export function interpTable(x: number, table: Float64Array): number {
  const last = table.length - 1;
  if (x <= 0) return table[0]!;
  if (x >= last) return table[last]!;
  const i = Math.floor(x);
  const f = x - i;
  return f === 0 ? table[i]! : table[i]! + f * (table[i + 1]! - table[i]!);
}

// ---------------------------------------------------------------------------------------------
// The noise schedule

function cosineAlphaBar(t: number): number {
  return Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
}

/** Per-timestep betas for the configured schedule. */
export function betasFor(c: DiscreteConfig): Float64Array {
  const T = c.numTrainTimesteps;
  let betas: Float64Array;
  if (c.trainedBetas) {
    betas = Float64Array.from(c.trainedBetas);
  } else if (c.betaSchedule === 'linear') {
    betas = linspace(c.betaStart, c.betaEnd, T);
  } else if (c.betaSchedule === 'scaled_linear') {
    betas = linspace(Math.sqrt(c.betaStart), Math.sqrt(c.betaEnd), T).map((b) => b * b);
  } else {
    betas = new Float64Array(T);
    for (let i = 0; i < T; i++) betas[i] = Math.min(1 - cosineAlphaBar((i + 1) / T) / cosineAlphaBar(i / T), 0.999);
  }
  return c.rescaleBetasZeroSnr ? rescaleZeroTerminalSnr(betas) : betas;
}

/** Lin et al. 2023, Algorithm 1: shift and scale sqrt(alphaBar) so that it ends at exactly 0. */
export function rescaleZeroTerminalSnr(betas: Float64Array): Float64Array {
  const n = betas.length;
  const s = new Float64Array(n);
  let prod = 1;
  for (let i = 0; i < n; i++) {
    prod *= 1 - betas[i]!;
    s[i] = Math.sqrt(prod);
  }
  const s0 = s[0]!;
  const sT = s[n - 1]!;
  const ab = s.map((v) => ((v - sT) * s0) / (s0 - sT)).map((v) => v * v);
  const out = new Float64Array(n);
  out[0] = 1 - ab[0]!;
  for (let i = 1; i < n; i++) out[i] = 1 - ab[i]! / ab[i - 1]!;
  return out;
}

/**
 * alphaBar_t = prod(1 - beta). With `zeroSnrFloor` (the sigma-based schedulers) a zero-SNR end is
 * set to 2^-24, as diffusers does, so that its sigma stays finite (4096).
 */
export function alphasCumprodFor(c: DiscreteConfig, zeroSnrFloor: boolean): Float64Array {
  const betas = betasFor(c);
  const out = new Float64Array(betas.length);
  let prod = 1;
  for (let i = 0; i < betas.length; i++) {
    prod *= 1 - betas[i]!;
    out[i] = prod;
  }
  if (zeroSnrFloor && c.rescaleBetasZeroSnr) out[out.length - 1] = 2 ** -24;
  return out;
}

/** sigma = sqrt((1 - alphaBar) / alphaBar) per training timestep (the VE view of the schedule). */
export function sigmasFromAlphas(alphasCumprod: Float64Array): Float64Array {
  return alphasCumprod.map((a) => Math.sqrt((1 - a) / a));
}

export function alphaToSigma(alphaBar: number): number {
  return alphaBar > 0 ? Math.sqrt((1 - alphaBar) / alphaBar) : Infinity;
}

/**
 * Inference timesteps, descending, unrounded: "linspace" spreads them evenly over [0, T-1],
 * "leading" takes multiples of floor(T/n) plus `steps_offset`, "trailing" counts down from T
 * in steps of T/n (rounded) minus 1.
 */
export function spacedTimesteps(spacing: TimestepSpacing, T: number, n: number, stepsOffset: number): Float64Array {
  if (spacing === 'linspace') return linspace(0, T - 1, n).reverse();
  if (spacing === 'leading') {
    const ratio = Math.floor(T / n);
    return Float64Array.from({ length: n }, (_, i) => (n - 1 - i) * ratio + stepsOffset);
  }
  return arange(T, 0, -T / n).map((t) => roundHalfEven(t) - 1);
}

/** Karras et al. 2022, eq. 5: n sigmas from sigmaMax down to sigmaMin, evenly spaced in sigma^(1/rho). */
export function karrasSigmas(sigmaMin: number, sigmaMax: number, n: number, rho = 7): Float64Array {
  const lo = sigmaMin ** (1 / rho);
  const hi = sigmaMax ** (1 / rho);
  return linspace(0, 1, n).map((ramp) => (hi + ramp * (lo - hi)) ** rho);
}

/**
 * The fractional training timestep of a sigma: linear interpolation of log sigma between the two
 * training timesteps around it (diffusers' and k-diffusion's `sigma_to_t`), clamped to [0, T-1].
 */
export function sigmaToTimestep(sigma: number, logSigmas: Float64Array): number {
  const ls = Math.log(Math.max(sigma, 1e-10));
  const n = logSigmas.length;
  let low = 0;
  for (let i = 0; i < n; i++) if (logSigmas[i]! <= ls) low = i;
  low = Math.min(low, n - 2);
  const lo = logSigmas[low]!;
  const hi = logSigmas[low + 1]!;
  const w = Math.min(Math.max((lo - ls) / (lo - hi), 0), 1);
  return (1 - w) * low + w * (low + 1);
}

// ---------------------------------------------------------------------------------------------
// Plans and checks

export function checkSteps(steps: number, max: number): void {
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`steps must be a positive integer, got ${steps}`);
  if (steps > max) throw new RangeError(`steps (${steps}) cannot exceed the ${max} training timesteps`);
}

export function checkStrength(strength: number): void {
  if (!(strength > 0 && strength <= 1)) throw new RangeError(`strength must be in (0, 1], got ${strength}`);
}

/**
 * Stable Diffusion img2img: run the last int(steps * strength) steps of the schedule (diffusers'
 * `get_timesteps`). Returns the index of the first step to run.
 */
export function img2imgStart(steps: number, strength: number): number {
  checkStrength(strength);
  const keep = Math.min(Math.trunc(steps * strength), steps);
  if (keep < 1) throw new RangeError(`strength ${strength} leaves no step out of ${steps}; raise steps or strength`);
  return steps - keep;
}

export function checkIndex(plan: SchedulePlan, index: number): void {
  if (!Number.isInteger(index) || index < 0 || index >= plan.steps) throw new RangeError(`step index ${index} is outside the plan's ${plan.steps} steps`);
}

export function checkPlan(plan: SchedulePlan, kinds: readonly string[]): void {
  if (!kinds.includes(plan.kind)) throw new Error(`a ${plan.kind} plan was passed to a ${kinds.join('/')} scheduler`);
}

export function checkLength(name: string, a: Float32Array, n: number): void {
  if (a.length !== n) throw new RangeError(`${name} has ${a.length} values, the sample has ${n}`);
}

export function isIntegral(values: Float64Array): boolean {
  return values.every((v) => Number.isInteger(v));
}

/** Scales initial Gaussian noise for text-to-image: noise * plan.initNoiseSigma. */
export function initialSample(plan: SchedulePlan, noise: Float32Array): Float32Array {
  const s = plan.initNoiseSigma;
  return s === 1 ? Float32Array.from(noise) : noise.map((v) => v * s);
}

// ---------------------------------------------------------------------------------------------
// Model output conversions, per element

/**
 * VP parametrisation x = sqrt(a) x0 + sqrt(1 - a) eps (a = alphaBar): the clean sample and the
 * noise implied by a model output (v = sqrt(a) eps - sqrt(1 - a) x0, Salimans & Ho 2022).
 */
export function vpPrediction(type: PredictionType, alphaBar: number): { x0: (out: number, x: number) => number; eps: (out: number, x: number) => number } {
  const a = Math.sqrt(alphaBar);
  const s = Math.sqrt(1 - alphaBar);
  switch (type) {
    case 'epsilon':
      return { x0: (out, x) => (x - s * out) / a, eps: (out) => out };
    case 'sample':
      return { x0: (out) => out, eps: (out, x) => (x - a * out) / s };
    case 'v_prediction':
      return { x0: (out, x) => a * x - s * out, eps: (out, x) => a * out + s * x };
  }
}

/**
 * VE parametrisation x = x0 + sigma eps of a VP-trained model (Karras et al. 2022, Table 1): the
 * denoised sample D(x; sigma) from a model output computed on x / sqrt(sigma^2 + 1).
 */
export function veDenoiser(type: PredictionType, sigma: number): (out: number, x: number) => number {
  switch (type) {
    case 'epsilon':
      return (out, x) => x - sigma * out;
    case 'sample':
      return (out) => out;
    case 'v_prediction': {
      const cOut = -sigma / Math.sqrt(sigma * sigma + 1);
      const cSkip = 1 / (sigma * sigma + 1);
      return (out, x) => out * cOut + x * cSkip;
    }
  }
}
