/**
 * Graph preparation on the BFL twin's bfloat16 graphs and an in-graph-sampling VAE encoder:
 * onnxruntime-node refuses the originals (or runs them non-reproducibly), opens the prepared
 * copies, finds their external data through hard links, and reuses the cache until the source
 * changes.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, utimesSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ort } from './ort.js';
import { prepareGraph, pruneGraphCache } from './graph-cache.js';
import { openSession } from './session.js';
import { float32Of, tensorFor } from './tensors.js';
import { tempDir } from '../testing/models.js';
import { copyTwin, twinDir } from '../testing/twins.js';
import { gaussianNoise } from '../noise/philox.js';

describe('prepareGraph', () => {
  it('rewrites bfloat16 I/O to float32, hard-links the external data and reuses the cache', async () => {
    const dir = copyTwin('flux-bfl');
    const source = path.join(dir, 'transformer.opt/bf16/model.onnx');
    const cacheDir = tempDir();
    await expect(ort.InferenceSession.create(source)).rejects.toThrow(/Unsupported data type/);

    const prepared = prepareGraph(source, { cacheDir });
    expect(path.dirname(path.dirname(prepared.file))).toBe(cacheDir);
    expect(prepared.changes).toEqual(['bfloat16 I/O made float32 with Cast nodes: hidden_states, encoder_hidden_states, pooled_projections, timestep, latent']);
    const link = path.join(path.dirname(prepared.file), 'backbone.onnx_data');
    expect(statSync(link).ino).toBe(statSync(path.join(dir, 'transformer.opt/bf16/backbone.onnx_data')).ino);

    const session = await openSession(prepared.file, { provider: 'cpu' });
    expect(session.inputs.map((i) => `${i.name}:${i.type}`)).toEqual([
      'hidden_states:float32',
      'encoder_hidden_states:float32',
      'pooled_projections:float32',
      'timestep:float32',
      'img_ids:float32',
      'txt_ids:float32',
      'guidance:float32',
    ]);
    expect(session.outputs.map((o) => `${o.name}:${o.type}`)).toEqual(['latent:float32']);
    const L = 16;
    const out = await session.run({
      hidden_states: tensorFor(session.input('hidden_states'), gaussianNoise(1, L * 64), [1, L, 64]),
      encoder_hidden_states: tensorFor(session.input('encoder_hidden_states'), gaussianNoise(2, 512 * 32), [1, 512, 32]),
      pooled_projections: tensorFor(session.input('pooled_projections'), gaussianNoise(3, 16), [1, 16]),
      timestep: tensorFor(session.input('timestep'), [0.5], [1]),
      img_ids: tensorFor(session.input('img_ids'), new Float32Array(L * 3), [L, 3]),
      txt_ids: tensorFor(session.input('txt_ids'), new Float32Array(512 * 3), [512, 3]),
      guidance: tensorFor(session.input('guidance'), [3.5], [1]),
    });
    expect(out.latent!.dims).toEqual([1, L, 64]);
    expect(float32Of(out.latent!).every(Number.isFinite)).toBe(true);
    await session.release();

    const mtime = statSync(prepared.file).mtimeMs;
    expect(prepareGraph(source, { cacheDir })).toEqual(prepared);
    expect(statSync(prepared.file).mtimeMs).toBe(mtime);

    // A changed source gets a new entry; the stale one is pruned.
    utimesSync(source, new Date(), new Date(Date.now() + 5000));
    const again = prepareGraph(source, { cacheDir });
    expect(again.file).not.toBe(prepared.file);
    expect(existsSync(prepared.file)).toBe(false);
    expect(readdirSync(cacheDir)).toHaveLength(1);

    // A deleted model's entry (and the hard link to its data) goes at the next prune.
    rmSync(dir, { recursive: true });
    pruneGraphCache(cacheDir);
    expect(readdirSync(cacheDir)).toEqual([]);
  });

  // /dev/shm is another file system on Linux CI machines: hard links into it fail with EXDEV.
  const otherDrive = existsSync('/dev/shm') && statSync('/dev/shm').dev !== statSync(tempDir()).dev ? '/dev/shm' : null;
  it.skipIf(otherDrive === null)('writes the prepared graph beside the source when the cache is on another drive', async () => {
    const dir = copyTwin('flux-bfl');
    const source = path.join(dir, 'transformer.opt/bf16/model.onnx');
    const cacheDir = mkdtempSync(path.join(otherDrive!, 'atelier-test-'));
    try {
      const prepared = prepareGraph(source, { cacheDir });
      expect(path.dirname(prepared.file)).toBe(path.dirname(source));
      expect(prepared.notice).toMatch(/written beside it .*cannot be hard-linked/);
      const session = await openSession(prepared.file, { provider: 'cpu' });
      expect(session.input('hidden_states').type).toBe('float32');
      await session.release();
    } finally {
      rmSync(cacheDir, { recursive: true, force: true });
    }
  });

  it('leaves graphs that need nothing alone', () => {
    const source = path.join(twinDir('flux-bfl'), 'clip.opt/model.onnx');
    expect(prepareGraph(source, { cacheDir: tempDir() })).toEqual({ file: source, changes: [], notice: null });
  });

  it('makes an in-graph sampling VAE encoder return the mean, reproducibly', async () => {
    const source = path.join(twinDir('sd15-diffusers'), 'vae_encoder/model.onnx');
    const image = gaussianNoise(7, 3 * 32 * 32).map((v) => Math.tanh(v));
    /** Two encodings of the same image in one session. */
    const encodeTwice = async (file: string) => {
      const session = await openSession(file, { provider: 'cpu' });
      const run = async () => float32Of((await session.run({ sample: tensorFor(session.input('sample'), image, [1, 3, 32, 32]) })).latent_sample!).slice();
      const out = [await run(), await run()];
      await session.release();
      return out;
    };
    const raw = await encodeTwice(source);
    expect(raw[0]).not.toEqual(raw[1]); // the original draws new noise on every run
    const cacheDir = tempDir();
    const prepared = prepareGraph(source, { cacheDir, meanLatents: true });
    expect(prepared.changes).toEqual(['in-graph sampling replaced by the mean (1 RandomNormalLike)']);
    const mean = await encodeTwice(prepared.file);
    expect(mean[0]).toEqual(mean[1]);
    // An encoder without sampling is recorded as unchanged and used as is.
    const plain = path.join(twinDir('flux-optimum'), 'vae_encoder/model.onnx');
    expect(prepareGraph(plain, { cacheDir, meanLatents: true }).file).toBe(plain);
    expect(prepareGraph(plain, { cacheDir, meanLatents: true }).file).toBe(plain);
  });
});
