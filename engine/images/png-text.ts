/**
 * PNG text chunks, which sharp cannot write: tEXt (Latin-1) and iTXt (UTF-8) chunks inserted
 * before the first IDAT, so sharp, PIL and AUTOMATIC1111-style readers see them; and reading them
 * back when a PNG is reopened.
 */
import { crc32 } from 'node:zlib';

const SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);

export interface PngTextChunk {
  keyword: string;
  text: string;
  /** iTXt (UTF-8) when true; tEXt (Latin-1 only) otherwise. */
  international?: boolean;
}

interface RawChunk {
  type: string;
  data: Uint8Array;
  /** Offset of the chunk's length field in the file. */
  offset: number;
  end: number;
}

function isPng(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && SIGNATURE.every((b, i) => bytes[i] === b);
}

function* chunks(bytes: Uint8Array): Generator<RawChunk> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 8;
  while (offset + 12 <= bytes.length) {
    const length = view.getUint32(offset);
    const end = offset + 12 + length;
    if (end > bytes.length) return;
    const type = String.fromCharCode(...bytes.subarray(offset + 4, offset + 8));
    yield { type, data: bytes.subarray(offset + 8, offset + 8 + length), offset, end };
    if (type === 'IEND') return;
    offset = end;
  }
}

function checkKeyword(keyword: string): void {
  if (!/^[\x20-\x7e\xa1-\xff]{1,79}$/.test(keyword) || keyword.startsWith(' ') || keyword.endsWith(' ')) {
    throw new Error(`PNG text keyword "${keyword}" must be 1-79 Latin-1 characters without leading or trailing spaces`);
  }
}

function encodeChunk(chunk: PngTextChunk): Uint8Array {
  checkKeyword(chunk.keyword);
  const keyword = Buffer.from(chunk.keyword, 'latin1');
  let body: Buffer;
  if (chunk.international) {
    // keyword \0, compression flag 0, method 0, language tag \0, translated keyword \0, UTF-8 text
    body = Buffer.concat([keyword, Buffer.from([0, 0, 0, 0, 0]), Buffer.from(chunk.text, 'utf8')]);
  } else {
    if (/[^\x00-\xff]/.test(chunk.text)) throw new Error(`tEXt "${chunk.keyword}" holds characters outside Latin-1; use iTXt`);
    body = Buffer.concat([keyword, Buffer.from([0]), Buffer.from(chunk.text, 'latin1')]);
  }
  return pngChunk(chunk.international ? 'iTXt' : 'tEXt', body);
}

/** One PNG chunk: length, type, data, CRC-32 of type and data. */
export function pngChunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  out.set(data, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)) >>> 0, 8 + data.length);
  return out;
}

export const PNG_SIGNATURE = SIGNATURE;

/** A copy of `png` with the text chunks inserted before its first IDAT chunk. */
export function addPngText(png: Uint8Array, texts: PngTextChunk[]): Uint8Array {
  if (!isPng(png)) throw new Error('not a PNG file');
  for (const chunk of chunks(png)) {
    if (chunk.type === 'IDAT') {
      const encoded = texts.map(encodeChunk);
      return Buffer.concat([png.subarray(0, chunk.offset), ...encoded, png.subarray(chunk.offset)]);
    }
  }
  throw new Error('PNG has no IDAT chunk');
}

/** Text chunks (tEXt and uncompressed iTXt) of a PNG, keyword -> text; empty for non-PNG input. */
export function readPngText(png: Uint8Array): Map<string, string> {
  const out = new Map<string, string>();
  if (!isPng(png)) return out;
  for (const chunk of chunks(png)) {
    if (chunk.type === 'IDAT') break;
    const data = Buffer.from(chunk.data.buffer, chunk.data.byteOffset, chunk.data.byteLength);
    const zero = data.indexOf(0);
    if (zero <= 0) continue;
    const keyword = data.toString('latin1', 0, zero);
    if (chunk.type === 'tEXt') {
      out.set(keyword, data.toString('latin1', zero + 1));
    } else if (chunk.type === 'iTXt') {
      const compressed = data[zero + 1];
      if (compressed !== 0) continue;
      const languageEnd = data.indexOf(0, zero + 3);
      const translatedEnd = languageEnd < 0 ? -1 : data.indexOf(0, languageEnd + 1);
      if (translatedEnd < 0) continue;
      out.set(keyword, data.toString('utf8', translatedEnd + 1));
    }
  }
  return out;
}
