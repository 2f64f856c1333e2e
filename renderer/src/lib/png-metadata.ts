/**
 * Reading back the settings Atelier writes into its PNGs: an iTXt chunk with the keyword
 * "atelier" holding the job metadata as JSON (engine/images/job-metadata.ts). The chunks are
 * walked over a DataView; nothing is decoded. Anything else (another tool's PNG, a damaged
 * chunk, JSON that is not job metadata) reads as "no settings".
 */
import type { JobKind, JobMetadata } from '../engine/protocol.js';

export const METADATA_KEYWORD = 'atelier';

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] as const;
const KINDS: readonly JobKind[] = ['generate', 'edit', 'img2img'];

/** What reopening a PNG can restore: the settings that made it, and the model's name. */
export type PngSettings = Pick<
  JobMetadata,
  'kind' | 'model' | 'text' | 'seed' | 'steps' | 'guidance' | 'width' | 'height' | 'scheduler' | 'negativePrompt' | 'strength'
>;

/** The text chunks of a PNG (tEXt, and iTXt that is not compressed), keyword -> text. */
export function readPngText(bytes: Uint8Array): Map<string, string> {
  const out = new Map<string, string>();
  if (bytes.length < 8 || !SIGNATURE.every((b, i) => bytes[i] === b)) return out;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const latin1 = new TextDecoder('latin1');
  const utf8 = new TextDecoder('utf-8');
  for (let offset = 8; offset + 12 <= bytes.length; ) {
    const length = view.getUint32(offset);
    const type = latin1.decode(bytes.subarray(offset + 4, offset + 8));
    const start = offset + 8;
    const end = start + length;
    if (end + 4 > bytes.length || type === 'IEND') break;
    if (type === 'tEXt' || type === 'iTXt') {
      const data = bytes.subarray(start, end);
      const zero = data.indexOf(0);
      if (zero > 0) {
        const keyword = latin1.decode(data.subarray(0, zero));
        if (type === 'tEXt') out.set(keyword, latin1.decode(data.subarray(zero + 1)));
        else if (data[zero + 1] === 0) {
          // compression flag, method, language tag \0, translated keyword \0, UTF-8 text
          const language = data.indexOf(0, zero + 3);
          const translated = language < 0 ? -1 : data.indexOf(0, language + 1);
          if (translated >= 0) out.set(keyword, utf8.decode(data.subarray(translated + 1)));
        }
      }
    }
    offset = end + 4; // past the CRC
  }
  return out;
}

const isInt = (v: unknown): v is number => Number.isSafeInteger(v);
const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** The settings in an Atelier PNG, or null when it has none (or they do not parse). */
export function readPngSettings(bytes: Uint8Array): PngSettings | null {
  const raw = readPngText(bytes).get(METADATA_KEYWORD);
  if (!raw) return null;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const m = value as Record<string, unknown>;
  const kind = KINDS.find((k) => k === m.kind);
  if (!kind || typeof m.text !== 'string' || typeof m.model !== 'string') return null;
  if (!isInt(m.seed) || m.seed < 0 || !isInt(m.steps) || m.steps < 1 || !isNumber(m.guidance)) return null;
  if (!isInt(m.width) || m.width < 1 || !isInt(m.height) || m.height < 1) return null;
  if (m.scheduler !== undefined && typeof m.scheduler !== 'string') return null;
  if (m.negativePrompt !== undefined && typeof m.negativePrompt !== 'string') return null;
  if (m.strength !== undefined && !isNumber(m.strength)) return null;
  return {
    kind,
    model: m.model,
    text: m.text,
    seed: m.seed,
    steps: m.steps,
    guidance: m.guidance,
    width: m.width,
    height: m.height,
    ...(m.scheduler !== undefined ? { scheduler: m.scheduler } : {}),
    ...(m.negativePrompt !== undefined ? { negativePrompt: m.negativePrompt } : {}),
    ...(m.strength !== undefined ? { strength: m.strength } : {}),
  };
}
