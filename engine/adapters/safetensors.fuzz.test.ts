/**
 * Fuzz: 10,000 deterministic mutations (seeded PRNG) of a real LoRA file's header, through the
 * same path a file takes (header checks, then every tensor read): bit flips, truncations, length
 * field changes, and JSON edits (offsets out of range, overlaps, wrong dtype sizes, huge shapes,
 * non-string metadata, duplicate keys, deep nesting). Each case must end in success (a mutation
 * can leave a valid file) or an EngineError naming the file; never another exception, never a
 * hang (each case is timed).
 */
import { describe, expect, it } from 'vitest';
import { EngineError } from '../errors.js';
import { gaussianNoise } from '../noise/philox.js';
import { bytesSource, encodeSafetensors, SafetensorsReader, type TensorToWrite } from './safetensors.js';
import { seededRandom } from '../noise/seeded-random.js';

const CASES = 10_000;
const NAME = 'fuzz.safetensors';

/** A peft-style LoRA file: 24 tensors in three dtypes, metadata with JSON in it. */
function baseFile(): Uint8Array {
  const tensors: TensorToWrite[] = [];
  for (let i = 0; i < 6; i++) {
    const m = `transformer.transformer_blocks.${i}.attn.to_q`;
    tensors.push({ name: `${m}.lora_A.weight`, dtype: 'F32', shape: [4, 16], data: gaussianNoise(i, 64) });
    tensors.push({ name: `${m}.lora_B.weight`, dtype: 'F32', shape: [16, 4], data: gaussianNoise(i + 100, 64) });
    tensors.push({ name: `${m}.h`, dtype: 'F16', shape: [3, 5], data: new Uint16Array(15).fill(0x3c00) });
    tensors.push({ name: `${m}.b`, dtype: 'BF16', shape: [7], data: new Uint16Array(7).fill(0x3f80) });
  }
  return encodeSafetensors(tensors, { lora_adapter_metadata: JSON.stringify({ 'transformer.r': 4, 'transformer.lora_alpha': 8 }), format: 'pt' });
}

function split(file: Uint8Array): { header: Record<string, unknown>; data: Uint8Array } {
  const n = Number(new DataView(file.buffer).getBigUint64(0, true));
  return { header: JSON.parse(new TextDecoder().decode(file.subarray(8, 8 + n))) as Record<string, unknown>, data: file.subarray(8 + n) };
}

