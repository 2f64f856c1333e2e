/**
 * DPM-Solver++(2M): Lu et al. 2022, "DPM-Solver++: Fast Solver for Guided Sampling of Diffusion
 * Probabilistic Models", Algorithm 2. A second-order multistep solver of the diffusion ODE in
 * data-prediction form, in the VP parametrisation x = alpha_t x0 + sigma_t eps with
 * lambda = log(alpha_t / sigma_t) and h = lambda_next - lambda:
 *   x_next = (sigma_next / sigma) x - alpha_next (e^-h - 1) D,
 *   D = x0 (first order, = DDIM) or (1 + 1/(2r)) x0 - 1/(2r) x0_prev with r = h_prev / h.
 * Usually on Karras sigmas (Karras et al. 2022, eq. 5, rho = 7): "DPM++ 2M Karras".
 *
 * The previous step's x0 is explicit state: `step` takes `options.state` and returns the next
 * one, so the scheduler object holds nothing between runs. Configured like diffusers'
 * DPMSolverMultistepScheduler with algorithm_type "dpmsolver++", including its conventions for
 * the first and last steps (first order where there is no history, and on the last step when
 * `lower_order_final` applies or the schedule ends at sigma 0).
 */
import {
  ConfigReader,
  alphasCumprodFor,
  arange,
  checkIndex,
  checkLength,
  checkPlan,
  checkSteps,
  img2imgStart,
  interpTable,
  isIntegral,
  karrasSigmas,
  linspace,
  readDiscreteConfig,
  roundHalfEven,
  sigmaToTimestep,
  sigmasFromAlphas,
  vpPrediction,
  type DiscreteConfig,
  type SchedulerJson,
} from './discrete.js';
import type { SchedulePlan, Scheduler, StepOptions, StepResult, TimestepOptions } from './types.js';

export interface DpmSolverConfig extends DiscreteConfig {
  /** 1 or 2 (a config asking for 3 gets 2: see README.md). */
  solverOrder: 1 | 2;
  /** How the second-order term is formed: the paper's midpoint rule, or the Taylor ("heun") one. */
  solverType: 'midpoint' | 'heun';
  /** First-order last step for fewer than 15 steps. */
  lowerOrderFinal: boolean;
  /** Always a first-order last step. */
  eulerAtFinal: boolean;
  useKarrasSigmas: boolean;
  finalSigmasType: 'zero' | 'sigma_min';
  /** Skip training timesteps whose log-SNR is below this (for cosine schedules). */
  lambdaMinClipped: number;
}

/** diffusers' DPMSolverMultistepScheduler defaults. */
export const DPM_SOLVER_DEFAULTS: DpmSolverConfig = {
  numTrainTimesteps: 1000,
  betaStart: 0.0001,
  betaEnd: 0.02,
  betaSchedule: 'linear',
  trainedBetas: null,
  predictionType: 'epsilon',
  timestepSpacing: 'linspace',
  stepsOffset: 0,
  rescaleBetasZeroSnr: false,
  solverOrder: 2,
  solverType: 'midpoint',
  lowerOrderFinal: true,
  eulerAtFinal: false,
  useKarrasSigmas: false,
  finalSigmasType: 'zero',
  lambdaMinClipped: -Infinity,
};

export function dpmSolverConfigFromJson(json: SchedulerJson, defaults: DpmSolverConfig = DPM_SOLVER_DEFAULTS): DpmSolverConfig {
  const r = new ConfigReader(json, 'DPM-Solver++');
  const order = r.int('solver_order', defaults.solverOrder);
  if (order < 1) throw new Error(`solver_order must be at least 1, got ${order}`);
  return {
    ...readDiscreteConfig(r, defaults),
    solverOrder: order === 1 ? 1 : 2,
    solverType: r.oneOf('solver_type', ['midpoint', 'heun'] as const, defaults.solverType),
    lowerOrderFinal: r.bool('lower_order_final', defaults.lowerOrderFinal),
    eulerAtFinal: r.bool('euler_at_final', defaults.eulerAtFinal),
    useKarrasSigmas: r.bool('use_karras_sigmas', defaults.useKarrasSigmas),
    finalSigmasType: r.oneOf('final_sigmas_type', ['zero', 'sigma_min'] as const, defaults.finalSigmasType),
    lambdaMinClipped: r.num('lambda_min_clipped', defaults.lambdaMinClipped),
  };
}

export interface DpmSolverPlan extends SchedulePlan {
  readonly kind: 'dpmpp-2m' | 'dpmpp-2m-karras';
}

/** VE sigma -> the VP pair (alpha_t, sigma_t) and lambda = log(alpha_t / sigma_t) = -log sigma. */
function vp(sigma: number): { alpha: number; sigma: number; lambda: number } {
  const alpha = 1 / Math.sqrt(sigma * sigma + 1);
  return { alpha, sigma: sigma * alpha, lambda: -Math.log(sigma) };
}

export class DpmSolverMultistepScheduler implements Scheduler<DpmSolverPlan> {
  private readonly alphas: Float64Array;

  /** `kind` 'dpmpp-2m-karras' forces Karras sigmas on; 'dpmpp-2m' follows the config. */
  constructor(
    readonly config: DpmSolverConfig,
    readonly kind: 'dpmpp-2m' | 'dpmpp-2m-karras' = config.useKarrasSigmas ? 'dpmpp-2m-karras' : 'dpmpp-2m',
  ) {
    if (kind === 'dpmpp-2m-karras' && !config.useKarrasSigmas) this.config = { ...config, useKarrasSigmas: true };
    this.alphas = alphasCumprodFor(this.config, true);
  }

