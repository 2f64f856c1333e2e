/**
 * Step previews: a cheap linear projection of the predicted clean (normalized) latent to RGB at latent
 * resolution (a few microseconds), instead of a VAE decode per step. The factors come from the
 * model's manifest (`preview.latent_rgb_factors`, fitted by the zoo builder against its VAE);
 * without them the first three latent channels are shown, normalized, which is rough but honest.
 */
import type { RgbImage } from '../../images/rgb.js';

export interface LatentRgbProjection {
  /** channels x 3 */
  factors: number[][];
  bias: [number, number, number];
}

export function previewFromLatents(latents: Float32Array, channels: number, h: number, w: number, projection: LatentRgbProjection | null): RgbImage {
  const plane = h * w;
  const data = new Uint8Array(plane * 3);
  if (projection) {
    for (let i = 0; i < plane; i++) {
      for (let k = 0; k < 3; k++) {
        let v = projection.bias[k]!;
        for (let c = 0; c < channels; c++) v += latents[c * plane + i]! * projection.factors[c]![k]!;
        data[i * 3 + k] = Math.round(Math.min(1, Math.max(0, (v + 1) / 2)) * 255);
      }
    }
    return { width: w, height: h, data };
  }
  for (let k = 0; k < 3; k++) {
    const channel = latents.subarray(k * plane, (k + 1) * plane);
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of channel) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    const span = hi - lo || 1;
    for (let i = 0; i < plane; i++) data[i * 3 + k] = Math.round(((channel[i]! - lo) / span) * 255);
  }
  return { width: w, height: h, data };
}
