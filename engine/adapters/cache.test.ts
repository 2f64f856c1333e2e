/**
 * The content-addressed cache of adapted graphs, on a twin with external data: a bake writes only
 * the patched tensors (its own data file) and hard-links the base's data (ONNX Runtime refuses
 * absolute, outward and symlinked locations); asking again reuses the entry; another weight is
 * another entry; a changed base prunes the stale entries; a live graph stacks on a baked one
 * without touching its data.
 */
import { readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseModel } from '../onnx/proto.js';
import { externalRef } from '../onnx/tensor-data.js';
import { openSession } from '../runtime/session.js';
import { copyTwin } from '../testing/twins.js';
import { tempDir } from '../testing/models.js';
import { loraFile, randomLora } from '../testing/adapters.js';
import { bakeGraph } from './bake.js';
import { loadAdapterFile } from './loaded.js';
import { planGraph } from './stack.js';

describe('adapter cache', () => {
  it('bakes into a content-addressed entry with hard-linked base data, reused, pruned when the base changes', async () => {
    const dir = copyTwin('flux-optimum');
    const source = path.join(dir, 'transformer', 'model.onnx');
    const cacheDir = tempDir();
    const lora = path.join(tempDir(), 'l.safetensors');
    writeFileSync(lora, loraFile(randomLora(source, ['transformer_blocks.0.attn.to_q', 'single_transformer_blocks.0.proj_mlp'], { rank: 2 }), 'peft'));
    const loaded = await loadAdapterFile(lora);

    const first = await bakeGraph({ cacheDir, source, component: 'denoiser', uses: [{ loaded, weight: 1 }] });
    expect(first).toMatchObject({ reused: false, patched: 2, notice: null });
    const entry = path.dirname(first.file);
    const files = readdirSync(entry).sort();
    expect(files).toEqual(['adapters.' + path.basename(entry).slice(0, 8) + '.onnx_data', 'meta.json', 'model.onnx', 'model.onnx_data'].sort());
    expect(statSync(path.join(entry, 'model.onnx_data')).ino).toBe(statSync(path.join(dir, 'transformer', 'model.onnx_data')).ino);
    const model = parseModel(new Uint8Array(readFileSync(first.file)), first.file);
    const locations = new Set(model.graph!.initializer.map((t) => externalRef(t)?.location).filter(Boolean));
    expect([...locations].sort()).toEqual([files[0], 'model.onnx_data'].sort());
    expect(statSync(path.join(entry, files[0]!)).size).toBeLessThan(statSync(path.join(entry, 'model.onnx_data')).size);
    await (await openSession(first.file, { provider: 'cpu' })).release(); // ONNX Runtime accepts the layout

    const again = await bakeGraph({ cacheDir, source, component: 'denoiser', uses: [{ loaded, weight: 1 }] });
    expect(again).toMatchObject({ file: first.file, reused: true, patched: 0 });
    const other = await bakeGraph({ cacheDir, source, component: 'denoiser', uses: [{ loaded, weight: 0.5 }] });
    expect(other.file).not.toBe(first.file);

    // a live graph on top of the baked one: its own data file, the baked data linked, untouched
    const bakedData = path.join(entry, files[0]!);
    const before = readFileSync(bakedData);
    const second = path.join(tempDir(), 'm.safetensors');
    writeFileSync(second, loraFile(randomLora(source, ['transformer_blocks.0.attn.to_q'], { rank: 2, seed: 9 }), 'peft'));
    const live = await loadAdapterFile(second);
    const mixed = await planGraph(source, 'denoiser', [{ loaded, weight: 1, mode: 'bake', perToken: false }, { loaded: live, weight: 1, mode: 'live', perToken: false }], cacheDir);
    const liveEntry = path.dirname(mixed!.file);
    expect(liveEntry).not.toBe(entry);
    expect(statSync(path.join(liveEntry, files[0]!)).ino).toBe(statSync(bakedData).ino);
    expect(readFileSync(bakedData).equals(before)).toBe(true);
    await (await openSession(mixed!.file, { provider: 'cpu' })).release();

    const t = new Date(Date.now() + 5000);
    utimesSync(source, t, t); // the base changed: the next miss prunes the stale entries
    const fresh = await bakeGraph({ cacheDir, source, component: 'denoiser', uses: [{ loaded, weight: 1 }] });
    expect(fresh.reused).toBe(false);
    expect(readdirSync(cacheDir)).toEqual([path.basename(path.dirname(fresh.file))]);
  });
});
