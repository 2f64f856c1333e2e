/**
 * FLUX's latent packing: (C, h, w) latents become (h/2 * w/2) tokens of 4C features (2x2
 * patches, feature index c*4 + dy*2 + dx, as diffusers' _pack_latents), and position ids
 * [kind, row, col] per token, where kind 0 marks the image being made and 1 a Kontext context
 * image.
 */

export function packLatents(latents: Float32Array, channels: number, h: number, w: number): Float32Array {
  const h2 = h / 2;
  const w2 = w / 2;
  const out = new Float32Array(latents.length);
  let o = 0;
  for (let r = 0; r < h2; r++) {
    for (let c = 0; c < w2; c++) {
      for (let ch = 0; ch < channels; ch++) {
        for (let dy = 0; dy < 2; dy++) {
          for (let dx = 0; dx < 2; dx++) out[o++] = latents[ch * h * w + (r * 2 + dy) * w + c * 2 + dx]!;
        }
      }
    }
  }
  return out;
}

export function unpackLatents(tokens: Float32Array, channels: number, h: number, w: number): Float32Array {
  const h2 = h / 2;
  const w2 = w / 2;
  const out = new Float32Array(channels * h * w);
  let o = 0;
  for (let r = 0; r < h2; r++) {
    for (let c = 0; c < w2; c++) {
      for (let ch = 0; ch < channels; ch++) {
        for (let dy = 0; dy < 2; dy++) {
          for (let dx = 0; dx < 2; dx++) out[ch * h * w + (r * 2 + dy) * w + c * 2 + dx] = tokens[o++]!;
        }
      }
    }
  }
  return out;
}

/** Position ids (h/2 * w/2, 3) for a packed latent of h x w: [kind, row, col]. */
export function imageIds(h: number, w: number, kind: 0 | 1): Float32Array {
  const h2 = h / 2;
  const w2 = w / 2;
  const out = new Float32Array(h2 * w2 * 3);
  for (let r = 0; r < h2; r++) {
    for (let c = 0; c < w2; c++) {
      const i = (r * w2 + c) * 3;
      out[i] = kind;
      out[i + 1] = r;
      out[i + 2] = c;
    }
  }
  return out;
}
