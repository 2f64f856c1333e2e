import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../paths.js';
import { EULER_DEFAULTS, EulerScheduler, eulerConfigFromJson } from './euler.js';
import { loadReference, referenceCases, relError, runCase, trajectoryError } from './fixtures/reference.js';

const SD = { beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear', num_train_timesteps: 1000 };

describe('Euler', () => {
  for (const c of referenceCases(['euler'])) {
    it(`matches the reference: ${c.name}`, () => {
      const run = runCase(new EulerScheduler(eulerConfigFromJson(c.config)), c);
      expect(relError(run.plan.timesteps, c.expected.timesteps)).toBeLessThan(1e-12);
      expect(relError(run.plan.sigmas, c.expected.sigmas)).toBeLessThan(1e-12);
      expect(run.plan.initNoiseSigma).toBeCloseTo(c.expected.initNoiseSigma, 10);
      expect(trajectoryError(run.samples, c.expected.samples)).toBeLessThan(1e-5);
      expect(trajectoryError(run.predictedOriginal, c.expected.predictedOriginal)).toBeLessThan(1e-5);
    });
  }

  it("spans Stable Diffusion's published sigma range, 14.6146 to 0.0292", () => {
    const karras = new EulerScheduler(eulerConfigFromJson({ ...SD, use_karras_sigmas: true })).timesteps(20);
    expect(karras.sigmas[0]).toBeCloseTo(14.6146, 4);
    expect(karras.sigmas[19]).toBeCloseTo(0.0292, 4);
    expect(karras.sigmas[20]).toBe(0);
    expect(karras.timesteps[0]).toBeCloseTo(999, 9);
    expect(karras.timesteps[19]).toBeCloseTo(0, 9);
    // and the Python reference agrees
    const { published } = loadReference();
    expect(karras.sigmas[0]).toBeCloseTo(published.sdSigmaMax, 12);
    expect(karras.sigmas[19]).toBeCloseTo(published.sdSigmaMin, 12);
  });

  it('scales the initial noise by sigma_max, or sqrt(sigma_max^2 + 1) with leading spacing', () => {
    const linspace = new EulerScheduler(eulerConfigFromJson(SD)).timesteps(30);
    expect(linspace.timesteps[0]).toBe(999);
    expect(linspace.initNoiseSigma).toBe(linspace.sigmas[0]);
    const leading = new EulerScheduler(eulerConfigFromJson({ ...SD, timestep_spacing: 'leading', steps_offset: 1 })).timesteps(30);
    expect(leading.timesteps[0]).toBe(29 * 33 + 1);
    expect(leading.initNoiseSigma).toBeCloseTo(Math.sqrt(leading.sigmas[0]! ** 2 + 1), 12);
  });

  it("reads the SDXL twin's scheduler_config.json (leading, steps_offset 1)", () => {
    const json = JSON.parse(readFileSync(path.join(packageRoot(), 'models/twins/sdxl-optimum/scheduler/scheduler_config.json'), 'utf8')) as Record<string, unknown>;
    const config = eulerConfigFromJson(json);
    expect(config).toMatchObject({ timestepSpacing: 'leading', stepsOffset: 1, betaSchedule: 'scaled_linear', useKarrasSigmas: false });
    expect(Array.from(new EulerScheduler(config).timesteps(4).timesteps)).toEqual([751, 501, 251, 1]);
  });

  it('feeds the model x / sqrt(sigma^2 + 1) and steps x + (sigma_next - sigma) * eps', () => {
    const s = new EulerScheduler(EULER_DEFAULTS);
    const plan = s.timesteps(10);
    const x = Float32Array.from([3, -6]);
    const sigma = plan.sigmas[2]!;
    const scaled = s.scaleModelInput(plan, x, 2);
    expect(scaled[0]).toBeCloseTo(3 / Math.sqrt(sigma * sigma + 1), 6);
    const eps = Float32Array.from([0.5, -0.25]);
    const r = s.step(plan, 2, eps, x);
    const dt = plan.sigmas[3]! - sigma;
    expect(r.sample[0]).toBeCloseTo(3 + dt * 0.5, 5);
    expect(r.predictedOriginal[1]).toBeCloseTo(-6 + sigma * 0.25, 5);
    expect(s.needsNoise()).toBe(false);
  });

  it('adds img2img noise at the first sigma of the shortened plan', () => {
    const s = new EulerScheduler(eulerConfigFromJson(SD));
    const full = s.timesteps(16);
    const part = s.timesteps(16, { strength: 0.75 });
    expect(part.startIndex).toBe(4);
    expect(Array.from(part.sigmas)).toEqual(Array.from(full.sigmas.slice(4)));
    const x = s.addNoise(part, Float32Array.from([0.5]), Float32Array.from([1]), 0);
    expect(x[0]).toBeCloseTo(0.5 + part.sigmas[0]!, 6);
  });
});
