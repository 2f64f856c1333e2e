/**
 * Turns a file from the picker, a drop, a paste or the Electron open dialog into an image the
 * editor can use, or into a clear message naming the file and what is wrong with it. The
 * original bytes are kept as is: they are what an Edit job sends to the engine.
 */
import { MAX_MESSAGE_BYTES } from '../engine/protocol.js';
import { decodeImageSize, sniffImageMime } from './images.js';

export interface LoadedImage {
  name: string;
  mime: string;
  bytes: Uint8Array;
  width: number;
  height: number;
}

export type LoadResult = { ok: true; image: LoadedImage } | { ok: false; message: string };

/** Room left in an engine message for the rest of an Edit job's params. */
const MAX_IMAGE_BYTES = MAX_MESSAGE_BYTES - 64 * 1024;

function megabytes(n: number): string {
  return `${(n / (1024 * 1024)).toFixed(1)} MB`;
}

/** Loads and checks image bytes named `name` with the MIME type the source reported ('' if none). */
export async function loadImageBytes(name: string, bytes: Uint8Array, reportedMime: string): Promise<LoadResult> {
  const sniffed = sniffImageMime(bytes);
  const mime = sniffed ?? reportedMime;
  if (bytes.byteLength === 0) return { ok: false, message: `${name} is not an image: the file is empty` };
  if (bytes.byteLength > MAX_IMAGE_BYTES) {
    return { ok: false, message: `${name} is too large to edit: ${megabytes(bytes.byteLength)} (at most ${megabytes(MAX_IMAGE_BYTES)})` };
  }
  try {
    const size = await decodeImageSize(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: mime }));
    return { ok: true, image: { name, mime: mime || 'application/octet-stream', bytes, ...size } };
  } catch {
    const kind = mime ? ` (${mime})` : '';
    if (mime.startsWith('image/')) {
      return { ok: false, message: `${name} cannot be opened: this browser cannot decode the image${kind}; try PNG or JPEG` };
    }
    return { ok: false, message: `${name} is not an image: the browser cannot decode it${kind}` };
  }
}

export async function loadImageFile(file: File): Promise<LoadResult> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await file.arrayBuffer());
  } catch (error) {
    return { ok: false, message: `${file.name} could not be read: ${error instanceof Error ? error.message : String(error)}` };
  }
  return loadImageBytes(file.name || 'pasted image', bytes, file.type);
}

/** The files a drag or paste carries, or an empty list. */
export function filesOf(data: DataTransfer | null): File[] {
  if (!data) return [];
  if (data.files && data.files.length > 0) return Array.from(data.files);
  const files: File[] = [];
  for (const item of Array.from(data.items ?? [])) {
    if (item.kind !== 'file') continue;
    const file = item.getAsFile();
    if (file) files.push(file);
  }
  return files;
}

/** Whether a drag carries files (its types list 'Files'). */
export function dragHasFiles(data: DataTransfer | null): boolean {
  if (!data) return false;
  return Array.from(data.types ?? []).includes('Files');
}
