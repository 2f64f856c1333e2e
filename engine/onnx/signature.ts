/**
 * Reads an ONNX file's signature (IR version, opsets, graph inputs and outputs with their element
 * types and shapes) without loading its weights: the protobuf is walked field by field and the
 * initializers, often gigabytes, are skipped by offset. Used to detect and validate model folders
 * before any session is created.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { fromBinary } from '@bufbuild/protobuf';
import { TensorProto_DataType, ValueInfoProtoSchema } from 'onnx-buf';
import { EngineError } from '../errors.js';

export interface ValueSignature {
  name: string;
  /** ONNX Runtime's type name ('float32', 'float16', 'int64', ...), or 'non-tensor'. */
  type: string;
  /** Fixed sizes as numbers, symbolic ones as strings, unknown ones as null. */
  shape: Array<number | string | null> | null;
}

export interface GraphSignature {
  file: string;
  irVersion: number;
  opsets: Record<string, number>;
  producer: string;
  inputs: ValueSignature[];
  outputs: ValueSignature[];
}

const TYPE_NAMES: Partial<Record<TensorProto_DataType, string>> = {
  [TensorProto_DataType.FLOAT]: 'float32',
  [TensorProto_DataType.FLOAT16]: 'float16',
  [TensorProto_DataType.BFLOAT16]: 'bfloat16',
  [TensorProto_DataType.DOUBLE]: 'float64',
  [TensorProto_DataType.INT64]: 'int64',
  [TensorProto_DataType.INT32]: 'int32',
  [TensorProto_DataType.INT16]: 'int16',
  [TensorProto_DataType.INT8]: 'int8',
  [TensorProto_DataType.UINT8]: 'uint8',
  [TensorProto_DataType.BOOL]: 'bool',
  [TensorProto_DataType.STRING]: 'string',
  [TensorProto_DataType.FLOAT8E4M3FN]: 'float8e4m3fn',
};

class Truncated extends Error {}

/** Sequential reads over a file with a small buffer, and skips that read nothing. */
class Cursor {
  private readonly buffer = Buffer.alloc(1 << 16);
  private bufferStart = 0;
  private bufferEnd = 0;
  pos = 0;

  constructor(
    private readonly fd: number,
    readonly size: number,
  ) {}

  private byte(): number {
    if (this.pos >= this.size) throw new Truncated();
    if (this.pos < this.bufferStart || this.pos >= this.bufferEnd) {
      const n = readSync(this.fd, this.buffer, 0, this.buffer.length, this.pos);
      if (n <= 0) throw new Truncated();
      this.bufferStart = this.pos;
      this.bufferEnd = this.pos + n;
    }
    return this.buffer[this.pos++ - this.bufferStart]!;
  }

  varint(): number {
    let result = 0;
    let shift = 0;
    for (let i = 0; i < 10; i++) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
    }
    throw new Error('malformed varint');
  }

  bytes(length: number): Uint8Array {
    if (this.pos + length > this.size) throw new Truncated();
    const out = Buffer.alloc(length);
    const n = readSync(this.fd, out, 0, length, this.pos);
    if (n !== length) throw new Truncated();
    this.pos += length;
    return out;
  }

  skip(wireType: number): void {
    switch (wireType) {
      case 0:
        this.varint();
        return;
      case 1:
        this.pos += 8;
        break;
      case 2: {
        const length = this.varint(); // read before `pos` is: the varint advances it
        this.pos += length;
        break;
      }
      case 5:
        this.pos += 4;
        break;
      default:
        throw new Error(`unsupported protobuf wire type ${wireType}`);
    }
    if (this.pos > this.size) throw new Truncated();
  }
}

function toValueSignature(bytes: Uint8Array): ValueSignature {
  const info = fromBinary(ValueInfoProtoSchema, bytes);
  if (info.type?.value.case !== 'tensorType') return { name: info.name, type: 'non-tensor', shape: null };
  const tensor = info.type.value.value;
  const shape = tensor.shape
    ? tensor.shape.dim.map((d) => (d.value.case === 'dimValue' ? Number(d.value.value) : d.value.case === 'dimParam' ? d.value.value : null))
    : null;
  return { name: info.name, type: TYPE_NAMES[tensor.elemType as TensorProto_DataType] ?? `onnx-type-${tensor.elemType}`, shape };
}

/** The signature of an ONNX file; errors name the file and say what is wrong with it. */
export function readGraphSignature(file: string): GraphSignature {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    throw new EngineError('model_error', `${file}: model file not found`);
  }
  try {
    const size = fstatSync(fd).size;
    if (size === 0) throw new EngineError('model_error', `${file}: the model file is empty`);
    const cursor = new Cursor(fd, size);
    const sig: GraphSignature = { file, irVersion: 0, opsets: {}, producer: '', inputs: [], outputs: [] };
    let sawGraph = false;
    const decoder = new TextDecoder('utf-8', { fatal: true });
    while (cursor.pos < size) {
      const tag = cursor.varint();
      const field = Math.floor(tag / 8);
      const wire = tag & 7;
      if (field === 1 && wire === 0) sig.irVersion = cursor.varint();
      else if (field === 2 && wire === 2) sig.producer = decoder.decode(cursor.bytes(cursor.varint()));
      else if (field === 8 && wire === 2) {
        const end = cursor.varint() + cursor.pos;
        let domain = '';
        let version = 0;
        while (cursor.pos < end) {
          const t = cursor.varint();
          if (t === (1 << 3) + 2) domain = decoder.decode(cursor.bytes(cursor.varint()));
          else if (t === (2 << 3) + 0) version = cursor.varint();
          else cursor.skip(t & 7);
        }
        sig.opsets[domain || 'ai.onnx'] = version;
      } else if (field === 7 && wire === 2) {
        sawGraph = true;
        const end = cursor.varint() + cursor.pos;
        if (end > size) throw new Truncated();
        while (cursor.pos < end) {
          const t = cursor.varint();
          const f = Math.floor(t / 8);
          if ((f === 11 || f === 12) && (t & 7) === 2) {
            const value = toValueSignature(cursor.bytes(cursor.varint()));
            (f === 11 ? sig.inputs : sig.outputs).push(value);
          } else cursor.skip(t & 7);
        }
      } else cursor.skip(wire);
    }
    if (!sawGraph || sig.irVersion === 0) throw new EngineError('model_error', `${file}: not an ONNX model (no graph or IR version in it)`);
    return sig;
  } catch (error) {
    if (error instanceof EngineError) throw error;
    if (error instanceof Truncated) throw new EngineError('model_error', `${file}: the ONNX file is truncated`);
    throw new EngineError('model_error', `${file}: not a valid ONNX file (${error instanceof Error ? error.message : String(error)})`);
  } finally {
    closeSync(fd);
  }
}
