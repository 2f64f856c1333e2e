import { describe, expect, it } from 'vitest';
import { gaussianNoise } from '../noise/philox.js';
import { EULER_ANCESTRAL_DEFAULTS, EulerAncestralScheduler, ancestralStep, eulerAncestralConfigFromJson } from './euler-ancestral.js';
import { referenceCases, relError, runCase, trajectoryError } from './fixtures/reference.js';
import type { SchedulerState } from './types.js';

const SD = { beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear', num_train_timesteps: 1000 };

describe('Euler ancestral', () => {
  for (const c of referenceCases(['euler-a'])) {
    it(`matches the reference: ${c.name}`, () => {
      const run = runCase(new EulerAncestralScheduler(eulerAncestralConfigFromJson(c.config)), c);
      expect(relError(run.plan.timesteps, c.expected.timesteps)).toBeLessThan(1e-12);
      expect(relError(run.plan.sigmas, c.expected.sigmas)).toBeLessThan(1e-12);
      expect(run.plan.initNoiseSigma).toBeCloseTo(c.expected.initNoiseSigma, 10);
      expect(trajectoryError(run.samples, c.expected.samples)).toBeLessThan(1e-5);
      expect(trajectoryError(run.predictedOriginal, c.expected.predictedOriginal)).toBeLessThan(1e-5);
    });
  }

  it('splits sigma_next into an Euler part and a noise part: up^2 + down^2 = next^2', () => {
    const { up, down } = ancestralStep(5, 3);
    expect(up).toBeCloseTo(3 * Math.sqrt(1 - 9 / 25), 12);
    expect(up * up + down * down).toBeCloseTo(9, 12);
    expect(ancestralStep(2, 0)).toEqual({ up: 0, down: 0 });
  });

  it('needs noise on every step but the one that ends at sigma 0', () => {
    const s = new EulerAncestralScheduler(EULER_ANCESTRAL_DEFAULTS);
    const plan = s.timesteps(5);
    expect([0, 1, 2, 3, 4].map((i) => s.needsNoise(plan, i))).toEqual([true, true, true, true, false]);
    const x = new Float32Array(4).fill(1);
    expect(() => s.step(plan, 0, new Float32Array(4), x)).toThrow(/needs noise/);
    expect(() => s.step(plan, 0, new Float32Array(4), x, { noise: new Float32Array(3) })).toThrow(RangeError);
    expect(() => s.step(plan, 4, new Float32Array(4), x)).not.toThrow();
  });

  it('reproduces a run bit for bit from a Philox seed, and another seed differs', () => {
    const s = new EulerAncestralScheduler(eulerAncestralConfigFromJson(SD));
    const n = 64;
    const run = (seed: number): Float32Array => {
      const plan = s.timesteps(8);
      let x: Float32Array = gaussianNoise(seed, n).map((v) => v * plan.initNoiseSigma);
      let state: SchedulerState = null;
      for (let i = 0; i < plan.steps; i++) {
        const eps = s.scaleModelInput(plan, x, i).map((v) => 0.1 * v);
        // one draw per step from a seed derived from the run's seed (the pipeline's choice)
        const noise = s.needsNoise(plan, i) ? gaussianNoise(seed + 1000 * (i + 1), n) : undefined;
        ({ sample: x, state } = s.step(plan, i, eps, x, { noise, state }));
      }
      return x;
    };
    const a = run(42);
    expect(Buffer.from(a.buffer)).toEqual(Buffer.from(run(42).buffer));
    expect(Buffer.from(a.buffer)).not.toEqual(Buffer.from(run(43).buffer));
  });
});
