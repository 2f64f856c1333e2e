/**
 * A watermark key's bits: 48 bits written as 12 hex digits, most significant bit first (bit 0 is
 * the most significant bit of the first digit), as the zoo's files and the extractor's outputs
 * order them; random keys from the operating system's CSPRNG; and counting matching bits.
 */
import { randomBytes } from 'node:crypto';

export const KEY_BITS = 48;
const HEX_DIGITS = KEY_BITS / 4;
const HEX = /^[0-9a-f]+$/;

/** 0/1 per bit, bit 0 first. */
export type Bits = Uint8Array;

export function bitsFromHex(hex: string, n = KEY_BITS): Bits {
  const digits = hex.trim().toLowerCase();
  if (digits.length * 4 !== n || !HEX.test(digits)) throw new Error(`"${hex}" is not ${n / 4} hex digits (${n} bits)`);
  const bits = new Uint8Array(n);
  for (let d = 0; d < digits.length; d++) {
    const v = parseInt(digits[d]!, 16);
    for (let b = 0; b < 4; b++) bits[d * 4 + b] = (v >> (3 - b)) & 1;
  }
  return bits;
}

export function hexFromBits(bits: Bits): string {
  if (bits.length % 4 !== 0) throw new Error(`${bits.length} bits do not make whole hex digits`);
  let out = '';
  for (let d = 0; d < bits.length / 4; d++) {
    let v = 0;
    for (let b = 0; b < 4; b++) v = (v << 1) | (bits[d * 4 + b]! & 1);
    out += v.toString(16);
  }
  return out;
}

/** A fresh random key (48 bits from crypto.randomBytes). */
export function randomKeyHex(): string {
  return randomBytes(KEY_BITS / 8).toString('hex').slice(0, HEX_DIGITS);
}

/** Bit i = 1 where logit i > 0 (the extractor's decision rule). */
export function bitsFromLogits(logits: ArrayLike<number>): Bits {
  return Uint8Array.from(Array.from(logits, (v) => (v > 0 ? 1 : 0)));
}

/** How many positions agree. */
export function matchingBits(a: Bits, b: Bits): number {
  if (a.length !== b.length) throw new Error(`cannot compare ${a.length} bits with ${b.length}`);
  let k = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) k++;
  return k;
}
