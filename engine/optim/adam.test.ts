/**
 * Adam against its definition: the bias-corrected first step moves each parameter by exactly the
 * learning rate against its gradient's sign, whatever the gradient's scale; a per-step learning
 * rate overrides the constructor's; it minimizes a quadratic; mismatched sizes are refused.
 */
import { describe, expect, it } from 'vitest';
import { Adam } from './adam.js';

describe('Adam', () => {
  it('moves each parameter by lr on the first step, against the sign of its gradient', () => {
    const params = Float32Array.of(1, 1, 1);
    new Adam(3, { lr: 0.1 }).step(params, [0.01, -250, 3]);
    expect(Array.from(params)).toEqual([expect.closeTo(0.9, 6), expect.closeTo(1.1, 6), expect.closeTo(0.9, 6)]);
  });

  it('takes a per-step learning rate', () => {
    const params = Float32Array.of(0);
    const adam = new Adam(1, { lr: 0.1 });
    adam.step(params, [1], 0.01);
    expect(params[0]).toBeCloseTo(-0.01, 6);
    expect(adam.steps).toBe(1);
  });

  it('minimizes a quadratic', () => {
    const x = Float32Array.of(0, 10);
    const adam = new Adam(2, { lr: 0.05 });
    for (let i = 0; i < 2000; i++) adam.step(x, [2 * (x[0]! - 3), 2 * (x[1]! + 1)]);
    expect(x[0]).toBeCloseTo(3, 2);
    expect(x[1]).toBeCloseTo(-1, 2);
  });

  it('refuses sizes that do not match and a learning rate that is not positive', () => {
    expect(() => new Adam(2, { lr: 0.1 }).step(Float32Array.of(0), [1])).toThrow(/1 parameters and 1 gradients for an optimizer of 2/);
    expect(() => new Adam(2, { lr: 0 })).toThrow(/positive learning rate/);
  });
});
