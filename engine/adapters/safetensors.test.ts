/**
 * safetensors reading and writing: round trips in F32/F16/BF16 with metadata, lazy reads by offset
 * from a file, and one clear error per kind of malformed header.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { EngineError } from '../errors.js';
import { float32ToBytes } from '../onnx/tensor-data.js';
import { tempDir } from '../testing/models.js';
import { bytesSource, encodeSafetensors, MAX_HEADER_BYTES, SafetensorsReader, writeSafetensors } from './safetensors.js';

function withHeader(header: unknown, data = new Uint8Array(0), raw?: string): Uint8Array {
  const json = new TextEncoder().encode(raw ?? JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

async function open(bytes: Uint8Array): Promise<SafetensorsReader> {
  return SafetensorsReader.open(bytesSource('bad.safetensors', bytes));
}

describe('safetensors', () => {
  it('round-trips F32, F16 and BF16 tensors and string metadata, reading lazily from a file', async () => {
    const values = Float32Array.of(1, -2.5, 0.333251953125, 65504, 1e-3, 0);
    const half = float32ToBytes(values, 10);
    const bf = float32ToBytes(values, 16);
    const file = path.join(tempDir(), 'x.safetensors');
    await writeSafetensors(
      file,
      [
        { name: 'a.f32', dtype: 'F32', shape: [2, 3], data: values },
        { name: 'b.f16', dtype: 'F16', shape: [6], data: new Uint16Array(half.buffer) },
        { name: 'c.bf16', dtype: 'BF16', shape: [3, 2], data: new Uint16Array(bf.buffer) },
        { name: 'empty', dtype: 'F32', shape: [0, 4], data: new Float32Array(0) },
      ],
      { format: 'pt', note: 'hello' },
    );
    expect(readFileSync(file).readBigUint64LE(0) % 8n).toBe(0n); // header padded to 8 bytes
    const r = await SafetensorsReader.openFile(file);
    try {
      expect(r.names).toEqual(['a.f32', 'b.f16', 'c.bf16', 'empty']);
      expect({ ...r.metadata }).toEqual({ format: 'pt', note: 'hello' });
      expect(r.info('a.f32').shape).toEqual([2, 3]);
      expect(await r.readFloat32('a.f32')).toEqual(values);
      expect(Array.from(await r.readFloat32('b.f16'))).toEqual([1, -2.5, 0.333251953125, 65504, 0.0010004043579101562, 0]);
      const b = await r.readFloat32('c.bf16');
      for (let i = 0; i < values.length; i++) expect(Math.abs(b[i]! - values[i]!)).toBeLessThanOrEqual(Math.abs(values[i]!) / 128);
      expect((await r.readFloat32('empty')).length).toBe(0);
      await expect(r.readFloat32('nope')).rejects.toThrow(/no tensor named "nope"/);
    } finally {
      await r.close();
    }
  });

  it('reads what the reference writer (Python) wrote: its header order and padding', async () => {
    const bytes = encodeSafetensors([{ name: 'w', dtype: 'F32', shape: [1], data: Float32Array.of(3) }]);
    const r = await open(bytes);
    expect(await r.readFloat32('w')).toEqual(Float32Array.of(3));
  });

  const four = new Uint8Array(4);
  const t = (dtype: string, shape: number[], offsets: number[]) => ({ dtype, shape, data_offsets: offsets });
  const cases: Array<[string, Uint8Array, RegExp]> = [
    ['too short', new Uint8Array(5), /too short for the header length/],
    ['header length past the end', (() => { const b = withHeader({}); new DataView(b.buffer).setBigUint64(0, 1000n, true); return b; })(), /runs past the end of the file/],
    ['header length over the limit', (() => { const b = withHeader({}); new DataView(b.buffer).setBigUint64(0, BigInt(MAX_HEADER_BYTES) + 1n, true); return b; })(), /exceeds the .*-byte limit/],
    ['header length 2^64 - 1', (() => { const b = withHeader({}); new DataView(b.buffer).setBigUint64(0, 2n ** 64n - 1n, true); return b; })(), /exceeds/],
    ['not UTF-8', withHeader(null, four, '{"\xff":1}').map((v, i) => (i === 10 ? 0xff : v)), /not UTF-8/],
    ['not JSON', withHeader(null, new Uint8Array(0), '{"a": }'), /not valid JSON/],
    ['not starting with {', withHeader(null, new Uint8Array(0), ' {}'), /does not start with/],
    ['duplicate keys', withHeader(null, four, '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'), /duplicate key "a"/],
    ['trailing garbage', withHeader(null, new Uint8Array(0), '{} x'), /unexpected text after/],
    ['unknown dtype', withHeader({ a: t('F17', [1], [0, 4]) }, four), /unknown dtype "F17"/],
    ['negative dim', withHeader({ a: t('F32', [-1], [0, 4]) }, four), /malformed shape/],
    ['fractional dim', withHeader({ a: t('F32', [1.5], [0, 4]) }, four), /malformed shape/],
    ['offsets backwards', withHeader({ a: t('F32', [1], [4, 0]) }, four), /run backwards/],
    ['offsets past the data', withHeader({ a: t('F32', [2], [0, 8]) }, four), /run past the end of the data/],
    ['size mismatch', withHeader({ a: t('F32', [2], [0, 4]) }, four), /F32 shape \[2\] needs more than 4 bytes, data_offsets give 4/],
    ['huge shape', withHeader({ a: t('F32', [2 ** 40, 2 ** 40], [0, 4]) }, four), /needs more than 4 bytes/],
    ['overlap', withHeader({ a: t('F32', [1], [0, 4]), b: t('F32', [1], [0, 4]) }, four), /overlaps/],
    ['hole', withHeader({ a: t('F32', [1], [4, 8]) }, new Uint8Array(8)), /4 bytes before tensor "a" belong to no tensor/],
    ['tail', withHeader({ a: t('F32', [1], [0, 4]) }, new Uint8Array(8)), /4 bytes at the end of the data belong to no tensor/],
    ['non-string metadata', withHeader({ __metadata__: { a: 1 } }), /__metadata__ entry "a" is not a string/],
    ['metadata not an object', withHeader({ __metadata__: 'x' }), /__metadata__ is not an object/],
    ['extra tensor field', withHeader({ a: { ...t('F32', [1], [0, 4]), x: 1 } }, four), /unknown field "x"/],
    ['deep nesting', withHeader(null, new Uint8Array(0), `{"a":${'['.repeat(100000)}`), /nested too deeply/],
    ['header is an array', withHeader(null, new Uint8Array(0), '{}').map((v, i) => (i === 8 ? 0x5b : i === 9 ? 0x5d : v)), /does not start with/],
  ];
  it.each(cases)('%s: a clear error naming the file', async (_, bytes, message) => {
    const error = await open(bytes).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(EngineError);
    expect((error as EngineError).message).toMatch(/^bad\.safetensors: /);
    expect((error as EngineError).message).toMatch(message);
  });

  it('reading a non-float tensor as float says so', async () => {
    const r = await open(withHeader({ i: t('I32', [1], [0, 4]) }, four));
    await expect(r.readFloat32('i')).rejects.toThrow(/has dtype I32, not a float type/);
  });
});
