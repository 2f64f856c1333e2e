/**
 * Image helpers: object URLs for encoded bytes (every URL made here must be revoked by its
 * owner, or released when shared), MIME sniffing for bytes that come without a type, and a decode check that tells an
 * image the browser can show from anything else.
 */

/** An object URL for encoded image bytes; revoke it with `URL.revokeObjectURL` when done. */
export function imageUrl(bytes: Uint8Array, mime: string): string {
  return URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: mime }));
}

export function revokeUrl(url: string | null): void {
  if (url) URL.revokeObjectURL(url);
}

/** Shared URLs by their bytes (one Blob per source image, however many outputs show it as "before"). */
const sharedByBytes = new WeakMap<Uint8Array, string>();
const sharedRefs = new Map<string, { bytes: Uint8Array; refs: number }>();

/**
 * An object URL for `bytes` shared by every holder of the same bytes (the open image, shown as the
 * "before" of each of its edits: one copy, not one per output). Give each back with `releaseUrl`;
 * the last release revokes it.
 */
export function retainUrl(bytes: Uint8Array, mime: string): string {
  let url = sharedByBytes.get(bytes);
  const entry = url === undefined ? undefined : sharedRefs.get(url);
  if (url === undefined || entry === undefined) {
    url = imageUrl(bytes, mime);
    sharedByBytes.set(bytes, url);
    sharedRefs.set(url, { bytes, refs: 1 });
    return url;
  }
  entry.refs++;
  return url;
}

/** Gives back a URL from `retainUrl` (revoked when nobody holds it any more). */
export function releaseUrl(url: string | null): void {
  if (!url) return;
  const entry = sharedRefs.get(url);
  if (!entry) return;
  if (--entry.refs > 0) return;
  sharedRefs.delete(url);
  sharedByBytes.delete(entry.bytes);
  URL.revokeObjectURL(url);
}

function startsWith(bytes: Uint8Array, signature: readonly number[], offset = 0): boolean {
  return signature.every((b, i) => bytes[offset + i] === b);
}

/** The MIME type of common image formats from their first bytes, or null. */
export function sniffImageMime(bytes: Uint8Array): string | null {
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'image/png';
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return 'image/jpeg';
  if (startsWith(bytes, [0x47, 0x49, 0x46, 0x38])) return 'image/gif';
  if (startsWith(bytes, [0x52, 0x49, 0x46, 0x46]) && startsWith(bytes, [0x57, 0x45, 0x42, 0x50], 8)) return 'image/webp';
  if (startsWith(bytes, [0x42, 0x4d])) return 'image/bmp';
  if (startsWith(bytes, [0x66, 0x74, 0x79, 0x70, 0x61, 0x76, 0x69, 0x66], 4)) return 'image/avif';
  return null;
}

export interface ImageSize {
  width: number;
  height: number;
}

/** Decodes with createImageBitmap where it exists, else with an <img>; rejects when undecodable. */
export async function decodeImageSize(blob: Blob): Promise<ImageSize> {
  if (typeof createImageBitmap === 'function') {
    const bitmap = await createImageBitmap(blob);
    const size = { width: bitmap.width, height: bitmap.height };
    bitmap.close();
    return size;
  }
  const url = URL.createObjectURL(blob);
  try {
    const img = new Image();
    img.src = url;
    await img.decode();
    return { width: img.naturalWidth, height: img.naturalHeight };
  } finally {
    URL.revokeObjectURL(url);
  }
}
