/**
 * safetensors reading and writing, hardened for untrusted files (LoRAs come from anywhere).
 *
 * Format: an 8-byte little-endian header length N, N bytes of UTF-8 JSON (padded with spaces),
 * then the data buffer. The header maps tensor names to {dtype, shape, data_offsets: [begin, end]}
 * relative to the buffer, plus an optional `__metadata__` object of strings.
 *
 * Checks (each failure is an EngineError naming the file and what is wrong):
 * - N at most 100 MiB and inside the file; valid UTF-8; strict JSON (strict-json.ts: duplicate
 *   keys rejected, bounded depth); the header must start with `{`;
 * - every tensor: a known dtype, a shape of non-negative safe integers (rank <= 16), offsets that
 *   are integers with begin <= end inside the buffer, byte length = product(shape) x itemsize;
 * - tensors do not overlap and cover the buffer without holes (what the reference implementation
 *   requires of the files it writes, so nothing can hide between tensors);
 * - `__metadata__` values are strings only.
 * Tensors are read lazily by offset (positional reads), so a multi-GB file is never loaded whole.
 * Writes go through stores/atomic.ts.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { EngineError, messageOf } from '../errors.js';
import { fromHalfBits } from '../runtime/float16.js';
import { writeFileAtomic } from '../stores/atomic.js';
import { isJsonObject, parseStrictJson, type JsonValue } from './strict-json.js';

export const MAX_HEADER_BYTES = 100 * 1024 * 1024;
const MAX_RANK = 16;
const MAX_NAME_LENGTH = 4096;

export const DTYPE_SIZES = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
} as const;
export type SafetensorsDtype = keyof typeof DTYPE_SIZES;

export interface TensorInfo {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Absolute byte range in the file. */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  tensors: Map<string, TensorInfo>;
  metadata: Record<string, string>;
  /** Where the data buffer starts (8 + N). */
  dataStart: number;
}

