import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { encodePreviewPng } from '../../images/preview-png.js';
import { gaussianNoise } from '../../noise/philox.js';
import { imageIds, packLatents, unpackLatents } from './packing.js';
import { previewFromPacked } from './preview.js';

describe('FLUX latent packing', () => {
  it('packs 2x2 patches as diffusers does and unpacks back exactly', () => {
    const c = 2;
    const h = 4;
    const w = 6;
    const latents = Float32Array.from({ length: c * h * w }, (_, i) => i);
    const packed = packLatents(latents, c, h, w);
    // token 0 = patch (0,0): channel 0 pixels (0,0) (0,1) (1,0) (1,1), then channel 1's
    expect(Array.from(packed.subarray(0, 8))).toEqual([0, 1, 6, 7, 24, 25, 30, 31]);
    // token 1 = patch (0,1)
    expect(Array.from(packed.subarray(8, 12))).toEqual([2, 3, 8, 9]);
    expect(unpackLatents(packed, c, h, w)).toEqual(latents);
  });

  it('numbers image tokens [kind, row, col] in row-major order', () => {
    expect(Array.from(imageIds(4, 6, 1))).toEqual([1, 0, 0, 1, 0, 1, 1, 0, 2, 1, 1, 0, 1, 1, 1, 1, 1, 2]);
  });
});

describe('step previews', () => {
  it('projects x0 = x - sigma v from packed tokens like unpack + per-pixel projection', () => {
    const c = 16;
    const h = 8;
    const w = 8;
    const x = gaussianNoise(1, c * h * w);
    const v = gaussianNoise(2, c * h * w);
    const factors = Array.from({ length: c }, (_, i) => [0.05 * (i % 3), -0.03 * (i % 5), 0.02 * i] as number[]);
    const projection = { factors, bias: [0.1, -0.2, 0.05] as [number, number, number] };
    const preview = previewFromPacked(x, v, 0.6, c, h, w, projection);
    const x0 = unpackLatents(x.map((xi, i) => xi - 0.6 * v[i]!), c, h, w);
    for (const [py, px] of [
      [0, 0],
      [3, 5],
      [7, 7],
    ] as const) {
      for (let k = 0; k < 3; k++) {
        let value = projection.bias[k]!;
        for (let ch = 0; ch < c; ch++) value += x0[ch * h * w + py * w + px]! * factors[ch]![k]!;
        const expected = Math.round(Math.min(1, Math.max(0, (value + 1) / 2)) * 255);
        expect(preview.data[(py * w + px) * 3 + k]).toBe(expected);
      }
    }
  });

  it('encodes previews as PNG that decoders read back exactly', async () => {
    const image = { width: 5, height: 3, data: Uint8Array.from({ length: 45 }, (_, i) => (i * 37) % 256) };
    const png = encodePreviewPng(image);
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([5, 3, 3]);
    expect(Array.from(data)).toEqual(Array.from(image.data));
  });
});
