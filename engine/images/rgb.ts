/** The engine's in-memory image: 8-bit RGB, interleaved, row-major. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

export function rgbImage(width: number, height: number, data?: Uint8Array): RgbImage {
  const size = width * height * 3;
  if (data && data.length !== size) throw new Error(`RGB image ${width}x${height} needs ${size} bytes, got ${data.length}`);
  return { width, height, data: data ?? new Uint8Array(size) };
}

/** Planar float image in [-1, 1] (C, H, W) -> RGB bytes, the standard (x + 1) / 2 * 255 rounding. */
export function rgbFromPlanar(planar: Float32Array, width: number, height: number): RgbImage {
  const plane = width * height;
  const out = new Uint8Array(plane * 3);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) {
      const v = (planar[c * plane + i]! + 1) / 2;
      out[i * 3 + c] = Math.round(Math.min(1, Math.max(0, v)) * 255);
    }
  }
  return { width, height, data: out };
}

/** RGB bytes -> planar float (1, 3, H, W) in [-1, 1]. */
export function planarFromRgb(image: RgbImage): Float32Array {
  const plane = image.width * image.height;
  const out = new Float32Array(plane * 3);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) out[c * plane + i] = (image.data[i * 3 + c]! / 255) * 2 - 1;
  }
  return out;
}
