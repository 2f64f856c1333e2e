/**
 * Schemas of the payloads the main process accepts over IPC from the preload script. Engine RPC
 * does not pass here (it goes over a MessagePort and the engine validates it); these are the few
 * native services the renderer may ask for.
 */
import { z } from 'zod';

/** Dialog-opened and saved images are capped: larger files are refused with a clear message. */
export const MAX_DIALOG_FILE_BYTES = 256 * 1024 * 1024;

export const SaveImageArgs = z.tuple([
  z
    .string()
    .min(1)
    .max(255)
    .regex(/^[^/\\\0]+$/, 'a file name without folders'),
  z
    .custom<Uint8Array>((v) => v instanceof Uint8Array, { message: 'expected image bytes' })
    .refine((b) => b.byteLength > 0 && b.byteLength <= MAX_DIALOG_FILE_BYTES, `between 1 byte and ${MAX_DIALOG_FILE_BYTES} bytes`),
]);

export const NoArgs = z.tuple([]);
