/**
 * The graph rewrites on small synthetic graphs: bfloat16 I/O becomes float32 around Cast nodes
 * (also when an output is consumed inside the graph, and inside subgraphs), and ONNX Runtime then
 * opens and runs the graph, which it refuses before.
 */
import { describe, expect, it } from 'vitest';
import { ort } from '../runtime/ort.js';
import { DataType, buildModel, intAttribute, node, parseModel, serializeModel, valueInfo } from './proto.js';
import { bf16IoToFloat, externalDataLocations, samplingToMean } from './rewrite.js';

/** y = x + x (bf16 in, bf16 out, computed in float32) and z = y * y (float32 out, reading y inside the graph). */
function bf16Model() {
  return buildModel({
    inputs: [valueInfo('x', DataType.BFLOAT16, ['n'])],
    outputs: [valueInfo('y', DataType.BFLOAT16, ['n']), valueInfo('z', DataType.FLOAT, ['n'])],
    nodes: [
      node('Cast', ['x'], ['x32'], 'in', [intAttribute('to', DataType.FLOAT)]),
      node('Add', ['x32', 'x32'], ['s'], 'add'),
      node('Cast', ['s'], ['y'], 'out', [intAttribute('to', DataType.BFLOAT16)]),
      node('Cast', ['y'], ['y32'], 'up', [intAttribute('to', DataType.FLOAT)]),
      node('Mul', ['y32', 'y32'], ['z'], 'square'),
    ],
  });
}

describe('bf16IoToFloat', () => {
  it('makes bfloat16 inputs and outputs float32 and the graph runnable', async () => {
    const bytes = serializeModel(bf16Model());
    await expect(ort.InferenceSession.create(bytes)).rejects.toThrow(/Unsupported data type/);
    const model = parseModel(bytes, 'bf16.onnx');
    expect(bf16IoToFloat(model)).toEqual(['x', 'y']);
    const session = await ort.InferenceSession.create(serializeModel(model));
    const out = await session.run({ x: new ort.Tensor('float32', Float32Array.from([1.5, -2, 1 / 3]), [3]) });
    expect(out.y!.type).toBe('float32');
    // bfloat16 keeps 8 significant bits: 1/3 -> 0.333984375, doubled
    expect(Array.from(out.y!.data as Float32Array)).toEqual([3, -4, 0.66796875]);
    expect(Array.from(out.z!.data as Float32Array)).toEqual([9, 16, 0.66796875 ** 2]);
    await session.release();
  });

  it('leaves float graphs alone', () => {
    const model = buildModel({ inputs: [valueInfo('x', DataType.FLOAT, [1])], outputs: [valueInfo('y', DataType.FLOAT, [1])], nodes: [node('Identity', ['x'], ['y'], 'id')] });
    expect(bf16IoToFloat(model)).toEqual([]);
    expect(samplingToMean(model)).toBe(0);
    expect(externalDataLocations(model)).toEqual([]);
  });
});

describe('samplingToMean', () => {
  it('replaces RandomNormalLike by zeros of its input shape', async () => {
    const model = buildModel({
      inputs: [valueInfo('mean', DataType.FLOAT, [4])],
      outputs: [valueInfo('z', DataType.FLOAT, [4])],
      nodes: [node('RandomNormalLike', ['mean'], ['eps'], 'noise', [intAttribute('dtype', DataType.FLOAT)]), node('Add', ['mean', 'eps'], ['z'], 'sample')],
    });
    expect(samplingToMean(model)).toBe(1);
    const session = await ort.InferenceSession.create(serializeModel(model));
    const out = await session.run({ mean: new ort.Tensor('float32', Float32Array.from([1, 2, 3, 4]), [4]) });
    expect(Array.from(out.z!.data as Float32Array)).toEqual([1, 2, 3, 4]);
    await session.release();
  });
});
