import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../paths.js';
import { referenceCases, relError, runCase, trajectoryError } from './fixtures/reference.js';
import { FLUX_DEFAULTS, FlowMatchEulerDiscreteScheduler, FlowMatchEulerScheduler, flowMatchConfigFromJson, flowMatchMu } from './flow-match-euler.js';

describe('flow-matching Euler', () => {
  for (const c of referenceCases(['flow-euler'])) {
    it(`matches the reference: ${c.name}`, () => {
      const run = runCase(new FlowMatchEulerDiscreteScheduler(flowMatchConfigFromJson(c.config)), c);
      expect(relError(run.plan.timesteps, c.expected.timesteps)).toBeLessThan(1e-12);
      expect(relError(run.plan.sigmas, c.expected.sigmas)).toBeLessThan(1e-12);
      expect(trajectoryError(run.samples, c.expected.samples)).toBeLessThan(1e-5);
      expect(trajectoryError(run.predictedOriginal, c.expected.predictedOriginal)).toBeLessThan(1e-5);
    });
  }

  it("reads the FLUX twin's config: mu runs from 0.5 at 256 tokens to 1.15 at 4096 (1024x1024)", () => {
    const json = JSON.parse(readFileSync(path.join(packageRoot(), 'models/twins/flux-optimum/scheduler/scheduler_config.json'), 'utf8')) as Record<string, unknown>;
    const config = flowMatchConfigFromJson(json);
    expect(config).toEqual(FLUX_DEFAULTS);
    expect(flowMatchMu(256, config)).toBeCloseTo(0.5, 12);
    expect(flowMatchMu(4096, config)).toBeCloseTo(1.15, 12);
    const plan = new FlowMatchEulerDiscreteScheduler(config).timesteps(28, { imageSeqLen: 4096 });
    expect(plan.sigmas[0]).toBe(1);
    expect(plan.sigmas[28]).toBe(0);
    // sigma' = e^mu / (e^mu + 1/sigma - 1) at sigma = 1/28
    expect(plan.sigmas[27]).toBeCloseTo(Math.exp(1.15) / (Math.exp(1.15) + 27), 12);
    expect(Array.from(plan.timesteps)).toEqual(Array.from(plan.sigmas.slice(0, 28)));
  });

  it('keeps the in-place API the FLUX pipeline uses, with the same numbers', () => {
    const old = new FlowMatchEulerScheduler(FLUX_DEFAULTS);
    const neu = new FlowMatchEulerDiscreteScheduler(FLUX_DEFAULTS);
    const plan = neu.timesteps(10, { imageSeqLen: 1024 });
    expect(Array.from(old.sigmas(10, 1024))).toEqual(Array.from(plan.sigmas));
    const x = Float32Array.from([0.5, -1, 2]);
    const v = Float32Array.from([1, 0.25, -0.5]);
    const r = neu.step(plan, 3, v, x);
    expect(Array.from(old.predictedClean(x, v, plan.sigmas[3]!))).toEqual(Array.from(r.predictedOriginal));
    const inPlace = Float32Array.from(x);
    old.step(inPlace, v, plan.sigmas[3]!, plan.sigmas[4]!);
    expect(Array.from(inPlace)).toEqual(Array.from(r.sample));
  });

  it('starts img2img part-way (FLUX keeps ceil(N * strength) steps) from sigma noise + (1 - sigma) x0', () => {
    const s = new FlowMatchEulerDiscreteScheduler(FLUX_DEFAULTS);
    const plan = s.timesteps(28, { strength: 0.6, imageSeqLen: 4096 });
    expect(plan.startIndex).toBe(11);
    expect(plan.steps).toBe(17);
    const x = s.addNoise(plan, Float32Array.from([0.2]), Float32Array.from([-1]), 0);
    expect(x[0]).toBeCloseTo(-plan.sigmas[0]! + (1 - plan.sigmas[0]!) * 0.2, 6);
  });

  it('needs the token count when shifting dynamically, and not otherwise', () => {
    expect(() => new FlowMatchEulerDiscreteScheduler(FLUX_DEFAULTS).timesteps(4)).toThrow(/imageSeqLen/);
    const schnell = new FlowMatchEulerDiscreteScheduler({ ...FLUX_DEFAULTS, useDynamicShifting: false, shift: 1 });
    expect(Array.from(schnell.timesteps(4).sigmas)).toEqual([1, 0.75, 0.5, 0.25, 0]);
  });
});
