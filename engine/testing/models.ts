/**
 * Small ONNX models that tests generate on the fly (so session, error and runtime tests do not
 * depend on the zoo): a MatMul, and a float16 variant with float16 inputs and outputs.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { DataType, buildModel, floatTensor, intAttribute, node, serializeModel, valueInfo } from '../onnx/proto.js';

export { tempDir } from './temp.js';

/** y = x @ W for x (batch, n) and a fixed W (n, n) with W[i][j] = (i + 1) * 0.01 + j * 0.001. */
export function matmulModelBytes(n = 8): Uint8Array {
  const w = new Float32Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) w[i * n + j] = (i + 1) * 0.01 + j * 0.001;
  return serializeModel(
    buildModel({
      inputs: [valueInfo('x', DataType.FLOAT, ['batch', n])],
      outputs: [valueInfo('y', DataType.FLOAT, ['batch', n])],
      nodes: [node('MatMul', ['x', 'W'], ['y'], '/layer/MatMul')],
      initializers: [floatTensor('W', [n, n], w)],
    }),
  );
}

/** y = Cast(Cast(x) * 2): float16 in and out. */
export function float16ModelBytes(): Uint8Array {
  return serializeModel(
    buildModel({
      inputs: [valueInfo('x', DataType.FLOAT16, ['batch', 4])],
      outputs: [valueInfo('y', DataType.FLOAT16, ['batch', 4])],
      nodes: [
        node('Cast', ['x'], ['x32'], 'cast_in', [intAttribute('to', DataType.FLOAT)]),
        node('Add', ['x32', 'x32'], ['y32'], 'double'),
        node('Cast', ['y32'], ['y'], 'cast_out', [intAttribute('to', DataType.FLOAT16)]),
      ],
    }),
  );
}

export function writeModel(dir: string, name: string, bytes: Uint8Array): string {
  const file = path.join(dir, name);
  writeFileSync(file, bytes);
  return file;
}
