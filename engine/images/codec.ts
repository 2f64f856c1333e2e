/**
 * Image decoding and encoding through sharp, hardened for untrusted files: the header is read
 * first and images over the pixel limit (decompression bombs) are refused before any decoding;
 * alpha is flattened onto white, grayscale and CMYK are converted to sRGB, animations use their
 * first frame. Every refusal names the file and what is wrong with it.
 */
import sharp, { type Metadata, type Sharp } from 'sharp';
import { EngineError, messageOf } from '../errors.js';
import { addPngText, type PngTextChunk } from './png-text.js';
import type { RgbImage } from './rgb.js';

/** 8192 x 8192: far above any model's input, far below what exhausts memory. */
export const DEFAULT_MAX_PIXELS = 8192 * 8192;

export interface DecodeOptions {
  /** The name to use in errors (a file name or "dropped image"). */
  name: string;
  maxPixels?: number;
}

export interface ImageInfo {
  format: string;
  width: number;
  height: number;
  pages: number;
  channels: number;
  space: string;
}

/** Reads only the header: format, size, frames. Throws a clear error for a non-image. */
export async function probeImage(bytes: Uint8Array, options: DecodeOptions): Promise<ImageInfo> {
  if (bytes.length === 0) throw new EngineError('bad_input', `${options.name}: the file is empty`);
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (error) {
    throw new EngineError('bad_input', `${options.name}: not an image that can be read (${messageOf(error)})`);
  }
  if (!meta.format || !meta.width || !meta.height) {
    throw new EngineError('bad_input', `${options.name}: not an image that can be read (no size in its header)`);
  }
  const pageHeight = meta.pageHeight ?? meta.height;
  return {
    format: meta.format,
    width: meta.width,
    height: meta.pages && meta.pages > 1 ? pageHeight : meta.height,
    pages: meta.pages ?? 1,
    channels: meta.channels ?? 3,
    space: meta.space ?? 'srgb',
  };
}

/** Decodes any supported image to RGB bytes, refusing oversized ones before decoding. */
export async function decodeImage(bytes: Uint8Array, options: DecodeOptions): Promise<RgbImage> {
  const info = await probeImage(bytes, options);
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (info.width * info.height > maxPixels) {
    throw new EngineError(
      'bad_input',
      `${options.name}: ${info.width}x${info.height} is larger than the ${maxPixels.toLocaleString('en-US')}-pixel limit; refused before decoding`,
    );
  }
  try {
    const { data, info: out } = await sharp(bytes, { limitInputPixels: maxPixels, pages: 1, failOn: 'error' })
      .toColourspace('srgb')
      .flatten({ background: { r: 255, g: 255, b: 255 } })
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (out.channels !== 3) throw new Error(`decoded to ${out.channels} channels`);
    return { width: out.width, height: out.height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  } catch (error) {
    throw new EngineError('bad_input', `${options.name}: the image data is corrupt or unsupported (${messageOf(error)})`);
  }
}

function fromRgb(image: RgbImage): Sharp {
  return sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } });
}

/**
 * Resizes to exactly width x height: 'cover' crops to keep the aspect, 'fill' stretches.
 * `kernel` 'linear' is the bilinear (area-averaging when shrinking) resize the watermark verifier uses.
 */
export async function resizeImage(
  image: RgbImage,
  width: number,
  height: number,
  fit: 'cover' | 'fill' = 'cover',
  kernel: 'lanczos3' | 'linear' = 'lanczos3',
): Promise<RgbImage> {
  if (image.width === width && image.height === height) return image;
  const { data } = await fromRgb(image)
    .resize(width, height, { fit, kernel })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { width, height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

export async function encodePng(image: RgbImage, texts: PngTextChunk[] = []): Promise<Uint8Array> {
  const png = await fromRgb(image).png({ compressionLevel: 6 }).toBuffer();
  return texts.length > 0 ? addPngText(png, texts) : new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
}

export async function encodeJpeg(image: RgbImage, quality = 85): Promise<Uint8Array> {
  const jpeg = await fromRgb(image).jpeg({ quality }).toBuffer();
  return new Uint8Array(jpeg.buffer, jpeg.byteOffset, jpeg.byteLength);
}
