/**
 * Which scheduler drives a model: from diffusers' `_class_name` in scheduler_config.json, or from
 * the user's choice by UI name, configured by that file's keys (JSON value, else the target
 * class's diffusers default, the way diffusers' `from_config` does it for a compatible class).
 *
 * Classes outside the six implemented map to the nearest one (FALLBACKS); notably PNDMScheduler,
 * which Stable Diffusion 1.x folders name, runs as DDIM: with `skip_prk_steps` PNDM is PLMS, a
 * linear multistep on the same DDIM transfer step, and DDIM with SD's own keys (leading spacing,
 * steps_offset 1, set_alpha_to_one false, clip_sample false) gives near-identical images at the
 * usual 20-50 steps.
 */
import { DDIM_DEFAULTS, DdimScheduler, ddimConfigFromJson } from './ddim.js';
import { initialSample, type SchedulerJson } from './discrete.js';
import { DPM_SOLVER_DEFAULTS, DpmSolverMultistepScheduler, dpmSolverConfigFromJson } from './dpm-solver-multistep.js';
import { EULER_ANCESTRAL_DEFAULTS, EulerAncestralScheduler, eulerAncestralConfigFromJson } from './euler-ancestral.js';
import { EULER_DEFAULTS, EulerScheduler, eulerConfigFromJson } from './euler.js';
import { FlowMatchEulerDiscreteScheduler, flowMatchConfigFromJson } from './flow-match-euler.js';
import { LCM_DEFAULTS, LcmScheduler, lcmConfigFromJson } from './lcm.js';
import type { Scheduler, SchedulerKind } from './types.js';

export { initialSample };
export type { SchedulerJson };

export const SCHEDULER_KINDS: readonly SchedulerKind[] = ['ddim', 'euler', 'euler-a', 'dpmpp-2m', 'dpmpp-2m-karras', 'lcm', 'flow-euler'];

/** Display names (A1111-style; the flow one matches the PNG metadata). */
export const SCHEDULER_LABELS: Readonly<Record<SchedulerKind, string>> = {
  ddim: 'DDIM',
  euler: 'Euler',
  'euler-a': 'Euler a',
  'dpmpp-2m': 'DPM++ 2M',
  'dpmpp-2m-karras': 'DPM++ 2M Karras',
  lcm: 'LCM',
  'flow-euler': 'Euler (flow matching)',
};

export function isSchedulerKind(name: string): name is SchedulerKind {
  return (SCHEDULER_KINDS as readonly string[]).includes(name);
}

/** The diffusers class each kind stands for. */
export const CLASS_NAMES: Readonly<Record<SchedulerKind, string>> = {
  ddim: 'DDIMScheduler',
  euler: 'EulerDiscreteScheduler',
  'euler-a': 'EulerAncestralDiscreteScheduler',
  'dpmpp-2m': 'DPMSolverMultistepScheduler',
  'dpmpp-2m-karras': 'DPMSolverMultistepScheduler',
  lcm: 'LCMScheduler',
  'flow-euler': 'FlowMatchEulerDiscreteScheduler',
};

/** Classes not implemented, and what runs instead. */
export const FALLBACKS: Readonly<Record<string, SchedulerKind>> = {
  PNDMScheduler: 'ddim',
  DDPMScheduler: 'ddim',
  LMSDiscreteScheduler: 'euler',
  HeunDiscreteScheduler: 'euler',
  KDPM2DiscreteScheduler: 'euler',
  KDPM2AncestralDiscreteScheduler: 'euler-a',
  DPMSolverSinglestepScheduler: 'dpmpp-2m',
  DPMSolverSDEScheduler: 'dpmpp-2m',
  UniPCMultistepScheduler: 'dpmpp-2m',
  DEISMultistepScheduler: 'dpmpp-2m',
  TCDScheduler: 'lcm',
  FlowMatchHeunDiscreteScheduler: 'flow-euler',
};

export interface ResolvedKind {
  kind: SchedulerKind;
  /** The config's class when it is not implemented and `kind` stands in for it. */
  fallbackFrom: string | null;
}

function className(json: SchedulerJson): string | null {
  return typeof json._class_name === 'string' ? json._class_name : null;
}

/** The scheduler a config names; a missing or unknown class is an error. */
export function kindFromConfig(json: SchedulerJson): ResolvedKind {
  const name = className(json);
  const karras = json.use_karras_sigmas === true;
  switch (name) {
    case 'DDIMScheduler':
      return { kind: 'ddim', fallbackFrom: null };
    case 'EulerDiscreteScheduler':
      return { kind: 'euler', fallbackFrom: null };
    case 'EulerAncestralDiscreteScheduler':
      return { kind: 'euler-a', fallbackFrom: null };
    case 'DPMSolverMultistepScheduler':
      return { kind: karras ? 'dpmpp-2m-karras' : 'dpmpp-2m', fallbackFrom: null };
    case 'LCMScheduler':
      return { kind: 'lcm', fallbackFrom: null };
    case 'FlowMatchEulerDiscreteScheduler':
      return { kind: 'flow-euler', fallbackFrom: null };
  }
  if (name === null) throw new Error('scheduler_config.json has no _class_name');
  const fallback = FALLBACKS[name];
  if (!fallback) throw new Error(`unsupported scheduler class ${name}`);
  return { kind: fallback === 'dpmpp-2m' && karras ? 'dpmpp-2m-karras' : fallback, fallbackFrom: name };
}

