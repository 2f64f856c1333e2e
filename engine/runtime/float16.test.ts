import { describe, expect, it } from 'vitest';
import { float16ToFloat32, float32ToFloat16, fromHalfBits, toHalfBits } from './float16.js';

describe('float16', () => {
  it('encodes exact values, specials and rounding like IEEE 754 half', () => {
    expect(toHalfBits(1)).toBe(0x3c00);
    expect(toHalfBits(-2)).toBe(0xc000);
    expect(toHalfBits(65504)).toBe(0x7bff);
    expect(toHalfBits(65520)).toBe(0x7c00); // rounds up to infinity
    expect(toHalfBits(Infinity)).toBe(0x7c00);
    expect(toHalfBits(-0)).toBe(0x8000);
    expect(toHalfBits(2 ** -24)).toBe(0x0001); // smallest subnormal
    expect(toHalfBits(2 ** -26)).toBe(0x0000); // below half of it: zero
    expect(toHalfBits(1 + 2 ** -11)).toBe(0x3c00); // tie to even
    expect(toHalfBits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie to even, upward
    expect(Number.isNaN(fromHalfBits(toHalfBits(Number.NaN)))).toBe(true);
  });

  it('round-trips every finite half value', () => {
    const mismatches: number[] = [];
    for (let h = 0; h < 0x10000; h++) {
      if ((h & 0x7c00) === 0x7c00) continue;
      if (toHalfBits(fromHalfBits(h)) !== h) mismatches.push(h);
    }
    expect(mismatches).toEqual([]);
  });

  it('converts arrays both ways', () => {
    const values = [0.1, -3.5, 1024, 1e-5];
    const back = float16ToFloat32(float32ToFloat16(values));
    values.forEach((v, i) => expect(back[i]).toBeCloseTo(v, 3));
  });
});
