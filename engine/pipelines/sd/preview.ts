/**
 * Step previews for planar (C, h, w) latents: the scheduler's predicted clean latents projected
 * linearly to RGB at latent resolution (published factors, pipelines/latent-rgb.ts), mapped from
 * [-1, 1] to bytes. Without a projection the first three channels are shown, each stretched to its
 * range. One pass, no VAE: a 64 x 64 preview costs microseconds.
 */
import type { RgbImage } from '../../images/rgb.js';
import type { LatentRgbProjection } from '../latent-rgb.js';

export function previewFromLatents(x0: Float32Array, channels: number, h: number, w: number, projection: LatentRgbProjection | null): RgbImage {
  const plane = h * w;
  const data = new Uint8Array(plane * 3);
  if (projection) {
    const [b0, b1, b2] = projection.bias;
    for (let p = 0; p < plane; p++) {
      let r = b0;
      let g = b1;
      let b = b2;
      for (let c = 0; c < channels; c++) {
        const v = x0[c * plane + p]!;
        const f = projection.factors[c]!;
        r += v * f[0]!;
        g += v * f[1]!;
        b += v * f[2]!;
      }
      data[p * 3] = toByte(r);
      data[p * 3 + 1] = toByte(g);
      data[p * 3 + 2] = toByte(b);
    }
    return { width: w, height: h, data };
  }
  for (let k = 0; k < Math.min(3, channels); k++) {
    let lo = Infinity;
    let hi = -Infinity;
    for (let p = 0; p < plane; p++) {
      const v = x0[k * plane + p]!;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    const span = hi - lo || 1;
    for (let p = 0; p < plane; p++) data[p * 3 + k] = Math.round(((x0[k * plane + p]! - lo) / span) * 255);
  }
  return { width: w, height: h, data };
}

function toByte(v: number): number {
  return Math.round(Math.min(1, Math.max(0, (v + 1) / 2)) * 255);
}
