/**
 * Portable Gaussian noise: Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as
 * 1, 2, 3", SC 2011; the generator behind JAX and torch's CUDA RNG) with Box-Muller. The same
 * seed draws the same latents here and in the zoo builder's Python (docs/zoo-contract.md), which
 * lets the TypeScript evaluation reproduce the builder's figures; and being counter-based, value
 * i can be computed without computing the ones before it.
 */

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

/** High 32 bits of the 64-bit product of two uint32. */
function mulhi(a: number, b: number): number {
  const aLo = a & 0xffff;
  const aHi = a >>> 16;
  const bLo = b & 0xffff;
  const bHi = b >>> 16;
  const loLo = aLo * bLo;
  const hiLo = aHi * bLo;
  const loHi = aLo * bHi;
  const cross = Math.floor(loLo / 65536) + (hiLo % 65536) + loHi;
  return (aHi * bHi + Math.floor(hiLo / 65536) + Math.floor(cross / 65536)) >>> 0;
}

/** One Philox4x32-10 block: four uint32 words for counter (c0..c3) and key (k0, k1). */
export function philox4x32(counter: readonly [number, number, number, number], key: readonly [number, number]): [number, number, number, number] {
  let [c0, c1, c2, c3] = counter;
  let [k0, k1] = key;
  for (let round = 0; round < 10; round++) {
    if (round > 0) {
      k0 = (k0 + W0) >>> 0;
      k1 = (k1 + W1) >>> 0;
    }
    const hi0 = mulhi(M0, c0);
    const lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi(M1, c2);
    const lo1 = Math.imul(M1, c2) >>> 0;
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c3 = lo0;
  }
  return [c0, c1, c2, c3];
}

function uniform(word: number): number {
  return ((word >>> 8) + 0.5) / 16777216;
}

/** The key for a seed in [0, 2^53): its low and high 32-bit halves. */
export function seedKey(seed: number): [number, number] {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`seed must be an integer in [0, 2^53), got ${seed}`);
  return [seed % 4294967296 >>> 0, Math.floor(seed / 4294967296) >>> 0];
}

/** `count` standard-normal float32 values for `seed`, in order. */
export function gaussianNoise(seed: number, count: number): Float32Array {
  const key = seedKey(seed);
  const out = new Float32Array(count);
  const twoPi = 2 * Math.PI;
  for (let block = 0, i = 0; i < count; block++) {
    const words = philox4x32([block >>> 0, Math.floor(block / 4294967296) >>> 0, 0, 0], key);
    for (let pair = 0; pair < 2; pair++) {
      const r = Math.sqrt(-2 * Math.log(uniform(words[pair * 2]!)));
      const theta = twoPi * uniform(words[pair * 2 + 1]!);
      if (i < count) out[i++] = r * Math.cos(theta);
      if (i < count) out[i++] = r * Math.sin(theta);
    }
  }
  return out;
}
