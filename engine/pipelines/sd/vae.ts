/**
 * The Stable Diffusion VAE at the pipeline's edges: images in [-1, 1] planar to latents scaled by
 * the VAE's scaling factor (encoder output: the mean of latent_parameters, or the latent of an
 * encoder that samples in-graph, prepared to return its mean), and back.
 */
import { planarFromRgb, rgbFromPlanar, type RgbImage } from '../../images/rgb.js';
import type { ModelSession } from '../../runtime/session.js';
import { float32Of, outputOf, tensorFor } from '../../runtime/tensors.js';
import type { SdSpec } from './spec.js';

/** Scaled latents (C, h, w) of an image whose sides are multiples of the VAE factor. */
export async function encodeImage(session: ModelSession, spec: SdSpec, image: RgbImage): Promise<Float32Array> {
  const io = spec.vaeEncoder!;
  const out = await session.run({ [io.input]: tensorFor(session.input(io.input), planarFromRgb(image), [1, 3, image.height, image.width]) });
  const raw = float32Of(outputOf(out, io.output, session.file), io.output);
  const n = spec.channels * (image.height / spec.vaeScaleFactor) * (image.width / spec.vaeScaleFactor);
  const { scalingFactor, shiftFactor } = spec.vae;
  const z = new Float32Array(n);
  for (let i = 0; i < n; i++) z[i] = (raw[i]! - shiftFactor) * scalingFactor; // the mean comes first in latent_parameters
  return z;
}

export async function decodeLatents(session: ModelSession, spec: SdSpec, latents: Float32Array, h: number, w: number): Promise<RgbImage> {
  const { input, output } = spec.vaeDecoder;
  const { scalingFactor, shiftFactor } = spec.vae;
  const z = new Float32Array(latents.length);
  for (let i = 0; i < z.length; i++) z[i] = latents[i]! / scalingFactor + shiftFactor;
  const out = await session.run({ [input]: tensorFor(session.input(input), z, [1, spec.channels, h, w]) });
  return rgbFromPlanar(float32Of(outputOf(out, output, session.file), output), w * spec.vaeScaleFactor, h * spec.vaeScaleFactor);
}
