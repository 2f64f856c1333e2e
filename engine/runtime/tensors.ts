/**
 * Building input tensors in whatever element type a graph declares, and reading outputs back as
 * float32. Pipelines compute in float32 and let these helpers meet the graph's dtype (float16
 * models, int32 vs int64 token ids, float vs integer timesteps).
 */
import { EngineError } from '../errors.js';
import { float16ToFloat32, float32ToFloat16 } from './float16.js';
import { ort, type OrtTensor } from './ort.js';
import type { TensorSpec } from './session.js';

/** A tensor of numbers in the element type `spec` declares. */
export function tensorFor(spec: TensorSpec, values: ArrayLike<number>, dims: readonly number[]): OrtTensor {
  const count = dims.reduce((a, b) => a * b, 1);
  if (values.length !== count) {
    throw new EngineError('internal', `input "${spec.name}": ${values.length} values for shape [${dims.join(', ')}]`);
  }
  switch (spec.type) {
    case 'float32':
      return new ort.Tensor('float32', values instanceof Float32Array ? values : Float32Array.from(values), dims);
    case 'float16':
      return new ort.Tensor('float16', float32ToFloat16(values), dims);
    case 'float64':
      return new ort.Tensor('float64', Float64Array.from(values), dims);
    case 'int64':
      return new ort.Tensor('int64', BigInt64Array.from(Array.from(values, (v) => BigInt(Math.round(v)))), dims);
    case 'int32':
      return new ort.Tensor('int32', Int32Array.from(values, (v) => Math.round(v)), dims);
    default:
      throw new EngineError('model_error', `input "${spec.name}" has element type ${spec.type}, which the engine cannot feed`);
  }
}

/** An output tensor's values as float32, whatever its element type. */
export function float32Of(tensor: OrtTensor, name = 'output'): Float32Array {
  switch (tensor.type) {
    case 'float32':
      return tensor.data as Float32Array;
    case 'float16':
      return float16ToFloat32(tensor.data as Uint16Array);
    case 'float64':
      return Float32Array.from(tensor.data as Float64Array);
    default:
      throw new EngineError('model_error', `output "${name}" has element type ${tensor.type}, expected a float type`);
  }
}

/** The named output of a run, or an error naming what the graph returned instead. */
export function outputOf(outputs: Record<string, OrtTensor>, name: string, file: string): OrtTensor {
  const tensor = outputs[name];
  if (!tensor) throw new EngineError('model_error', `${file}: the graph has no output "${name}" (it has: ${Object.keys(outputs).join(', ')})`);
  return tensor;
}

/** Arrays one after another in one new array (a batch's rows, two id blocks); one part is returned as is. */
export function concatFloat32(parts: readonly Float32Array[]): Float32Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
