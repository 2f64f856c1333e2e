/**
 * The size an edit or image-to-image job works at: the model's own size for fixed-size models
 * (the tiny zoo ones, trained at one resolution), else the source's aspect ratio at about the
 * model's default pixel count, both sides multiples of 16 (FLUX packs 2x2 latents of an 8x VAE;
 * SD needs multiples of 8).
 */
import type { ModelInfo } from '../protocol/index.js';

export const SIZE_MULTIPLE = 16;

export function workingSize(source: { width: number; height: number }, model: Pick<ModelInfo, 'defaults' | 'fixedSize'>): { width: number; height: number } {
  const { width: dw, height: dh } = model.defaults;
  if (model.fixedSize) return { width: dw, height: dh };
  const area = dw * dh;
  const aspect = source.width / source.height;
  const snap = (v: number) => Math.max(SIZE_MULTIPLE, Math.round(v / SIZE_MULTIPLE) * SIZE_MULTIPLE);
  return { width: snap(Math.sqrt(area * aspect)), height: snap(Math.sqrt(area / aspect)) };
}
