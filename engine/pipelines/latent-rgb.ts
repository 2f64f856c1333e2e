/**
 * Published linear latent -> RGB projections for step previews (rows: latent channels; columns:
 * R, G, B; applied to the latents the denoiser works on, i.e. after the VAE scaling, and mapped
 * from [-1, 1] to [0, 255]). Source: ComfyUI `comfy/latent_formats.py` (comfyanonymous/ComfyUI,
 * commit 040a3243), classes SD15 (also used for SD 2.x, which shares SD 1.5's VAE), SDXL and Flux;
 * ComfyUI's previewer applies them the same way (`latent_preview.py`: linear map of x0, then
 * (x + 1) / 2 clamped).
 */
import type { LatentRgbProjection } from './flux/preview.js';

export type { LatentRgbProjection };

/** Stable Diffusion 1.x / 2.x (the SD 1.5 VAE, 4 channels, latents scaled by 0.18215). */
export const SD15_LATENT_RGB: LatentRgbProjection = {
  factors: [
    [0.3512, 0.2297, 0.3227],
    [0.325, 0.4974, 0.235],
    [-0.2829, 0.1762, 0.2721],
    [-0.212, -0.2616, -0.7177],
  ],
  bias: [0, 0, 0],
};

/** SDXL (its own VAE, 4 channels, latents scaled by 0.13025). */
export const SDXL_LATENT_RGB: LatentRgbProjection = {
  factors: [
    [0.3651, 0.4232, 0.4341],
    [-0.2533, -0.0042, 0.1068],
    [0.1076, 0.1111, -0.0362],
    [-0.3165, -0.2492, -0.2188],
  ],
  bias: [0.1084, -0.0175, -0.0011],
};

/** FLUX.1 (16 channels, latents normalized as (z - 0.1159) * 0.3611). */
export const FLUX_LATENT_RGB: LatentRgbProjection = {
  factors: [
    [-0.0346, 0.0244, 0.0681],
    [0.0034, 0.021, 0.0687],
    [0.0275, -0.0668, -0.0433],
    [-0.0174, 0.016, 0.0617],
    [0.0859, 0.0721, 0.0329],
    [0.0004, 0.0383, 0.0115],
    [0.0405, 0.0861, 0.0915],
    [-0.0236, -0.0185, -0.0259],
    [-0.0245, 0.025, 0.118],
    [0.1008, 0.0755, -0.0421],
    [-0.0515, 0.0201, 0.0011],
    [0.0428, -0.0012, -0.0036],
    [0.0817, 0.0765, 0.0749],
    [-0.1264, -0.0522, -0.1103],
    [-0.028, -0.0881, -0.0499],
    [-0.1262, -0.0982, -0.0778],
  ],
  bias: [-0.0329, -0.0718, -0.0851],
};
