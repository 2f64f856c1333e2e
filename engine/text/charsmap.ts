/**
 * SentencePiece's precompiled character map (the `precompiled_charsmap` of a model's normalizer spec,
 * also stored base64 in tokenizer.json's "Precompiled" normalizer): a Darts-clone double-array trie over
 * UTF-8 bytes whose values point into a blob of NUL-terminated replacement strings. Normalization takes
 * the longest rule matching at each position, else copies one UTF-8 character, exactly as
 * sentencepiece's Normalizer::NormalizePrefix does (google/sentencepiece src/normalizer.cc).
 */

export class PrecompiledCharsmap {
  private readonly units: Uint32Array;
  private readonly strings: Uint8Array;

  /** Throws a plain Error when the blob is malformed; callers name the file. */
  constructor(blob: Uint8Array) {
    if (blob.length <= 4) throw new Error('precompiled charsmap is too short');
    const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
    const trieSize = view.getUint32(0, true);
    if (4 + trieSize > blob.length || trieSize % 4 !== 0) throw new Error(`precompiled charsmap declares a ${trieSize}-byte trie in a ${blob.length}-byte blob`);
    this.units = new Uint32Array(trieSize / 4);
    for (let i = 0; i < this.units.length; i++) this.units[i] = view.getUint32(4 + i * 4, true);
    this.strings = blob.subarray(4 + trieSize);
  }

  /**
   * The longest rule that matches `bytes` at `pos`: how many input bytes it consumes and the
   * replacement bytes, or null when no rule matches.
   */
  longestMatch(bytes: Uint8Array, pos: number): { length: number; replacement: Uint8Array } | null {
    const units = this.units;
    if (units.length === 0) return null;
    let node = offsetOf(units[0]!);
    let bestLength = 0;
    let bestValue = -1;
    for (let i = pos; i < bytes.length; i++) {
      const label = bytes[i]!;
      node ^= label;
      const unit = units[node];
      if (unit === undefined || (unit & 0x800000ff) !== label) break;
      node ^= offsetOf(unit);
      if ((unit >>> 8) & 1) {
        const leaf = units[node];
        if (leaf === undefined) break;
        bestLength = i + 1 - pos;
        bestValue = leaf & 0x7fffffff;
      }
    }
    if (bestLength === 0) return null;
    let end = bestValue;
    while (end < this.strings.length && this.strings[end] !== 0) end++;
    return { length: bestLength, replacement: this.strings.subarray(bestValue, end) };
  }

  /** Applies the map to the whole text (the "Precompiled" normalizer step of a tokenizer.json). */
  normalize(text: string): string {
    const bytes = encoder.encode(text);
    const out = new ByteBuffer(bytes.length + 16);
    let pos = 0;
    while (pos < bytes.length) {
      const match = this.longestMatch(bytes, pos);
      if (match) {
        out.push(match.replacement);
        pos += match.length;
      } else {
        const length = utf8Length(bytes, pos);
        out.push(bytes.subarray(pos, pos + length));
        pos += length;
      }
    }
    return decoder.decode(out.view());
  }
}

function offsetOf(unit: number): number {
  return (unit >>> 10) << ((unit & (1 << 9)) >>> 6);
}

export const encoder = new TextEncoder();
export const decoder = new TextDecoder();

/** Byte length of the UTF-8 character starting at `pos` (1 for a stray continuation byte). */
export function utf8Length(bytes: Uint8Array, pos: number): number {
  const lead = bytes[pos]!;
  const length = lead < 0x80 ? 1 : lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  return Math.min(length, bytes.length - pos);
}

/** A growable byte array. */
export class ByteBuffer {
  private data: Uint8Array;
  length = 0;

  constructor(capacity: number) {
    this.data = new Uint8Array(Math.max(16, capacity));
  }

  push(bytes: Uint8Array): void {
    if (this.length + bytes.length > this.data.length) {
      const grown = new Uint8Array(Math.max(this.data.length * 2, this.length + bytes.length));
      grown.set(this.data.subarray(0, this.length));
      this.data = grown;
    }
    this.data.set(bytes, this.length);
    this.length += bytes.length;
  }

  pushByte(byte: number): void {
    if (this.length === this.data.length) {
      const grown = new Uint8Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    this.data[this.length++] = byte;
  }

  endsWith(bytes: Uint8Array): boolean {
    if (bytes.length > this.length) return false;
    for (let i = 0; i < bytes.length; i++) if (this.data[this.length - bytes.length + i] !== bytes[i]) return false;
    return true;
  }

  truncate(length: number): void {
    this.length = length;
  }

  view(): Uint8Array {
    return this.data.subarray(0, this.length);
  }
}
