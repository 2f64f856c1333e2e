/** Seeds and the number rules the settings fields share. */

/** A random seed in the engine's default range [0, 2^32). */
export function randomSeed(): number {
  const buffer = new Uint32Array(1);
  crypto.getRandomValues(buffer);
  return buffer[0] ?? 0;
}

export function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}

/** Rounds an image side to the nearest multiple of 16 within the engine's limits. */
export function snapSide(value: number): number {
  return clamp(Math.round(value / 16) * 16, 16, 4096);
}
