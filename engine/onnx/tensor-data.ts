/**
 * Reading and replacing the values of float initializers (FLOAT, FLOAT16, BFLOAT16, DOUBLE),
 * wherever a TensorProto keeps them: raw_data, the typed repeated fields, or external data (a
 * byte range of a file beside the model, read by offset so a multi-GB data file is never loaded
 * whole). External locations are checked the way ONNX Runtime 1.30 checks them: relative, inside
 * the model's folder, the byte range inside the file.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import path from 'node:path';
import { EngineError } from '../errors.js';
import { float32ToFloat16, fromHalfBits } from '../runtime/float16.js';
import { entry, tensorDims } from './graph.js';
import { DataType, type TensorProto } from './proto.js';

export const FLOAT_TYPES = new Set<number>([DataType.FLOAT, DataType.FLOAT16, DataType.BFLOAT16, DataType.DOUBLE]);

export function itemSize(dataType: number): number {
  switch (dataType) {
    case DataType.FLOAT:
      return 4;
    case DataType.DOUBLE:
      return 8;
    case DataType.FLOAT16:
    case DataType.BFLOAT16:
      return 2;
    default:
      throw new Error(`not a float data type: ${dataType}`);
  }
}

export function elementCount(t: TensorProto): number {
  return tensorDims(t).reduce((a, b) => a * b, 1);
}

export interface ExternalRef {
  location: string;
  offset: number;
  length: number | null;
}

export function externalRef(t: TensorProto): ExternalRef | null {
  if (t.dataLocation !== 1 && t.externalData.length === 0) return null;
  const get = (k: string) => t.externalData.find((e) => e.key === k)?.value;
  const location = get('location');
  if (!location) return null;
  const length = get('length');
  return { location, offset: Number(get('offset') ?? 0), length: length === undefined ? null : Number(length) };
}

/** Resolves an external location against the model's folder, as ONNX Runtime would accept it. */
export function resolveExternal(modelDir: string, location: string, label: string): string {
  const resolved = path.resolve(modelDir, location);
  const rel = path.relative(modelDir, resolved);
  if (path.isAbsolute(location) || rel.startsWith('..') || path.isAbsolute(rel)) {
    throw new EngineError('model_error', `${label}: its external data "${location}" lies outside the model's folder`);
  }
  return resolved;
}

function readExternalBytes(modelDir: string, ref: ExternalRef, bytes: number, label: string): Uint8Array {
  const file = resolveExternal(modelDir, ref.location, label);
  if (ref.length !== null && ref.length !== bytes) throw new EngineError('model_error', `${label}: external length ${ref.length} but its shape needs ${bytes} bytes`);
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    throw new EngineError('model_error', `${label}: its external data file ${ref.location} is missing`);
  }
  try {
    const size = fstatSync(fd).size;
    if (!Number.isSafeInteger(ref.offset) || ref.offset < 0 || ref.offset + bytes > size) {
      throw new EngineError('model_error', `${label}: bytes ${ref.offset}..${ref.offset + bytes} lie outside ${ref.location} (${size} bytes)`);
    }
    const out = new Uint8Array(bytes);
    for (let done = 0; done < bytes; ) {
      const n = readSync(fd, out, done, Math.min(1 << 30, bytes - done), ref.offset + done);
      if (n <= 0) throw new EngineError('model_error', `${label}: ${ref.location} ended early`);
      done += n;
    }
    return out;
  } finally {
    closeSync(fd);
  }
}

/** The tensor's values in its own dtype's little-endian bytes. */
export function tensorBytes(t: TensorProto, modelDir: string, label: string): Uint8Array {
  if (!FLOAT_TYPES.has(t.dataType)) throw new EngineError('model_error', `${label}: data type ${t.dataType} is not a float type`);
  const count = elementCount(t);
  const size = itemSize(t.dataType);
  const ref = externalRef(t);
  if (ref) return readExternalBytes(modelDir, ref, count * size, label);
  if (t.rawData.length > 0 || count === 0) {
    if (t.rawData.length !== count * size) throw new EngineError('model_error', `${label}: raw_data holds ${t.rawData.length} bytes, its shape needs ${count * size}`);
    return t.rawData.slice();
  }
  if (t.dataType === DataType.FLOAT && t.floatData.length === count) return new Uint8Array(Float32Array.from(t.floatData).buffer);
  if (t.dataType === DataType.DOUBLE && t.doubleData.length === count) return new Uint8Array(Float64Array.from(t.doubleData).buffer);
  if ((t.dataType === DataType.FLOAT16 || t.dataType === DataType.BFLOAT16) && t.int32Data.length === count) {
    return new Uint8Array(Uint16Array.from(t.int32Data, (v) => v & 0xffff).buffer);
  }
  throw new EngineError('model_error', `${label}: holds no data for its ${count} values`);
}

/** Little-endian bytes of a float dtype as float32. */
export function bytesToFloat32(bytes: Uint8Array, dataType: number): Float32Array {
  const b = bytes.byteOffset % 8 === 0 ? bytes : bytes.slice();
  switch (dataType) {
    case DataType.FLOAT:
      return new Float32Array(b.buffer, b.byteOffset, b.length / 4);
    case DataType.DOUBLE:
      return Float32Array.from(new Float64Array(b.buffer, b.byteOffset, b.length / 8));
    case DataType.FLOAT16: {
      const h = new Uint16Array(b.buffer, b.byteOffset, b.length / 2);
      const out = new Float32Array(h.length);
      for (let i = 0; i < h.length; i++) out[i] = fromHalfBits(h[i]!);
      return out;
    }
    case DataType.BFLOAT16: {
      const h = new Uint16Array(b.buffer, b.byteOffset, b.length / 2);
      const u = new Uint32Array(h.length);
      for (let i = 0; i < h.length; i++) u[i] = h[i]! << 16;
      return new Float32Array(u.buffer);
    }
    default:
      throw new Error(`not a float data type: ${dataType}`);
  }
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

function toBf16Bits(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) return (x >>> 16) | 0x40; // quiet NaN
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/** float32 values as little-endian bytes of `dataType` (round to nearest even). */
export function float32ToBytes(values: Float32Array, dataType: number): Uint8Array {
  switch (dataType) {
    case DataType.FLOAT:
      return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    case DataType.DOUBLE:
      return new Uint8Array(Float64Array.from(values).buffer);
    case DataType.FLOAT16:
      return new Uint8Array(float32ToFloat16(values).buffer);
    case DataType.BFLOAT16:
      return new Uint8Array(Uint16Array.from(values, toBf16Bits).buffer);
    default:
      throw new Error(`not a float data type: ${dataType}`);
  }
}

export function readTensorFloat32(t: TensorProto, modelDir: string, label: string): Float32Array {
  return bytesToFloat32(tensorBytes(t, modelDir, label), t.dataType);
}

/** Replaces the tensor's values with inline raw_data. */
export function setInlineBytes(t: TensorProto, bytes: Uint8Array): void {
  t.rawData = bytes.slice();
  t.floatData = [];
  t.int32Data = [];
  t.doubleData = [];
  t.externalData = [];
  t.dataLocation = 0;
}

/** Points the tensor at a byte range of an external data file (location relative to the model). */
export function setExternal(t: TensorProto, location: string, offset: number, length: number): void {
  t.rawData = new Uint8Array(0);
  t.floatData = [];
  t.int32Data = [];
  t.doubleData = [];
  t.externalData = [entry('location', location), entry('offset', String(offset)), entry('length', String(length))];
  t.dataLocation = 1;
}
