/**
 * The shape every scheduler shares. A scheduler is a small pure object built from a configuration
 * (diffusers' scheduler_config.json keys): `timesteps()` makes an immutable plan for one run, and
 * `step()` maps (plan, index, model output, sample) to the next sample and the predicted clean
 * sample. Nothing is remembered between calls: the one multistep method (DPM-Solver++(2M)) takes
 * its history as an explicit `state` value and returns the next one, and stochastic steps
 * (ancestral Euler, LCM) take their noise as an argument, drawn by the caller from the engine's
 * Philox generator, so that runs reproduce bit for bit.
 *
 * A denoising loop:
 *
 *   const plan = scheduler.timesteps(steps, { strength, imageSeqLen });
 *   let x = image ? scheduler.addNoise(plan, x0, noise, 0) : initialSample(plan, noise);
 *   let state: SchedulerState = null;
 *   for (let i = 0; i < plan.steps; i++) {
 *     const out = model(scheduler.scaleModelInput(plan, x, i), plan.timesteps[i]);
 *     const stepNoise = scheduler.needsNoise(plan, i) ? draw(x.length) : undefined;
 *     ({ sample: x, state } = scheduler.step(plan, i, out, x, { noise: stepNoise, state }));
 *   }
 */

/** The schedulers by the names the UI and the protocol use. */
export type SchedulerKind = 'ddim' | 'euler' | 'euler-a' | 'dpmpp-2m' | 'dpmpp-2m-karras' | 'lcm' | 'flow-euler';

/** What the model's output means (diffusers' `prediction_type`). */
export type PredictionType = 'epsilon' | 'v_prediction' | 'sample';

/** How inference timesteps are picked from the training ones (Lin et al. 2023, Table 2). */
export type TimestepSpacing = 'leading' | 'trailing' | 'linspace';

export interface TimestepOptions {
  /**
   * img2img: the fraction of the schedule to run, in (0, 1]. The plan starts part-way, and the
   * caller noises its clean latents with `addNoise(plan, x0, noise, 0)`. Default 1.
   */
  strength?: number;
  /** Flow matching with dynamic shifting (FLUX): the number of image tokens. */
  imageSeqLen?: number;
}

/** One run's schedule. Immutable; `index` arguments count from 0 within the plan. */
export interface SchedulePlan {
  readonly kind: SchedulerKind;
  /** Model evaluations in this plan (`timesteps.length`). */
  readonly steps: number;
  /** The step count asked for; with strength < 1 the plan runs its last `steps` of them. */
  readonly requestedSteps: number;
  /** Where the plan starts within the `requestedSteps`-step schedule (0 unless img2img). */
  readonly startIndex: number;
  /**
   * The timestep to feed the model at each step, in the model's units: training timesteps for
   * DDPM-family models (0..num_train_timesteps-1, fractional for some Euler schedules), sigma in
   * [0, 1] for FLUX's transformer. The pipeline casts it to the graph's input dtype.
   */
  readonly timesteps: Float64Array;
  /** Whether every timestep is an integer (DDIM, LCM, DPM++ with rounded Karras timesteps). */
  readonly integerTimesteps: boolean;
  /**
   * The noise level at each step boundary, `steps + 1` values from the start of step 0 to the end
   * of the last step. DDPM-family: sigma = sqrt((1 - alphaBar) / alphaBar) (Infinity at a zero-SNR
   * end); flow matching: the interpolation weight of the noise.
   */
  readonly sigmas: Float64Array;
  /** Scale of the initial Gaussian noise for text-to-image (`initialSample`). */
  readonly initNoiseSigma: number;
}

/** DPM-Solver++(2M)'s memory: the previous step's data prediction. Other schedulers pass null. */
export interface MultistepState {
  /** The plan index the prediction was made at. */
  readonly index: number;
  /** The predicted clean sample at that step. */
  readonly x0: Float32Array;
}

export type SchedulerState = MultistepState | null;

export interface StepOptions {
  /** Standard-normal noise, one value per sample element, where `needsNoise` says so. */
  noise?: Float32Array;
  /** The state returned by the previous step (multistep methods); null or absent at the start. */
  state?: SchedulerState;
}

export interface StepResult {
  /** The sample at the end of the step (a new array). */
  readonly sample: Float32Array;
  /** The model's estimate of the clean sample at this step (for previews). */
  readonly predictedOriginal: Float32Array;
  /** Pass to the next step. */
  readonly state: SchedulerState;
}

export interface Scheduler<P extends SchedulePlan = SchedulePlan> {
  readonly kind: SchedulerKind;
  /** The plan for `steps` steps. Throws on invalid counts or options. */
  timesteps(steps: number, options?: TimestepOptions): P;
  /** The model input at step `index` (may return `sample` itself when no scaling applies). */
  scaleModelInput(plan: P, sample: Float32Array, index: number): Float32Array;
  /** Whether `step(plan, index, ...)` needs `noise`. */
  needsNoise(plan: P, index: number): boolean;
  step(plan: P, index: number, modelOutput: Float32Array, sample: Float32Array, options?: StepOptions): StepResult;
  /** Forward-noises clean latents to the noise level at the start of step `index` (img2img). */
  addNoise(plan: P, x0: Float32Array, noise: Float32Array, index: number): Float32Array;
}
