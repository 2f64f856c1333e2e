/**
 * Adapters through the engine's API on the FLUX Optimum twin: inspectAdapter (bytes from the UI,
 * with coverage), setAdapters live and baked, a live weight change that reopens nothing, removal
 * restoring the base images bit for bit, refusal of adapters that do not fit (and allowPartial),
 * per-token scales refused on image-stream layers, and adapters cleared by a model load.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { Engine } from '../engine.js';
import { decodeImage } from '../images/codec.js';
import type { EventEnvelope } from '../protocol/index.js';
import { ModelSession } from '../runtime/session.js';
import { loraFile, randomLora } from '../testing/adapters.js';
import { tempDir } from '../testing/models.js';
import { twinDir } from '../testing/twins.js';

const twin = twinDir('flux-optimum');
const transformer = path.join(twin, 'transformer', 'model.onnx');
const job = { kind: 'generate' as const, prompt: 'a red cube', seed: 5, steps: 2, width: 64, height: 64 };

async function pixels(engine: Engine): Promise<Uint8Array> {
  const done = await engine.runJob(job);
  return (await decodeImage(done.image.bytes, { name: 'output' })).data;
}

function maxDiff(a: Uint8Array, b: Uint8Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('adapters through the engine', () => {
  const engine = new Engine({ dataDir: tempDir(), modelRoots: [{ dir: twin, explicit: true }], previewEvery: 0 });
  const events: EventEnvelope[] = [];
  engine.onEvent((e) => void events.push(e));
  afterAll(() => engine.shutdown());

  it('inspects, applies live and baked, changes live weights without reopening, and removes exactly', async () => {
    const model = engine.listModels()[0]!;
    await engine.loadModel(model.id, 'cpu');
    const base = await pixels(engine);
    const modules = ['transformer_blocks.0.attn.to_q', 'transformer_blocks.0.attn.to_k', 'transformer_blocks.0.attn.to_v', 'transformer_blocks.0.ff.net.2', 'single_transformer_blocks.0.proj_mlp'];
    const bytes = loraFile(randomLora(transformer, modules, { rank: 4, alpha: 4, scale: 0.6 }), 'peft');
    const info = await engine.inspectAdapter({ name: 'style.safetensors', bytes });
    expect(info).toMatchObject({ name: 'style.safetensors', format: 'peft', ranks: [4], targets: 5, components: ['denoiser'] });
    expect(info.coverage).toMatchObject({ targets: 5, mapped: 5, complete: true, truncated: false });

    expect(await engine.setAdapters([{ id: info.id, enabled: true, weight: 1, mode: 'live' }])).toEqual([{ id: info.id, name: 'style.safetensors', enabled: true, weight: 1, mode: 'live', perToken: false, allowPartial: false }]);
    expect(events.filter((e) => e.event === 'adaptersChanged').at(-1)!.data).toMatchObject({ adapters: [{ id: info.id, weight: 1 }] });
    expect(engine.hello().adapters).toHaveLength(1);
    const live1 = await pixels(engine);
    expect(maxDiff(live1, base)).toBeGreaterThan(0);

    const releases = vi.spyOn(ModelSession.prototype, 'release');
    await engine.setAdapters([{ id: info.id, enabled: true, weight: 0.5, mode: 'live' }]);
    const live05 = await pixels(engine);
    expect(releases).not.toHaveBeenCalled(); // a weight change reopens nothing
    releases.mockRestore();

    await engine.setAdapters([{ id: info.id, enabled: true, weight: 0.5, mode: 'bake' }]);
    expect(maxDiff(await pixels(engine), live05)).toBeLessThanOrEqual(1);

    await engine.setAdapters([{ id: info.id, enabled: false, weight: 0.5, mode: 'bake' }]);
    expect(maxDiff(await pixels(engine), base)).toBe(0);
    await engine.setAdapters([]);
    expect(maxDiff(await pixels(engine), base)).toBe(0);
  });

  it('refuses adapters that do not fit (unless partial), and per-token scales off the text stream', async () => {
    const lora = randomLora(transformer, ['transformer_blocks.0.attn.to_q', 'transformer_blocks.0.attn.add_q_proj'], { rank: 2 });
    const bytes = loraFile([...lora, { ...lora[0]!, module: 'transformer_blocks.9.attn.to_q' }], 'peft');
    const info = await engine.inspectAdapter({ name: 'partial.safetensors', bytes });
    expect(info.coverage).toMatchObject({ targets: 3, mapped: 2, complete: false });
    expect(info.coverage!.entries[0]).toMatchObject({ mapped: false, module: 'transformer_blocks.9.attn.to_q' });
    await expect(engine.setAdapters([{ id: info.id, enabled: true, weight: 1, mode: 'live' }])).rejects.toThrow(/partial.safetensors does not fully fit this model: 2 of 3 targets mapped; no module transformer_blocks\.9/);
    await expect(engine.setAdapters([{ id: info.id, enabled: true, weight: 1, mode: 'live', allowPartial: true, perToken: true }])).rejects.toThrow(/a per-token scale needs every layer to run over the text tokens; 2 do not \(e\.g\. transformer_blocks\.0\.attn\.to_q\)/);
    expect(await engine.setAdapters([{ id: info.id, enabled: true, weight: 1, mode: 'live', allowPartial: true }])).toHaveLength(1);
    await expect(engine.setAdapters([{ id: 'ffffffffffffffff', enabled: true, weight: 1, mode: 'live' }])).rejects.toThrow(/no adapter with id/);
    await expect(engine.inspectAdapter({ name: 'notes.safetensors', bytes: new TextEncoder().encode('just some notes, no header') })).rejects.toThrow(/^notes\.safetensors: not a valid safetensors file: header length \d+ exceeds/);
    expect(readdirSync(path.join(engine.dataDir, 'adapters'))).toHaveLength(2); // the bad upload was not stored
    await expect(engine.inspectAdapter({ path: '/etc/hostname' })).rejects.toThrow(/adapters are \.safetensors files/);

    await engine.loadModel(engine.listModels()[0]!.id, 'cpu');
    expect(engine.hello().adapters).toEqual([]);
    expect(events.filter((e) => e.event === 'adaptersChanged').at(-1)!.data).toEqual({ adapters: [] });
  });
});
