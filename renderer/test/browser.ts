/**
 * What jsdom lacks for the renderer: an image decoder. `createImageBitmap` here reads a PNG's
 * size from its IHDR chunk and rejects anything else, like a browser that cannot decode a text
 * file. (Object URLs come from Node's real URL.createObjectURL.)
 */
import { vi } from 'vitest';

function pngSize(bytes: Uint8Array): { width: number; height: number } | null {
  const signature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (bytes.length < 24 || !signature.every((b, i) => bytes[i] === b)) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

export function installImageDecoder(): void {
  vi.stubGlobal('createImageBitmap', async (blob: Blob) => {
    const size = pngSize(new Uint8Array(await blob.arrayBuffer()));
    if (!size) throw new DOMException('The source image could not be decoded.', 'InvalidStateError');
    return { ...size, close: () => undefined };
  });
}