  timesteps(steps: number, options: TimestepOptions = {}): DpmSolverPlan {
    const c = this.config;
    checkSteps(steps, c.numTrainTimesteps);
    const start = img2imgStart(steps, options.strength ?? 1);
    const T = c.numTrainTimesteps;
    const train = sigmasFromAlphas(this.alphas);
    // lambda_min_clipped: drop the training timesteps at the end whose log-SNR falls below it
    let clipped = 0;
    while (clipped < T && -Math.log(train[T - 1 - clipped]!) < c.lambdaMinClipped) clipped++;
    const last = T - clipped;
    let timesteps: Float64Array;
    if (c.timestepSpacing === 'linspace') {
      timesteps = linspace(0, last - 1, steps + 1).map(roundHalfEven).reverse().slice(0, steps);
    } else if (c.timestepSpacing === 'leading') {
      const ratio = Math.floor(last / (steps + 1));
      timesteps = Float64Array.from({ length: steps }, (_, i) => (steps - i) * ratio + c.stepsOffset);
    } else {
      timesteps = arange(last, 0, -T / steps).map((t) => roundHalfEven(t) - 1);
    }
    let sigmas: Float64Array;
    if (c.useKarrasSigmas) {
      sigmas = karrasSigmas(train[0]!, train[T - 1]!, steps);
      const logs = train.map(Math.log);
      timesteps = sigmas.map((s) => sigmaToTimestep(s, logs));
      // rounded, except for the cosine schedule, where diffusers keeps them fractional until its
      // int64 cast truncates them
      timesteps = timesteps.map(c.betaSchedule === 'squaredcos_cap_v2' ? Math.trunc : roundHalfEven);
    } else {
      sigmas = timesteps.map((t) => interpTable(t, train));
    }
    const final = c.finalSigmasType === 'sigma_min' ? train[0]! : 0;
    const full = Float64Array.from([...sigmas, final]);
    const sliced = timesteps.slice(start);
    return {
      kind: this.kind,
      steps: sliced.length,
      requestedSteps: steps,
      startIndex: start,
      timesteps: sliced,
      integerTimesteps: isIntegral(sliced),
      sigmas: full.slice(start),
      initNoiseSigma: 1,
    };
  }

  scaleModelInput(_plan: DpmSolverPlan, sample: Float32Array, _index: number): Float32Array {
    return sample;
  }

  needsNoise(): boolean {
    return false;
  }

  /** Whether step `index` is first order despite having history (diffusers' lower-order-final rules). */
  private firstOrderAt(plan: DpmSolverPlan, index: number): boolean {
    const c = this.config;
    if (c.solverOrder === 1 || plan.sigmas[index + 1] === 0) return true;
    const lastStep = index === plan.steps - 1;
    return lastStep && (c.eulerAtFinal || (c.lowerOrderFinal && plan.requestedSteps < 15) || c.finalSigmasType === 'zero');
  }

  step(plan: DpmSolverPlan, index: number, modelOutput: Float32Array, sample: Float32Array, options: StepOptions = {}): StepResult {
    checkPlan(plan, ['dpmpp-2m', 'dpmpp-2m-karras']);
    checkIndex(plan, index);
    checkLength('modelOutput', modelOutput, sample.length);
    const n = sample.length;
    const cur = vp(plan.sigmas[index]!);
    const pred = vpPrediction(this.config.predictionType, cur.alpha * cur.alpha);
    const x0 = new Float32Array(n);
    for (let i = 0; i < n; i++) x0[i] = pred.x0(modelOutput[i]!, sample[i]!);
    const state = { index, x0 };

    const nextSigma = plan.sigmas[index + 1]!;
    // sigma_next = 0 is the limit of the update: x_next = x0
    if (nextSigma === 0) return { sample: Float32Array.from(x0), predictedOriginal: x0, state };

    const prev = options.state;
    const history = prev && prev.index === index - 1 && !this.firstOrderAt(plan, index) ? prev.x0 : null;
    if (history) checkLength('state.x0', history, n);
    const next = vp(nextSigma);
    const h = next.lambda - cur.lambda;
    const ratio = next.sigma / cur.sigma;
    const coef = -next.alpha * Math.expm1(-h); // -alpha_next (e^-h - 1)
    const out = new Float32Array(n);
    if (!history) {
      for (let i = 0; i < n; i++) out[i] = ratio * sample[i]! + coef * x0[i]!;
    } else {
      const r = (cur.lambda - vp(plan.sigmas[index - 1]!).lambda) / h;
      // weight of (x0 - x0_prev) / r: 1/2 for the paper's midpoint rule, the phi_2 ratio for "heun"
      const w = this.config.solverType === 'heun' ? (Math.expm1(-h) / h + 1) / -Math.expm1(-h) : 0.5;
      for (let i = 0; i < n; i++) {
        const d = x0[i]! + (w * (x0[i]! - history[i]!)) / r;
        out[i] = ratio * sample[i]! + coef * d;
      }
    }
    return { sample: out, predictedOriginal: x0, state };
  }

  addNoise(plan: DpmSolverPlan, x0: Float32Array, noise: Float32Array, index: number): Float32Array {
    checkPlan(plan, ['dpmpp-2m', 'dpmpp-2m-karras']);
    checkIndex(plan, index);
    checkLength('noise', noise, x0.length);
    const { alpha, sigma } = vp(plan.sigmas[index]!);
    return x0.map((v, i) => alpha * v + sigma * noise[i]!);
  }
}
