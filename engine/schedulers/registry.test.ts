import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../paths.js';
import { DdimScheduler } from './ddim.js';
import { loadReference, runCase, trajectoryError } from './fixtures/reference.js';
import { SCHEDULER_KINDS, SCHEDULER_LABELS, compatibleKinds, createScheduler, ignoredSettings, initialSample, isSchedulerKind, kindFromConfig } from './registry.js';
import type { SchedulerState } from './types.js';

const twin = (name: string): Record<string, unknown> =>
  JSON.parse(readFileSync(path.join(packageRoot(), 'models/twins', name, 'scheduler/scheduler_config.json'), 'utf8')) as Record<string, unknown>;

describe('scheduler registry', () => {
  it("maps the twins' _class_name to a scheduler, PNDM falling back to DDIM", () => {
    expect(kindFromConfig(twin('sd15-diffusers'))).toEqual({ kind: 'ddim', fallbackFrom: 'PNDMScheduler' });
    expect(kindFromConfig(twin('sd15-optimum-fp16'))).toEqual({ kind: 'ddim', fallbackFrom: 'PNDMScheduler' });
    expect(kindFromConfig(twin('sdxl-optimum'))).toEqual({ kind: 'euler', fallbackFrom: null });
    expect(kindFromConfig(twin('flux-optimum'))).toEqual({ kind: 'flow-euler', fallbackFrom: null });
    expect(kindFromConfig({ _class_name: 'DPMSolverMultistepScheduler', use_karras_sigmas: true }).kind).toBe('dpmpp-2m-karras');
    expect(kindFromConfig({ _class_name: 'UniPCMultistepScheduler' })).toEqual({ kind: 'dpmpp-2m', fallbackFrom: 'UniPCMultistepScheduler' });
    expect(() => kindFromConfig({ _class_name: 'MadeUpScheduler' })).toThrow(/unsupported/);
    expect(() => kindFromConfig({})).toThrow(/_class_name/);
  });

  it("runs SD 1.5's PNDM config as DDIM with its own keys: 981, 961, ..., no clipping, alphaBar_0 at the end", () => {
    const s = createScheduler(twin('sd15-diffusers'));
    expect(s).toBeInstanceOf(DdimScheduler);
    const ddim = s as DdimScheduler;
    expect(ddim.config).toMatchObject({ clipSample: false, setAlphaToOne: false, stepsOffset: 1, timestepSpacing: 'leading' });
    expect(Array.from(ddim.timesteps(50).timesteps.slice(0, 3))).toEqual([981, 961, 941]);
  });

  it("lets the user pick any scheduler of the model's family, with the target class's defaults for absent keys", () => {
    const sd15 = twin('sd15-diffusers');
    expect(compatibleKinds(sd15)).toEqual(['ddim', 'euler', 'euler-a', 'dpmpp-2m', 'dpmpp-2m-karras', 'lcm']);
    expect(compatibleKinds(twin('flux-optimum'))).toEqual(['flow-euler']);
    // no timestep_spacing in the file: Euler's own default, linspace (diffusers' from_config)
    expect(createScheduler(sd15, 'euler-a').timesteps(30).timesteps[0]).toBe(999);
    expect(createScheduler(sd15, 'dpmpp-2m-karras').kind).toBe('dpmpp-2m-karras');
    expect(() => createScheduler(sd15, 'flow-euler')).toThrow(/cannot drive/);
    expect(() => createScheduler(twin('flux-optimum'), 'ddim')).toThrow(/cannot drive/);
    expect(() => createScheduler({})).toThrow(/kind/);
  });

  it('builds every kind from defaults alone and runs a short loop to a finite result', () => {
    for (const kind of SCHEDULER_KINDS) {
      const s = createScheduler({}, kind);
      expect(s.kind).toBe(kind);
      const plan = s.timesteps(4, { imageSeqLen: 256 });
      let x = initialSample(plan, Float32Array.from([0.5, -1.5, 1]));
      let state: SchedulerState = null;
      for (let i = 0; i < plan.steps; i++) {
        const out = s.scaleModelInput(plan, x, i).map((v) => 0.1 * v);
        const noise = s.needsNoise(plan, i) ? Float32Array.from([0.1, 0.2, -0.3]) : undefined;
        ({ sample: x, state } = s.step(plan, i, out, x, { noise, state }));
      }
      expect(x.every(Number.isFinite)).toBe(true);
      expect(SCHEDULER_LABELS[kind].length).toBeGreaterThan(0);
    }
    expect(isSchedulerKind('euler-a')).toBe(true);
    expect(isSchedulerKind('heun')).toBe(false);
  });

  it('creates schedulers that reproduce every reference case', () => {
    for (const c of loadReference().cases) {
      const run = runCase(createScheduler(c.config, c.kind), c);
      expect(trajectoryError(run.samples, c.expected.samples), c.name).toBeLessThan(1e-5);
    }
  });

  it('lists the config settings it ignores', () => {
    expect(ignoredSettings(twin('sdxl-optimum'), 'euler')).toEqual([]);
    expect(ignoredSettings({ algorithm_type: 'sde-dpmsolver++', solver_order: 3, thresholding: true }, 'dpmpp-2m-karras')).toEqual([
      'thresholding=true',
      'algorithm_type="sde-dpmsolver++"',
      'solver_order=3',
    ]);
    expect(ignoredSettings({ interpolation_type: 'log_linear' }, 'euler')).toEqual(['interpolation_type="log_linear"']);
  });
});
