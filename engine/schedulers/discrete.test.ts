import { describe, expect, it } from 'vitest';
import {
  ConfigReader,
  alphasCumprodFor,
  arange,
  betasFor,
  interpTable,
  karrasSigmas,
  linspace,
  roundHalfEven,
  sigmaToTimestep,
  sigmasFromAlphas,
  spacedTimesteps,
  type DiscreteConfig,
} from './discrete.js';

const SD: DiscreteConfig = {
  numTrainTimesteps: 1000,
  betaStart: 0.00085,
  betaEnd: 0.012,
  betaSchedule: 'scaled_linear',
  trainedBetas: null,
  predictionType: 'epsilon',
  timestepSpacing: 'leading',
  stepsOffset: 1,
  rescaleBetasZeroSnr: false,
};

describe('DDPM noise schedule', () => {
  it('rounds like numpy: halves to even', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, 937.5, 812.5, 2.4, 2.6].map(roundHalfEven)).toEqual([0, 2, 2, -0, -2, 938, 812, 2, 3]);
  });

  it('spaces like numpy linspace and arange', () => {
    expect(Array.from(linspace(0, 999, 4))).toEqual([0, 333, 666, 999]);
    expect(Array.from(linspace(0, 50, 4, false))).toEqual([0, 12.5, 25, 37.5]);
    expect(Array.from(linspace(3, 9, 1))).toEqual([3]);
    // numpy 1.24: np.arange(1000, 0, -1000/3).tolist() (its fill rule start + i * (x1 - x0))
    expect(Array.from(arange(1000, 0, -1000 / 3))).toEqual([1000, 666.6666666666667, 333.3333333333335]);
  });

  it('spaces inference timesteps leading, trailing and linspace as diffusers does', () => {
    expect(Array.from(spacedTimesteps('leading', 1000, 4, 1))).toEqual([751, 501, 251, 1]);
    expect(Array.from(spacedTimesteps('trailing', 1000, 4, 1))).toEqual([999, 749, 499, 249]);
    // 1000/16 = 62.5: numpy rounds 937.5 to 938 and 812.5 to 812
    expect(Array.from(spacedTimesteps('trailing', 1000, 16, 0).slice(0, 4))).toEqual([999, 937, 874, 811]);
    expect(Array.from(spacedTimesteps('linspace', 1000, 3, 1))).toEqual([999, 499.5, 0]);
  });

  it('builds scaled_linear betas between the configured ends', () => {
    const b = betasFor(SD);
    expect(b[0]).toBeCloseTo(0.00085, 15);
    expect(b[999]).toBeCloseTo(0.012, 15);
    const cos = betasFor({ ...SD, betaSchedule: 'squaredcos_cap_v2' });
    expect(cos[999]).toBe(0.999);
  });

  it('rescales to zero terminal SNR (Lin et al. Algorithm 1), keeping the first alphaBar', () => {
    const plain = alphasCumprodFor(SD, false);
    const zero = alphasCumprodFor({ ...SD, rescaleBetasZeroSnr: true }, false);
    expect(zero[999]).toBeCloseTo(0, 15);
    expect(zero[0]).toBeCloseTo(plain[0]!, 12);
    expect(alphasCumprodFor({ ...SD, rescaleBetasZeroSnr: true }, true)[999]).toBe(2 ** -24);
  });

  it("has Stable Diffusion's published sigma range 14.6146 .. 0.0292", () => {
    const sigmas = sigmasFromAlphas(alphasCumprodFor(SD, true));
    expect(sigmas[999]).toBeCloseTo(14.6146, 4);
    expect(sigmas[0]).toBeCloseTo(0.0292, 4);
  });

  it('maps sigmas back to timesteps through log sigma, exactly at training timesteps', () => {
    const sigmas = sigmasFromAlphas(alphasCumprodFor(SD, true));
    const logs = sigmas.map(Math.log);
    for (const t of [0, 1, 250, 500.5, 998, 999]) expect(sigmaToTimestep(Math.exp((Math.log(interpTable(Math.floor(t), sigmas)) + Math.log(interpTable(Math.ceil(t), sigmas))) / 2), logs)).toBeCloseTo(t, 9);
    expect(sigmaToTimestep(1e-6, logs)).toBe(0);
    expect(sigmaToTimestep(1e6, logs)).toBe(999);
  });

  it('spaces Karras sigmas evenly in sigma^(1/7) from max to min', () => {
    const k = karrasSigmas(0.1, 10, 5);
    expect(k[0]).toBeCloseTo(10, 12);
    expect(k[4]).toBeCloseTo(0.1, 12);
    expect(k[2]! ** (1 / 7)).toBeCloseTo((10 ** (1 / 7) + 0.1 ** (1 / 7)) / 2, 12);
  });

  it('type-checks config values and names the key', () => {
    const r = new ConfigReader({ steps_offset: 1.5, clip_sample: 'no', beta_schedule: 'sigmoid', sigma_min: null }, 'Test');
    expect(() => r.int('steps_offset', 0)).toThrow(/steps_offset/);
    expect(() => r.bool('clip_sample', false)).toThrow(/clip_sample/);
    expect(() => r.oneOf('beta_schedule', ['linear'], 'linear')).toThrow(/beta_schedule/);
    expect(r.optionalNum('sigma_min')).toBeNull();
    expect(r.num('absent', 7)).toBe(7);
  });
});