/** Flow-matching models and DDPM-family models cannot swap schedulers. */
export function isFlowKind(kind: SchedulerKind): boolean {
  return kind === 'flow-euler';
}

/** The kinds that can drive the model a config belongs to (for the UI's sampler menu). */
export function compatibleKinds(json: SchedulerJson): SchedulerKind[] {
  const flow = isFlowKind(kindFromConfig(json).kind);
  return SCHEDULER_KINDS.filter((k) => isFlowKind(k) === flow);
}

/**
 * A scheduler for a model's config: the kind the config names, or `kind` (the user's choice),
 * which must suit the model (flow matching vs DDPM family). 'dpmpp-2m-karras' turns Karras sigmas
 * on; every other key comes from the config or the target class's defaults.
 */
export function createScheduler(config: SchedulerJson, kind?: SchedulerKind): Scheduler {
  const own = className(config) === null ? null : kindFromConfig(config).kind;
  const target = kind ?? own;
  if (target === null) throw new Error('scheduler_config.json has no _class_name; pass a scheduler kind');
  if (own !== null && isFlowKind(own) !== isFlowKind(target)) {
    throw new Error(`${target} cannot drive a model configured for ${className(config)}`);
  }
  switch (target) {
    case 'ddim':
      return new DdimScheduler(ddimConfigFromJson(config, DDIM_DEFAULTS));
    case 'euler':
      return new EulerScheduler(eulerConfigFromJson(config, EULER_DEFAULTS));
    case 'euler-a':
      return new EulerAncestralScheduler(eulerAncestralConfigFromJson(config, EULER_ANCESTRAL_DEFAULTS));
    case 'dpmpp-2m':
    case 'dpmpp-2m-karras':
      return new DpmSolverMultistepScheduler(dpmSolverConfigFromJson(config, DPM_SOLVER_DEFAULTS), target);
    case 'lcm':
      return new LcmScheduler(lcmConfigFromJson(config, LCM_DEFAULTS));
    case 'flow-euler':
      return new FlowMatchEulerDiscreteScheduler(flowMatchConfigFromJson(config));
  }
}

/** Config values that would change diffusers' result but are not implemented here (each is ignored). */
const UNSUPPORTED: ReadonlyArray<{ key: string; kinds: readonly SchedulerKind[]; honoured: (v: unknown) => boolean }> = [
  { key: 'thresholding', kinds: ['ddim', 'dpmpp-2m', 'dpmpp-2m-karras', 'lcm'], honoured: (v) => v !== true },
  { key: 'interpolation_type', kinds: ['euler'], honoured: (v) => v === 'linear' },
  { key: 'timestep_type', kinds: ['euler'], honoured: (v) => v === 'discrete' },
  { key: 'use_exponential_sigmas', kinds: ['euler', 'dpmpp-2m', 'dpmpp-2m-karras', 'flow-euler'], honoured: (v) => v !== true },
  { key: 'use_beta_sigmas', kinds: ['euler', 'dpmpp-2m', 'dpmpp-2m-karras', 'flow-euler'], honoured: (v) => v !== true },
  { key: 'algorithm_type', kinds: ['dpmpp-2m', 'dpmpp-2m-karras'], honoured: (v) => v === 'dpmsolver++' },
  { key: 'solver_order', kinds: ['dpmpp-2m', 'dpmpp-2m-karras'], honoured: (v) => v === 1 || v === 2 },
  { key: 'variance_type', kinds: ['dpmpp-2m', 'dpmpp-2m-karras'], honoured: (v) => v === null },
  { key: 'use_lu_lambdas', kinds: ['dpmpp-2m', 'dpmpp-2m-karras'], honoured: (v) => v !== true },
  { key: 'use_flow_sigmas', kinds: ['dpmpp-2m', 'dpmpp-2m-karras'], honoured: (v) => v !== true },
  { key: 'use_karras_sigmas', kinds: ['flow-euler'], honoured: (v) => v !== true },
  { key: 'shift_terminal', kinds: ['flow-euler'], honoured: (v) => v === null },
  { key: 'invert_sigmas', kinds: ['flow-euler'], honoured: (v) => v !== true },
  { key: 'stochastic_sampling', kinds: ['flow-euler'], honoured: (v) => v !== true },
  { key: 'time_shift_type', kinds: ['flow-euler'], honoured: (v) => v === 'exponential' },
];

/** `key=value` for each config setting the chosen scheduler ignores (for `doctor` and logs). */
export function ignoredSettings(json: SchedulerJson, kind: SchedulerKind): string[] {
  return UNSUPPORTED.filter((u) => u.kinds.includes(kind) && json[u.key] !== undefined && !u.honoured(json[u.key])).map(
    (u) => `${u.key}=${JSON.stringify(json[u.key])}`,
  );
}
