/**
 * Embedding through the engine's API on the FLUX Optimum twin, with stand-in watermark files whose
 * key_to_lora.onnx targets two of the twin's VAE decoder convs (the real files target the tiny
 * model's; see watermark.zoo.test.ts): switching on bakes the key's LoRA into the VAE decoder (the
 * output changes, its PNG metadata names the key; the user's adapter list does not show it), the
 * switch is remembered per model and restored on the next load, switching off restores the base
 * output bit for bit, user adapters and the watermark coexist, a LoRA that does not fit the decoder
 * is refused with its coverage, and a remembered key that no longer fits makes jobs fail clearly
 * instead of producing unwatermarked images.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Engine } from '../../engine.js';
import { decodeImage } from '../../images/codec.js';
import { readJobMetadata } from '../../images/job-metadata.js';
import { readPngText } from '../../images/png-text.js';
import type { EventEnvelope } from '../../protocol/index.js';
import { loraFile, randomLora } from '../../testing/adapters.js';
import { tempDir } from '../../testing/models.js';
import { twinDir } from '../../testing/twins.js';
import { writeWatermarkFixture, type FixtureTarget } from '../../testing/watermark.js';

const twin = twinDir('flux-optimum');
const TARGETS: FixtureTarget[] = [
  { module: 'decoder.up_blocks.1.resnets.1.conv2', in: 8, out: 8, kernel: 3 },
  { module: 'decoder.up_blocks.1.upsamplers.0.conv', in: 8, out: 8, kernel: 3 },
];
const job = { kind: 'generate' as const, prompt: 'a red cube', seed: 11, steps: 2, width: 64, height: 64 };

function maxDiff(a: Uint8Array, b: Uint8Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('watermark embedding through the engine', () => {
  const assetsDir = writeWatermarkFixture(tempDir('atelier-wm-assets-'), TARGETS);
  const dataDir = tempDir('atelier-wm-data-');
  const make = () => new Engine({ dataDir, modelRoots: [{ dir: twin, explicit: true }], previewEvery: 0, watermarkDir: assetsDir });
  const engine = make();
  const events: EventEnvelope[] = [];
  engine.onEvent((e) => void events.push(e));
  afterAll(() => engine.shutdown());

  async function output(e: Engine = engine) {
    const done = await e.runJob(job);
    return { pixels: (await decodeImage(done.image.bytes, { name: 'output' })).data, metadata: done.metadata, png: done.image.bytes };
  }

  it('bakes the key into the VAE decoder, records it in the PNG, and switches off exactly', async () => {
    const model = engine.listModels()[0]!;
    await engine.loadModel(model.id, 'cpu');
    expect(engine.watermarkState()).toEqual({ modelId: model.id, enabled: false, keyId: null, keyName: null, active: false, problem: null });
    const base = await output();
    expect(base.metadata.watermarkKey).toBeUndefined();

    await expect(engine.setWatermark(true)).rejects.toThrow(/choose a watermark key/);
    const key = await engine.createWatermarkKey('Studio');
    expect(events.some((e) => e.event === 'watermarkKeysChanged')).toBe(true);
    const state = await engine.setWatermark(true, key.id);
    expect(state).toEqual({ modelId: model.id, enabled: true, keyId: key.id, keyName: 'Studio', active: true, problem: null });
    expect(events.filter((e) => e.event === 'watermarkChanged').at(-1)!.data).toEqual(state);
    expect(engine.hello().adapters).toEqual([]); // the watermark's LoRA is not a user adapter

    const marked = await output();
    expect(marked.metadata.watermarkKey).toBe(key.id);
    expect(readJobMetadata(marked.png)?.watermarkKey).toBe(key.id);
    expect(readPngText(marked.png).get('parameters')).toMatch(new RegExp(`, Watermark key: ${key.id}, Version: `));
    expect(maxDiff(marked.pixels, base.pixels)).toBeGreaterThan(0);

    // another key gives another LoRA, so other pixels
    const other = await engine.createWatermarkKey('Other');
    await engine.setWatermark(true, other.id);
    const marked2 = await output();
    expect(marked2.metadata.watermarkKey).toBe(other.id);
    expect(maxDiff(marked2.pixels, marked.pixels)).toBeGreaterThan(0);

    await engine.setWatermark(false);
    const off = await output();
    expect(off.metadata.watermarkKey).toBeUndefined();
    expect(maxDiff(off.pixels, base.pixels)).toBe(0);
    expect(engine.watermarkState()).toMatchObject({ enabled: false, keyId: other.id, active: false });
  });

  it('keeps the watermark under the user adapters, and the switch across loads', async () => {
    const model = engine.listModels()[0]!;
    const key = (await engine.watermarkKeys()).find((k) => k.name === 'Studio')!;
    await engine.setWatermark(true, key.id);
    const marked = await output();
    const transformer = path.join(twin, 'transformer', 'model.onnx');
    const bytes = loraFile(randomLora(transformer, ['transformer_blocks.0.attn.to_q'], { rank: 4, alpha: 4, scale: 0.6 }), 'peft');
    const info = await engine.inspectAdapter({ name: 'style.safetensors', bytes });
    const listed = await engine.setAdapters([{ id: info.id, enabled: true, weight: 1, mode: 'live' }]);
    expect(listed.map((a) => a.id)).toEqual([info.id]);
    const both = await output();
    expect(both.metadata.watermarkKey).toBe(key.id);
    expect(maxDiff(both.pixels, marked.pixels)).toBeGreaterThan(0);
    await engine.setAdapters([]);
    expect(maxDiff((await output()).pixels, marked.pixels)).toBe(0); // the watermark stayed

    await engine.unloadModel();
    expect(engine.watermarkState()).toMatchObject({ modelId: null, active: false });
    expect(events.filter((e) => e.event === 'watermarkChanged').at(-1)!.data).toMatchObject({ modelId: null, active: false });
    await engine.loadModel(model.id, 'cpu');
    expect(engine.watermarkState()).toMatchObject({ enabled: true, keyId: key.id, active: true });
    const again = await output();
    expect(again.metadata.watermarkKey).toBe(key.id);
    expect(maxDiff(again.pixels, marked.pixels)).toBe(0);

    const fresh = make(); // a new engine process reads the remembered switch
    try {
      await fresh.loadModel(model.id, 'cpu');
      expect(fresh.watermarkState()).toMatchObject({ enabled: true, keyId: key.id, active: true });
      expect((await output(fresh)).metadata.watermarkKey).toBe(key.id);
    } finally {
      await fresh.shutdown();
    }
  });

  it('refuses a key whose LoRA does not fit, and fails jobs instead of making unwatermarked images', async () => {
    const model = engine.listModels()[0]!;
    const wrong = writeWatermarkFixture(tempDir('atelier-wm-assets-'), [{ module: 'decoder.up_blocks.1.resnets.1.conv2', in: 64, out: 64, kernel: 3 }], { demo: false });
    const otherEngine = new Engine({ dataDir: tempDir('atelier-wm-data-'), modelRoots: [{ dir: twin, explicit: true }], previewEvery: 0, watermarkDir: wrong });
    try {
      await otherEngine.loadModel(model.id, 'cpu');
      const key = await otherEngine.createWatermarkKey('Too big');
      await expect(otherEngine.setWatermark(true, key.id)).rejects.toThrow(
        /^watermark key Too big cannot be embedded in .*: its LoRA does not fit this model's VAE decoder \(0 of 1 targets mapped; .*\); the watermark is made for the tiny model's VAE$/,
      );
      expect(otherEngine.watermarkState()).toMatchObject({ enabled: false, active: false });
      expect((await output(otherEngine)).metadata.watermarkKey).toBeUndefined();
    } finally {
      await otherEngine.shutdown();
    }

    // the remembered key's LoRA file was replaced by one for another model (targets outside the VAE): the load keeps the problem
    const key = (await engine.watermarkKeys()).find((k) => k.name === 'Studio')!;
    const loraPath = path.join(dataDir, 'watermark', 'keys', `${key.id}.peft.safetensors`);
    const saved = readFileSync(loraPath);
    writeFileSync(loraPath, loraFile(randomLora(path.join(twin, 'vae_decoder', 'model.onnx'), ['decoder.conv_in'], { rank: 4 }), 'peft'));
    try {
      await engine.unloadModel();
      await engine.loadModel(model.id, 'cpu');
      const state = engine.watermarkState();
      expect(state).toMatchObject({ enabled: true, active: false });
      expect(state.problem).toMatch(/cannot be embedded/);
      expect(() => engine.submitJob(job)).toThrow(/^watermark embedding is switched on for .* but cannot work: .*; switch it off \(or choose another key\) to make images$/);
      await engine.setWatermark(false);
      expect((await output()).metadata.watermarkKey).toBeUndefined();
    } finally {
      writeFileSync(loraPath, saved);
    }
  });

  it('deleting the embedded key switches embedding off', async () => {
    const key = (await engine.watermarkKeys()).find((k) => k.name === 'Studio')!;
    await engine.setWatermark(true, key.id);
    expect(engine.watermarkState().active).toBe(true);
    await engine.deleteWatermarkKey(key.id);
    expect(engine.watermarkState()).toMatchObject({ enabled: false, active: false });
    expect((await output()).metadata.watermarkKey).toBeUndefined();
    await expect(engine.deleteWatermarkKey('demo')).rejects.toThrow(/built-in demo key/);
  });
});
