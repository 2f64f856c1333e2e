import { describe, expect, it } from 'vitest';
import { DPM_SOLVER_DEFAULTS, DpmSolverMultistepScheduler, dpmSolverConfigFromJson } from './dpm-solver-multistep.js';
import { referenceCases, relError, runCase, trajectoryError } from './fixtures/reference.js';

const SD = { beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear', num_train_timesteps: 1000 };

describe('DPM-Solver++(2M)', () => {
  for (const c of referenceCases(['dpmpp-2m', 'dpmpp-2m-karras'])) {
    it(`matches the reference: ${c.name}`, () => {
      const s = new DpmSolverMultistepScheduler(dpmSolverConfigFromJson(c.config), c.kind === 'dpmpp-2m-karras' ? 'dpmpp-2m-karras' : 'dpmpp-2m');
      const run = runCase(s, c);
      expect(relError(run.plan.timesteps, c.expected.timesteps)).toBeLessThan(1e-12);
      expect(relError(run.plan.sigmas, c.expected.sigmas)).toBeLessThan(1e-12);
      expect(run.plan.initNoiseSigma).toBe(1);
      expect(trajectoryError(run.samples, c.expected.samples)).toBeLessThan(1e-5);
      expect(trajectoryError(run.predictedOriginal, c.expected.predictedOriginal)).toBeLessThan(1e-5);
    });
  }

  it("uses Karras sigmas over SD's published range 14.6146 .. 0.0292 with rounded timesteps 999 .. 0", () => {
    const plan = new DpmSolverMultistepScheduler(dpmSolverConfigFromJson(SD), 'dpmpp-2m-karras').timesteps(25);
    expect(plan.sigmas[0]).toBeCloseTo(14.6146, 4);
    expect(plan.sigmas[24]).toBeCloseTo(0.0292, 4);
    expect(plan.sigmas[25]).toBe(0);
    expect(plan.timesteps[0]).toBe(999);
    expect(plan.timesteps[24]).toBe(0);
    expect(plan.integerTimesteps).toBe(true);
    // eq. 5: sigma^(1/7) is evenly spaced
    const roots = Array.from(plan.sigmas.slice(0, 25), (v) => v ** (1 / 7));
    for (let i = 1; i < 24; i++) expect(roots[i + 1]! - roots[i]!).toBeCloseTo(roots[1]! - roots[0]!, 12);
  });

  it('keeps its history in the explicit state, so the object is reusable', () => {
    const s = new DpmSolverMultistepScheduler(dpmSolverConfigFromJson(SD), 'dpmpp-2m-karras');
    const plan = s.timesteps(20);
    const x = Float32Array.from([1, -2, 0.5]);
    const first = s.step(plan, 0, Float32Array.from([0.3, 0.1, -0.2]), x);
    expect(first.state).toEqual({ index: 0, x0: first.predictedOriginal });
    const out = Float32Array.from([0.2, 0.2, 0.1]);
    const withHistory = s.step(plan, 1, out, first.sample, { state: first.state });
    const without = s.step(plan, 1, out, first.sample);
    const stale = s.step(plan, 1, out, first.sample, { state: { index: 5, x0: first.predictedOriginal } });
    expect(Array.from(withHistory.sample)).not.toEqual(Array.from(without.sample));
    // a state from another step is not history: first order, as without one
    expect(Array.from(stale.sample)).toEqual(Array.from(without.sample));
    // the same call twice gives the same answer: nothing was remembered
    expect(Array.from(s.step(plan, 1, out, first.sample, { state: first.state }).sample)).toEqual(Array.from(withHistory.sample));
  });

  it('makes the last step to sigma 0 return the predicted x0', () => {
    const s = new DpmSolverMultistepScheduler(DPM_SOLVER_DEFAULTS);
    const plan = s.timesteps(6);
    const x = Float32Array.from([0.4, -0.7]);
    const r = s.step(plan, 5, Float32Array.from([0.1, 0.2]), x, { state: { index: 4, x0: Float32Array.from([0, 0]) } });
    expect(Array.from(r.sample)).toEqual(Array.from(r.predictedOriginal));
  });

  it("'dpmpp-2m-karras' turns Karras sigmas on; 'dpmpp-2m' follows the config", () => {
    expect(new DpmSolverMultistepScheduler(dpmSolverConfigFromJson(SD), 'dpmpp-2m-karras').config.useKarrasSigmas).toBe(true);
    expect(new DpmSolverMultistepScheduler(dpmSolverConfigFromJson(SD)).kind).toBe('dpmpp-2m');
    expect(new DpmSolverMultistepScheduler(dpmSolverConfigFromJson({ ...SD, use_karras_sigmas: true })).kind).toBe('dpmpp-2m-karras');
    expect(dpmSolverConfigFromJson({ solver_order: 3 }).solverOrder).toBe(2);
  });

  it('adds img2img noise in the VP form alpha x0 + sigma_t noise', () => {
    const s = new DpmSolverMultistepScheduler(dpmSolverConfigFromJson(SD), 'dpmpp-2m-karras');
    const plan = s.timesteps(15, { strength: 0.7 });
    expect(plan.startIndex).toBe(5);
    const sigma = plan.sigmas[0]!;
    const x = s.addNoise(plan, Float32Array.from([1]), Float32Array.from([1]), 0);
    expect(x[0]).toBeCloseTo((1 + sigma) / Math.sqrt(sigma * sigma + 1), 6);
  });
});
