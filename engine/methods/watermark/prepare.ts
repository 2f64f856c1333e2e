/**
 * An image file made ready for the extractor: decoded by the engine's hardened decoder
 * (engine/images/codec.ts: size limit before decoding, alpha flattened onto white, grayscale and
 * CMYK converted to sRGB, the first frame of an animation), then resized to the extractor's input
 * with a bilinear (area-averaging when shrinking) resize. What the conversion may have cost the
 * watermark is said in notes (grayscale, transparency, CMYK, animation); files that cannot carry
 * a readable watermark at all (too small, corrupt, not an image) are refused with a reason.
 */
import sharp from 'sharp';
import { EngineError, messageOf } from '../../errors.js';
import { decodeImage, probeImage, resizeImage, type ImageInfo } from '../../images/codec.js';
import type { RgbImage } from '../../images/rgb.js';

/** Half the extractor's side: smaller images hold too few pixels to carry the bits. */
export function minimumSide(extractorSide: number): number {
  return Math.ceil(extractorSide / 2);
}

export interface PreparedImage {
  image: RgbImage;
  info: ImageInfo;
  notes: string[];
}

async function hasTransparency(bytes: Uint8Array): Promise<boolean> {
  try {
    return !(await sharp(bytes, { pages: 1 }).stats()).isOpaque;
  } catch {
    return true; // cannot tell: say the alpha was flattened
  }
}

export async function prepareForExtractor(bytes: Uint8Array, name: string, width: number, height: number): Promise<PreparedImage> {
  const info = await probeImage(bytes, { name });
  const min = minimumSide(Math.min(width, height));
  if (info.width < min || info.height < min) {
    throw new EngineError('bad_input', `${name}: ${info.width}x${info.height} is too small to carry a readable watermark (at least ${min}x${min} pixels; the extractor reads ${width}x${height})`);
  }
  const notes: string[] = [];
  if (info.pages > 1) notes.push(`animated (${info.pages} frames): the first frame was checked`);
  if (info.space === 'b-w' || info.space === 'grey16' || info.channels <= 2) {
    notes.push('grayscale: the colours the watermark partly lives in are gone, so a miss here does not show the image was never watermarked');
  }
  if (info.space === 'cmyk') notes.push('CMYK: converted to RGB; the colour conversion may weaken the watermark');
  if (info.channels === 2 || info.channels === 4) {
    if (await hasTransparency(bytes)) notes.push('transparent areas: flattened onto white, where the watermark cannot survive');
  }
  let decoded: RgbImage;
  try {
    decoded = await decodeImage(bytes, { name });
  } catch (error) {
    if (error instanceof EngineError) throw error;
    throw new EngineError('bad_input', `${name}: cannot decode (${messageOf(error)})`);
  }
  if (decoded.width !== width || decoded.height !== height) notes.push(`resized from ${decoded.width}x${decoded.height} to ${width}x${height}`);
  return { image: await resizeImage(decoded, width, height, 'fill', 'linear'), info, notes };
}