function join(headerText: string, data: Uint8Array, lengthOverride?: bigint): Uint8Array {
  const json = new TextEncoder().encode(headerText);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, lengthOverride ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

type Mutation = (file: Uint8Array, rand: () => number) => Uint8Array;
const pick = <T,>(rand: () => number, xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;

/** A tensor entry to edit (an empty object when an earlier edit removed or replaced it). */
function at(h: Record<string, Record<string, unknown>>, name: string): Record<string, unknown> {
  const e = h[name];
  if (typeof e === 'object' && e !== null && !Array.isArray(e)) return e;
  return (h[name] = {});
}

const JSON_EDITS: Array<(h: Record<string, Record<string, unknown>>, names: string[], rand: () => number) => void> = [
  (h, n, r) => (at(h, pick(r, n)).data_offsets = [0, 1e9 + Math.floor(r() * 1e6)]),
  (h, n, r) => (at(h, pick(r, n)).data_offsets = [-1 - Math.floor(r() * 10), 4]),
  (h, n, r) => (at(h, pick(r, n)).data_offsets = at(h, pick(r, n)).data_offsets),
  (h, n, r) => (at(h, pick(r, n)).data_offsets = [0, 0]),
  (h, n, r) => (at(h, pick(r, n)).data_offsets = [Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER]),
  (h, n, r) => (at(h, pick(r, n)).data_offsets = 'x'),
  (h, n, r) => (at(h, pick(r, n)).dtype = pick(r, ['F16', 'F64', 'I8', 'BF16', 'U64', 'F4', '', 'f32', 7])),
  (h, n, r) => (at(h, pick(r, n)).shape = [2 ** 31, 2 ** 31, 2 ** 31]),
  (h, n, r) => (at(h, pick(r, n)).shape = [Number.MAX_SAFE_INTEGER + 2]),
  (h, n, r) => (at(h, pick(r, n)).shape = [1.5, 2]),
  (h, n, r) => (at(h, pick(r, n)).shape = Array.from({ length: 40 }, () => 1)),
  (h, n, r) => (at(h, pick(r, n)).shape = [-4]),
  (h, n, r) => (at(h, pick(r, n)).shape = null),
  (h, n, r) => (at(h, pick(r, n)).shape = [Math.floor(r() * 100)]),
  (h, n, r) => delete at(h, pick(r, n)).dtype,
  (h, n, r) => (at(h, pick(r, n)).extra = true),
  (h, n, r) => (h[pick(r, n)] = 5 as unknown as Record<string, unknown>),
  (h, _, r) => (h.__metadata__ = { a: pick(r, [1, null, [], {}, true]) } as Record<string, unknown>),
  (h) => (h.__metadata__ = 'text' as unknown as Record<string, unknown>),
  (h, n, r) => delete h[pick(r, n)],
  (h) => (h[''] = { dtype: 'F32', shape: [0], data_offsets: [0, 0] }),
  (h, n, r) => (h[`${pick(r, n)}\u0000\ud800`] = at(h, pick(r, n))),
];

const MUTATIONS: Mutation[] = [
  // bit flips in the length field or the header
  (f, r) => {
    const out = f.slice();
    const n = Number(new DataView(f.buffer).getBigUint64(0, true));
    for (let k = 1 + Math.floor(r() * 8); k > 0; k--) {
      const i = Math.floor(r() * (8 + n));
      out[i] = out[i]! ^ (1 << Math.floor(r() * 8));
    }
    return out;
  },
  // truncation anywhere
  (f, r) => f.slice(0, Math.floor(r() * f.length)),
  // length field changes
  (f, r) => {
    const out = f.slice();
    const v = new DataView(out.buffer);
    const n = v.getBigUint64(0, true);
    const choice = Math.floor(r() * 5);
    const next = [n + BigInt(1 + Math.floor(r() * 64)), n - BigInt(1 + Math.floor(r() * 64)), 2n ** 64n - 1n - BigInt(Math.floor(r() * 1000)), BigInt(Math.floor(r() * 2 ** 32)), 0n][choice]!;
    v.setBigUint64(0, BigInt.asUintN(64, next), true);
    return out;
  },
  // JSON edits
  (f, r) => {
    const { header, data } = split(f);
    const h = header as Record<string, Record<string, unknown>>;
    const names = Object.keys(h).filter((k) => k !== '__metadata__');
    for (let k = 1 + Math.floor(r() * 3); k > 0; k--) pick(r, JSON_EDITS)(h, names, r);
    return join(JSON.stringify(h), data);
  },
  // textual edits of the JSON: duplicate keys, nesting, garbage, numbers out of range
  (f, r) => {
    const { header, data } = split(f);
    let text = JSON.stringify(header);
    const choice = Math.floor(r() * 6);
    if (choice === 0) text = text.replace('}', `},${text.slice(1, text.indexOf('}') + 1)}`);
    else if (choice === 1) text = `{"a":${'['.repeat(1 + Math.floor(r() * 5000))}`;
    else if (choice === 2) text = text.slice(0, Math.floor(r() * text.length)) + pick(r, [',', '}', ']', '"', '\\', 'NaN', '1e999', '\u0001']) + text.slice(Math.floor(r() * text.length));
    else if (choice === 3) text = text.replace(/\d+/, pick(r, ['1e400', '-0', '9007199254740993', '0.5', '01']));
    else if (choice === 4) text = `${text}${' '.repeat(Math.floor(r() * 9))}${pick(r, ['', 'x', '{}'])}`;
    else text = text.replace(/"dtype"/, '"dtype","dtype"');
    return join(text, data);
  },
  // data area shortened or extended, header intact
  (f, r) => {
    const n = Number(new DataView(f.buffer).getBigUint64(0, true));
    const { data } = split(f);
    if (r() < 0.5) return f.slice(0, 8 + n + Math.floor(r() * data.length));
    const out = new Uint8Array(f.length + 1 + Math.floor(r() * 16));
    out.set(f);
    return out;
  },
];

async function consume(bytes: Uint8Array): Promise<'ok'> {
  const reader = await SafetensorsReader.open(bytesSource(NAME, bytes));
  try {
    for (const name of reader.names) {
      const { dtype } = reader.info(name);
      if (dtype === 'F32' || dtype === 'F16' || dtype === 'BF16' || dtype === 'F64') await reader.readFloat32(name);
      else await reader.readBytes(name);
    }
    return 'ok';
  } finally {
    await reader.close();
  }
}

describe('safetensors fuzz', () => {
  it(`${CASES} mutated headers: no crash, no hang, each a clear error or a valid file`, async () => {
    const base = baseFile();
    expect(await consume(base)).toBe('ok');
    const rand = seededRandom(20241128);
    const tally = { ok: 0, errors: 0 };
    const messages = new Map<string, number>();
    let slowest = 0;
    for (let i = 0; i < CASES; i++) {
      const mutated = MUTATIONS[i % MUTATIONS.length]!(base, rand);
      const started = performance.now();
      try {
        await consume(mutated);
        tally.ok++;
      } catch (error) {
        if (!(error instanceof EngineError) || !error.message.startsWith(`${NAME}: `)) {
          throw new Error(`case ${i}: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
        }
        tally.errors++;
        const kind = error.message.replace(/"[^"]*"/g, '""').replace(/\d+/g, 'N').slice(0, 90);
        messages.set(kind, (messages.get(kind) ?? 0) + 1);
      }
      slowest = Math.max(slowest, performance.now() - started);
    }
    expect(tally.ok + tally.errors).toBe(CASES);
    expect(tally.errors).toBeGreaterThan(CASES * 0.8);
    expect(slowest).toBeLessThan(500);
    expect(messages.size).toBeGreaterThan(15);
    process.stdout.write(`safetensors fuzz: ${tally.errors} clear errors, ${tally.ok} still-valid files, ${messages.size} kinds of error, slowest case ${slowest.toFixed(1)} ms\n`);
  });
});
