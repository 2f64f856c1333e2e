import { describe, expect, it } from 'vitest';
import { DDIM_DEFAULTS, DdimScheduler, ddimConfigFromJson } from './ddim.js';
import { alphasCumprodFor } from './discrete.js';
import { referenceCases, relError, runCase, trajectoryError } from './fixtures/reference.js';

const SD15 = {
  _class_name: 'PNDMScheduler',
  beta_start: 0.00085,
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  clip_sample: false,
  num_train_timesteps: 1000,
  set_alpha_to_one: false,
  skip_prk_steps: true,
  steps_offset: 1,
};

describe('DDIM', () => {
  for (const c of referenceCases(['ddim'])) {
    it(`matches the reference: ${c.name}`, () => {
      const run = runCase(new DdimScheduler(ddimConfigFromJson(c.config)), c);
      expect(Array.from(run.plan.timesteps)).toEqual(c.expected.timesteps);
      expect(run.plan.integerTimesteps).toBe(true);
      expect(relError(run.plan.sigmas, c.expected.sigmas)).toBeLessThan(1e-12);
      expect(run.plan.initNoiseSigma).toBe(1);
      expect(trajectoryError(run.samples, c.expected.samples)).toBeLessThan(1e-5);
      expect(trajectoryError(run.predictedOriginal, c.expected.predictedOriginal)).toBeLessThan(1e-5);
    });
  }

  it("gives Stable Diffusion 1.5's published 50-step timesteps 981, 961, 941, ..., 1", () => {
    const plan = new DdimScheduler(ddimConfigFromJson(SD15)).timesteps(50);
    expect(Array.from(plan.timesteps.slice(0, 4))).toEqual([981, 961, 941, 921]);
    expect(plan.timesteps[49]).toBe(1);
    expect(plan.steps).toBe(50);
  });

  it('steps to the next timestep of the plan, which for leading spacing is t - T/N as in diffusers', () => {
    const config = ddimConfigFromJson(SD15);
    const alphas = alphasCumprodFor(config, false);
    const plan = new DdimScheduler(config).timesteps(50);
    for (let i = 0; i < 49; i++) expect(plan.alphasCumprod[i + 1]).toBe(alphas[plan.timesteps[i]! - 20]);
    // set_alpha_to_one false: the chain ends at alphaBar_0
    expect(plan.alphasCumprod[50]).toBe(alphas[0]);
  });

  it('ends the chain at alphaBar = 1 with set_alpha_to_one', () => {
    const plan = new DdimScheduler(DDIM_DEFAULTS).timesteps(10);
    expect(plan.alphasCumprod[10]).toBe(1);
    expect(plan.sigmas[10]).toBe(0);
  });

  it('clips the predicted sample when clip_sample is on', () => {
    const s = new DdimScheduler({ ...DDIM_DEFAULTS, clipSample: true, clipSampleRange: 1 });
    const plan = s.timesteps(4);
    const sample = Float32Array.from([40, -40, 0.1]);
    const r = s.step(plan, 0, new Float32Array(3), sample);
    expect(Array.from(r.predictedOriginal).map((v) => Math.abs(v) <= 1)).toEqual([true, true, true]);
    expect(r.predictedOriginal[0]).toBe(1);
    expect(r.predictedOriginal[1]).toBe(-1);
  });

  it('runs img2img on the tail of the full plan and noises at its first timestep', () => {
    const s = new DdimScheduler(ddimConfigFromJson(SD15));
    const full = s.timesteps(20);
    const part = s.timesteps(20, { strength: 0.6 });
    expect(part.startIndex).toBe(8);
    expect(part.steps).toBe(12);
    expect(Array.from(part.timesteps)).toEqual(Array.from(full.timesteps.slice(8)));
    const a = part.alphasCumprod[0]!;
    const x = s.addNoise(part, Float32Array.from([1]), Float32Array.from([2]), 0);
    expect(x[0]).toBeCloseTo(Math.sqrt(a) + 2 * Math.sqrt(1 - a), 6);
    expect(() => s.timesteps(20, { strength: 0.01 })).toThrow(/no step/);
    expect(() => s.timesteps(20, { strength: 1.5 })).toThrow(RangeError);
  });

  it('is pure: no input is modified and the same call gives the same result', () => {
    const s = new DdimScheduler(ddimConfigFromJson(SD15));
    const plan = s.timesteps(10);
    const sample = Float32Array.from([0.5, -1, 2]);
    const out = Float32Array.from([0.1, 0.2, -0.3]);
    const a = s.step(plan, 3, out, sample);
    const b = s.step(plan, 3, out, sample);
    expect(Array.from(sample)).toEqual([0.5, -1, 2]);
    expect(Array.from(a.sample)).toEqual(Array.from(b.sample));
    expect(a.state).toBeNull();
    expect(s.scaleModelInput(plan, sample, 0)).toBe(sample);
  });

  it('rejects bad step counts, indices and lengths', () => {
    const s = new DdimScheduler(DDIM_DEFAULTS);
    expect(() => s.timesteps(0)).toThrow(RangeError);
    expect(() => s.timesteps(1001)).toThrow(RangeError);
    const plan = s.timesteps(5);
    expect(() => s.step(plan, 5, new Float32Array(2), new Float32Array(2))).toThrow(RangeError);
    expect(() => s.step(plan, 0, new Float32Array(3), new Float32Array(2))).toThrow(RangeError);
    expect(() => ddimConfigFromJson({ beta_schedule: 'sigmoid' })).toThrow(/beta_schedule/);
    expect(() => ddimConfigFromJson({ prediction_type: 'flow' })).toThrow(/prediction_type/);
  });
});
