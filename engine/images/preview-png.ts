/**
 * A synchronous PNG encoder for step previews: 8-bit RGB, no row filters, zlib at level 1. For
 * the small images previews are (latent resolution), this takes a fraction of a millisecond,
 * where a round trip through sharp's thread pool costs about a millisecond per step. Outputs
 * (full-size images) still go through sharp (codec.ts).
 */
import { deflateSync } from 'node:zlib';
import { PNG_SIGNATURE, pngChunk } from './png-text.js';
import type { RgbImage } from './rgb.js';

export function encodePreviewPng(image: RgbImage): Uint8Array {
  const { width, height, data } = image;
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // truecolor RGB
  const stride = width * 3;
  const raw = Buffer.alloc((stride + 1) * height);
  for (let y = 0; y < height; y++) raw.set(data.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  return Buffer.concat([PNG_SIGNATURE, pngChunk('IHDR', header), pngChunk('IDAT', deflateSync(raw, { level: 1 })), pngChunk('IEND', new Uint8Array())]);
}
