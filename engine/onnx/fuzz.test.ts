/**
 * Fuzz: 1,000 deterministic mutations (seeded PRNG) of a real exported graph (a twin's text
 * encoder) through the paths a user's model takes before any session exists: the streaming
 * signature reader (engine/onnx/signature.ts, from the file) and the full parse plus the adapters'
 * module index (engine/adapters/mapping.ts). Bit flips, truncations, huge varints, inserted and
 * deleted bytes, duplicated chunks, zeroed runs: each case ends in success (a flip inside weight
 * bytes leaves a valid model) or an EngineError naming the file, never another exception or a hang.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { EngineError } from '../errors.js';
import { indexGraphFile } from '../adapters/mapping.js';
import { tempDir } from '../testing/models.js';
import { twinDir } from '../testing/twins.js';
import { readGraphSignature } from './signature.js';
import { seededRandom } from '../noise/seeded-random.js';

const CASES = 1_000;

type Mutation = (b: Uint8Array, r: () => number) => Uint8Array;
const at = (b: Uint8Array, r: () => number) => Math.floor(r() * b.length);
// the structure (graph, nodes, value infos) sits mostly before and between the weights: aim there half of the time
const near = (b: Uint8Array, r: () => number) => (r() < 0.5 ? Math.floor(r() * Math.min(b.length, 4096)) : at(b, r));

const MUTATIONS: Mutation[] = [
  (b, r) => {
    const out = b.slice();
    for (let k = 1 + Math.floor(r() * 16); k > 0; k--) {
      const i = near(b, r);
      out[i] = out[i]! ^ (1 << Math.floor(r() * 8));
    }
    return out;
  },
  (b, r) => b.slice(0, near(b, r)),
  (b, r) => {
    const out = b.slice();
    const i = near(b, r);
    out.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01].slice(0, Math.min(10, b.length - i)), i);
    return out;
  },
  (b, r) => {
    const i = near(b, r);
    const junk = Uint8Array.from({ length: 1 + Math.floor(r() * 32) }, () => Math.floor(r() * 256));
    return Uint8Array.from([...b.subarray(0, i), ...junk, ...b.subarray(i)]);
  },
  (b, r) => {
    const i = near(b, r);
    return Uint8Array.from([...b.subarray(0, i), ...b.subarray(Math.min(b.length, i + 1 + Math.floor(r() * 64)))]);
  },
  (b, r) => {
    const i = near(b, r);
    const j = Math.min(b.length, i + 1 + Math.floor(r() * 256));
    return Uint8Array.from([...b.subarray(0, j), ...b.subarray(i, j), ...b.subarray(j)]);
  },
  (b, r) => {
    const out = b.slice();
    out.fill(0, near(b, r), near(b, r) + Math.floor(r() * 64));
    return out;
  },
];

function check(file: string, error: unknown, where: string, i: number): 'error' {
  if (!(error instanceof EngineError) || !error.message.startsWith(file)) {
    throw new Error(`case ${i} (${where}): ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
  }
  return 'error';
}

describe('ONNX fuzz', () => {
  it(`${CASES} mutated ONNX files: no crash, no hang, each a clear error or a valid model`, () => {
    const base = new Uint8Array(readFileSync(path.join(twinDir('sd15-optimum-fp16'), 'text_encoder', 'model.onnx')));
    const file = path.join(tempDir(), 'fuzz.onnx');
    const rand = seededRandom(1128);
    const tally = { signatureErrors: 0, parseErrors: 0, valid: 0 };
    let slowest = 0;
    for (let i = 0; i < CASES; i++) {
      const bytes = MUTATIONS[i % MUTATIONS.length]!(base, rand);
      writeFileSync(file, bytes);
      const started = performance.now();
      let failed = false;
      try {
        readGraphSignature(file);
      } catch (error) {
        check(file, error, 'signature', i);
        tally.signatureErrors++;
        failed = true;
      }
      try {
        indexGraphFile(file, bytes);
      } catch (error) {
        check(file, error, 'parse + index', i);
        tally.parseErrors++;
        failed = true;
      }
      if (!failed) tally.valid++;
      slowest = Math.max(slowest, performance.now() - started);
    }
    expect(slowest).toBeLessThan(2000);
    expect(tally.valid).toBeLessThan(CASES);
    process.stdout.write(`ONNX fuzz: ${CASES} cases, signature reader errors ${tally.signatureErrors}, parse/index errors ${tally.parseErrors}, valid ${tally.valid}, slowest ${slowest.toFixed(1)} ms\n`);
  });
});
