import { describe, expect, it } from 'vitest';
import { referenceCases, relError, runCase, trajectoryError } from './fixtures/reference.js';
import { LCM_DEFAULTS, LcmScheduler, lcmBoundaryScalings, lcmConfigFromJson } from './lcm.js';

describe('LCM', () => {
  for (const c of referenceCases(['lcm'])) {
    it(`matches the reference: ${c.name}`, () => {
      const run = runCase(new LcmScheduler(lcmConfigFromJson(c.config)), c);
      expect(Array.from(run.plan.timesteps)).toEqual(c.expected.timesteps);
      expect(relError(run.plan.sigmas, c.expected.sigmas)).toBeLessThan(1e-12);
      expect(relError(run.plan.alphasCumprod, c.expected.alphasCumprod ?? [])).toBeLessThan(1e-12);
      expect(trajectoryError(run.samples, c.expected.samples)).toBeLessThan(1e-5);
      expect(trajectoryError(run.predictedOriginal, c.expected.predictedOriginal)).toBeLessThan(1e-5);
    });
  }

  it("gives the published 4-step LCM timesteps 999, 759, 499, 259", () => {
    expect(Array.from(new LcmScheduler(LCM_DEFAULTS).timesteps(4).timesteps)).toEqual([999, 759, 499, 259]);
  });

  it('has c_skip -> 1, c_out -> 0 at t = 0 (the boundary condition) and the reverse at large t', () => {
    expect(lcmBoundaryScalings(0, 10)).toEqual({ cSkip: 1, cOut: 0 });
    const late = lcmBoundaryScalings(999, 10);
    expect(late.cSkip).toBeLessThan(1e-7);
    expect(late.cOut).toBeCloseTo(1, 6);
  });

  it('needs noise on every step but the last, which returns the estimate itself', () => {
    const s = new LcmScheduler(LCM_DEFAULTS);
    const plan = s.timesteps(4);
    expect([0, 1, 2, 3].map((i) => s.needsNoise(plan, i))).toEqual([true, true, true, false]);
    const x = Float32Array.from([0.3, -0.1]);
    expect(() => s.step(plan, 1, new Float32Array(2), x)).toThrow(/needs noise/);
    const last = s.step(plan, 3, Float32Array.from([0.1, 0.1]), x);
    expect(Array.from(last.sample)).toEqual(Array.from(last.predictedOriginal));
  });

  it('shortens the distillation schedule for img2img instead of cutting the plan', () => {
    const plan = new LcmScheduler(LCM_DEFAULTS).timesteps(4, { strength: 0.5 });
    expect(plan.steps).toBe(4);
    expect(plan.startIndex).toBe(0);
    expect(Array.from(plan.timesteps)).toEqual([499, 379, 259, 139]);
  });

  it('rejects more steps than the distillation schedule has', () => {
    const s = new LcmScheduler(LCM_DEFAULTS);
    expect(() => s.timesteps(51)).toThrow(/original_inference_steps/);
    expect(() => s.timesteps(8, { strength: 0.1 })).toThrow(/strength/);
  });
});