/** Something to read bytes from: a file (positional reads) or bytes in memory. */
export interface ByteSource {
  readonly name: string;
  readonly size: number;
  read(offset: number, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

export function bytesSource(name: string, bytes: Uint8Array): ByteSource {
  return {
    name,
    size: bytes.length,
    read: async (offset, length) => bytes.slice(offset, offset + length),
    close: async () => undefined,
  };
}

const CHUNK = 1 << 30;

export async function fileSource(file: string): Promise<ByteSource> {
  let handle: FileHandle;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    throw new EngineError('not_found', `${file}: cannot open (${messageOf(error)})`);
  }
  const stat = await handle.stat();
  if (!stat.isFile()) {
    await handle.close();
    throw new EngineError('bad_input', `${file}: not a file`);
  }
  return {
    name: file,
    size: stat.size,
    read: async (offset, length) => {
      const out = new Uint8Array(length); // fresh buffer: offset 0, so typed views are aligned
      for (let done = 0; done < length; ) {
        const { bytesRead } = await handle.read(out, done, Math.min(CHUNK, length - done), offset + done);
        if (bytesRead <= 0) throw new EngineError('bad_input', `${file}: the file ended early (changed while reading?)`);
        done += bytesRead;
      }
      return out;
    },
    close: () => handle.close(),
  };
}

function invalid(name: string, what: string): EngineError {
  return new EngineError('bad_input', `${name}: not a valid safetensors file: ${what}`);
}

function safeInt(v: JsonValue | undefined): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Parses and checks a header; `headerBytes` are the N bytes after the length field. */
export function parseHeader(name: string, headerBytes: Uint8Array, fileSize: number): SafetensorsHeader {
  const dataStart = 8 + headerBytes.length;
  const dataSize = fileSize - dataStart;
  if (dataSize < 0) throw invalid(name, 'the header runs past the end of the file');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    throw invalid(name, 'the header is not UTF-8');
  }
  if (!text.startsWith('{')) throw invalid(name, 'the header does not start with "{"');
  let json: JsonValue;
  try {
    json = parseStrictJson(text, 4);
  } catch (error) {
    throw invalid(name, `the header is not valid JSON (${messageOf(error)})`);
  }
  if (!isJsonObject(json)) throw invalid(name, 'the header is not a JSON object');
  const tensors = new Map<string, TensorInfo>();
  const metadata: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [key, entry] of Object.entries(json)) {
    const label = JSON.stringify(key.length > 120 ? `${key.slice(0, 120)}...` : key);
    if (key === '__metadata__') {
      if (!isJsonObject(entry)) throw invalid(name, '__metadata__ is not an object');
      for (const [k, v] of Object.entries(entry)) {
        if (typeof v !== 'string') throw invalid(name, `__metadata__ entry ${JSON.stringify(k.slice(0, 120))} is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    if (key.length === 0 || key.length > MAX_NAME_LENGTH) throw invalid(name, `tensor name ${label} is empty or longer than ${MAX_NAME_LENGTH} characters`);
    if (!isJsonObject(entry)) throw invalid(name, `tensor ${label} is not an object`);
    const extra = Object.keys(entry).find((k) => k !== 'dtype' && k !== 'shape' && k !== 'data_offsets');
    if (extra !== undefined) throw invalid(name, `tensor ${label} has an unknown field "${extra.slice(0, 40)}"`);
    const { dtype, shape, data_offsets: offsets } = entry;
    if (typeof dtype !== 'string' || !Object.hasOwn(DTYPE_SIZES, dtype)) throw invalid(name, `tensor ${label} has an unknown dtype ${JSON.stringify(dtype)?.slice(0, 40)}`);
    if (!Array.isArray(shape) || shape.length > MAX_RANK || !shape.every(safeInt)) throw invalid(name, `tensor ${label} has a malformed shape (non-negative integers, rank <= ${MAX_RANK})`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !safeInt(offsets[0]) || !safeInt(offsets[1])) throw invalid(name, `tensor ${label} has malformed data_offsets`);
    const [begin, end] = offsets as [number, number];
    if (begin > end) throw invalid(name, `tensor ${label}: data_offsets [${begin}, ${end}] run backwards`);
    if (end > dataSize) throw invalid(name, `tensor ${label}: data_offsets [${begin}, ${end}] run past the end of the data (${dataSize} bytes)`);
    const itemSize = DTYPE_SIZES[dtype as SafetensorsDtype];
    let bytes = itemSize;
    for (const d of shape as number[]) {
      bytes *= d;
      if (bytes > dataSize) break; // stays a safe integer; a mismatch either way
    }
    if (bytes !== end - begin) throw invalid(name, `tensor ${label}: ${dtype} shape [${(shape as number[]).join(', ')}] needs ${bytes > dataSize ? `more than ${dataSize}` : bytes} bytes, data_offsets give ${end - begin}`);
    tensors.set(key, { name: key, dtype: dtype as SafetensorsDtype, shape: shape as number[], begin: dataStart + begin, end: dataStart + end });
  }
  const sorted = [...tensors.values()].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = dataStart;
  for (const t of sorted) {
    if (t.begin < cursor) throw invalid(name, `tensor ${JSON.stringify(t.name.slice(0, 120))} overlaps another tensor's data`);
    if (t.begin > cursor) throw invalid(name, `${t.begin - cursor} bytes before tensor ${JSON.stringify(t.name.slice(0, 120))} belong to no tensor`);
    cursor = t.end;
  }
  if (cursor !== fileSize) throw invalid(name, `${fileSize - cursor} bytes at the end of the data belong to no tensor`);
  return { tensors, metadata, dataStart };
}

/** Reads and checks the header of a source (file or bytes). */
export async function readHeader(source: ByteSource): Promise<SafetensorsHeader> {
  if (source.size < 8) throw invalid(source.name, `${source.size} bytes, too short for the header length`);
  const lengthBytes = await source.read(0, 8);
  const n = new DataView(lengthBytes.buffer, lengthBytes.byteOffset, 8).getBigUint64(0, true);
  if (n < 2n) throw invalid(source.name, `header length ${n} is too small`);
  if (n > BigInt(MAX_HEADER_BYTES)) throw invalid(source.name, `header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  if (n > BigInt(source.size - 8)) throw invalid(source.name, `header length ${n} runs past the end of the file (${source.size} bytes)`);
  return parseHeader(source.name, await source.read(8, Number(n)), source.size);
}

/** An open safetensors file: its checked header, and tensors read on demand. */
export class SafetensorsReader {
  private constructor(
    private readonly source: ByteSource,
    readonly header: SafetensorsHeader,
  ) {}

  static async open(source: ByteSource): Promise<SafetensorsReader> {
    try {
      return new SafetensorsReader(source, await readHeader(source));
    } catch (error) {
      await source.close();
      throw error;
    }
  }

  static async openFile(file: string): Promise<SafetensorsReader> {
    return SafetensorsReader.open(await fileSource(file));
  }

  get name(): string {
    return this.source.name;
  }

  get metadata(): Record<string, string> {
    return this.header.metadata;
  }

  get names(): string[] {
    return [...this.header.tensors.keys()];
  }

  info(name: string): TensorInfo {
    const info = this.header.tensors.get(name);
    if (!info) throw new EngineError('bad_input', `${this.source.name}: no tensor named "${name}"`);
    return info;
  }

  async readBytes(name: string): Promise<Uint8Array> {
    const info = this.info(name);
    return this.source.read(info.begin, info.end - info.begin);
  }

  /** A float tensor's values as float32 (F32, F16, BF16, F64). */
  async readFloat32(name: string): Promise<Float32Array> {
    const info = this.info(name);
    const bytes = await this.readBytes(name);
    return toFloat32(bytes, info.dtype, `${this.source.name}: tensor "${name}"`);
  }

  close(): Promise<void> {
    return this.source.close();
  }
}

/** Little-endian bytes of a float dtype as float32 (the engine runs on little-endian hosts). */
export function toFloat32(bytes: Uint8Array, dtype: SafetensorsDtype, label: string): Float32Array {
  const aligned = bytes.byteOffset % 8 === 0 ? bytes : bytes.slice();
  switch (dtype) {
    case 'F32':
      return new Float32Array(aligned.buffer, aligned.byteOffset, aligned.length / 4).slice();
    case 'F64':
      return Float32Array.from(new Float64Array(aligned.buffer, aligned.byteOffset, aligned.length / 8));
    case 'F16': {
      const h = new Uint16Array(aligned.buffer, aligned.byteOffset, aligned.length / 2);
      const out = new Float32Array(h.length);
      for (let i = 0; i < h.length; i++) out[i] = fromHalfBits(h[i]!);
      return out;
    }
    case 'BF16': {
      const h = new Uint16Array(aligned.buffer, aligned.byteOffset, aligned.length / 2);
      const out = new Uint32Array(h.length);
      for (let i = 0; i < h.length; i++) out[i] = h[i]! << 16;
      return new Float32Array(out.buffer);
    }
    default:
      throw new EngineError('bad_input', `${label} has dtype ${dtype}, not a float type`);
  }
}

export interface TensorToWrite {
  name: string;
  dtype: 'F32' | 'F16' | 'BF16';
  shape: number[];
  /** F32: Float32Array; F16 / BF16: their bit patterns. */
  data: Float32Array | Uint16Array;
}

/** The bytes of a safetensors file (header padded to 8 bytes with spaces, as the reference writes). */
export function encodeSafetensors(tensors: TensorToWrite[], metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  const seen = new Set<string>();
  for (const t of tensors) {
    if (seen.has(t.name) || t.name === '__metadata__') throw new Error(`duplicate or reserved tensor name "${t.name}"`);
    seen.add(t.name);
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (t.data.length !== count) throw new Error(`tensor "${t.name}": ${t.data.length} values for shape [${t.shape.join(', ')}]`);
    if ((t.dtype === 'F32') !== t.data instanceof Float32Array) throw new Error(`tensor "${t.name}": data does not match dtype ${t.dtype}`);
    const size = count * DTYPE_SIZES[t.dtype];
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + size] };
    offset += size;
  }
  let json = JSON.stringify(header);
  const pad = (8 - ((Buffer.byteLength(json) + 8) % 8)) % 8;
  json += ' '.repeat(pad);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const t of tensors) {
    const raw = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    out.set(raw, at);
    at += raw.length;
  }
  return out;
}

export async function writeSafetensors(file: string, tensors: TensorToWrite[], metadata: Record<string, string> = {}): Promise<void> {
  await writeFileAtomic(file, encodeSafetensors(tensors, metadata));
}
