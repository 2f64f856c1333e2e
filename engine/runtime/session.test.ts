import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { float16ModelBytes, matmulModelBytes, tempDir, writeModel } from '../testing/models.js';
import { providerAttemptOrder } from './providers.js';
import { openSession } from './session.js';
import { float32Of, tensorFor } from './tensors.js';

describe('openSession', () => {
  const dir = tempDir();

  it('opens a model, reports its declared inputs and runs it', async () => {
    const file = writeModel(dir, 'matmul.onnx', matmulModelBytes(8));
    const session = await openSession(file, { provider: 'cpu' });
    expect(session.provider).toBe('cpu');
    expect(session.notice).toBeNull();
    expect(session.inputs).toEqual([{ name: 'x', type: 'float32', shape: ['batch', 8] }]);
    const x = new Float32Array(8).fill(1);
    const out = await session.run({ x: tensorFor(session.input('x'), x, [1, 8]) });
    const y = float32Of(out.y!);
    // column j of W sums to sum_i ((i + 1) * 0.01 + j * 0.001) = 0.36 + 8 * j * 0.001
    expect(y[0]).toBeCloseTo(0.36, 5);
    expect(y[7]).toBeCloseTo(0.36 + 0.056, 5);
    expect(() => session.input('nope')).toThrow(/no input named "nope".*it has: x/);
    await session.release();
  });

  it('takes its thread count from ATELIER_THREADS and names a bad value', async () => {
    const file = writeModel(dir, 'threads.onnx', matmulModelBytes(4));
    const saved = process.env.ATELIER_THREADS;
    try {
      process.env.ATELIER_THREADS = '1';
      const session = await openSession(file, { provider: 'cpu' });
      const out = await session.run({ x: tensorFor(session.input('x'), new Float32Array(4).fill(1), [1, 4]) });
      expect(float32Of(out.y!)[0]).toBeCloseTo(0.1, 5);
      await session.release();
      process.env.ATELIER_THREADS = 'many';
      await expect(openSession(file, { provider: 'cpu' })).rejects.toThrow('ATELIER_THREADS must be an integer from 1 to 256, got "many"');
    } finally {
      if (saved === undefined) delete process.env.ATELIER_THREADS;
      else process.env.ATELIER_THREADS = saved;
    }
  });

  it('feeds and reads float16 graphs as float32 values', async () => {
    const session = await openSession(writeModel(dir, 'half.onnx', float16ModelBytes()), { provider: 'cpu' });
    expect(session.inputs[0]!.type).toBe('float16');
    const out = await session.run({ x: tensorFor(session.input('x'), [0.5, -1.25, 3, 1000], [1, 4]) });
    expect(Array.from(float32Of(out.y!))).toEqual([1, -2.5, 6, 2000]);
    await session.release();
  });

  it('falls back to the CPU with a notice when the asked-for GPU provider cannot start', async () => {
    const file = writeModel(dir, 'fallback.onnx', matmulModelBytes(4));
    const session = await openSession(file, { provider: 'cuda', inventory: [{ name: 'cpu', available: true, detail: '' }] });
    expect(session.provider).toBe('cpu');
    expect(session.notice).toMatch(/^using cpu: cuda unavailable/);
    await session.release();
  });

  it('names the file and the problem for missing, empty, corrupt and truncated models', async () => {
    await expect(openSession(path.join(dir, 'missing.onnx'))).rejects.toThrow(/missing\.onnx: model file not found/);
    writeFileSync(path.join(dir, 'empty.onnx'), '');
    await expect(openSession(path.join(dir, 'empty.onnx'))).rejects.toThrow(/empty\.onnx: the model file is empty/);
    writeFileSync(path.join(dir, 'garbage.onnx'), 'this is not a protobuf at all \u0000\u0001\u0002');
    await expect(openSession(path.join(dir, 'garbage.onnx'), { provider: 'cpu' })).rejects.toThrow(/garbage\.onnx: (not a valid ONNX model|ONNX Runtime cannot load)/);
    const whole = matmulModelBytes(8);
    writeFileSync(path.join(dir, 'truncated.onnx'), whole.subarray(0, Math.floor(whole.length / 2)));
    await expect(openSession(path.join(dir, 'truncated.onnx'), { provider: 'cpu' })).rejects.toMatchObject({
      code: 'model_error',
      message: expect.stringMatching(/truncated\.onnx: /),
    });
    await expect(openSession(dir)).rejects.toThrow(/not a file/);
  });
});

describe('providerAttemptOrder', () => {
  const inventory = [
    { name: 'cpu' as const, available: true, detail: '' },
    { name: 'cuda' as const, available: true, detail: '' },
    { name: 'webgpu' as const, available: true, detail: '' },
  ];
  it('tries available GPU providers first on auto, and always ends on the CPU', () => {
    expect(providerAttemptOrder('auto', inventory)).toEqual(['cuda', 'cpu']);
    expect(providerAttemptOrder('auto', [inventory[0]!])).toEqual(['cpu']);
    expect(providerAttemptOrder('webgpu', inventory)).toEqual(['webgpu', 'cpu']);
    expect(providerAttemptOrder('cpu', inventory)).toEqual(['cpu']);
  });
});
