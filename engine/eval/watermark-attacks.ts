/**
 * The robustness attacks of the watermark evaluation, applied with sharp to the decoded uint8 PNG
 * (docs/zoo-contract.md, watermark section): JPEG quality 50; resize to half the side (Lanczos) and leave it at
 * 32x32 for the verifier to resize back; crop 10% of the area (a window of side sqrt(0.9) x 64 at a
 * seeded random position); Gaussian blur with sigma 1. Each returns encoded bytes, which go through
 * the verifier's own decode-and-resize path.
 */
import sharp from 'sharp';

export const ATTACKS = ['jpeg50', 'resize05', 'crop10', 'blur'] as const;
export type Attack = (typeof ATTACKS)[number];

function bytes(buffer: Buffer): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

export async function attack(png: Uint8Array, kind: Attack, random: () => number): Promise<Uint8Array> {
  const image = sharp(png);
  const { width = 64, height = 64 } = await image.metadata();
  switch (kind) {
    case 'jpeg50':
      return bytes(await image.jpeg({ quality: 50 }).toBuffer());
    case 'resize05':
      return bytes(await image.resize(Math.round(width / 2), Math.round(height / 2), { fit: 'fill', kernel: 'lanczos3' }).png().toBuffer());
    case 'crop10': {
      const w = Math.round(Math.sqrt(0.9) * width);
      const h = Math.round(Math.sqrt(0.9) * height);
      const left = Math.floor(random() * (width - w + 1));
      const top = Math.floor(random() * (height - h + 1));
      return bytes(await image.extract({ left, top, width: w, height: h }).png().toBuffer());
    }
    case 'blur':
      return bytes(await image.blur(1.0).png().toBuffer());
  }
}
