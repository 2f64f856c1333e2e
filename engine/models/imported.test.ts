import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Engine } from '../engine.js';
import { tempDir } from '../testing/models.js';
import { ImportedModels } from './imported.js';

const twin = fileURLToPath(new URL('../../models/twins/flux-optimum', import.meta.url));

function engineIn(dataDir: string): { engine: Engine; warnings: string[] } {
  const engine = new Engine({ dataDir, modelRoots: [] });
  const warnings: string[] = [];
  engine.onEvent((e) => {
    if (e.event === 'log' && e.data.level === 'warn') warnings.push(e.data.message);
  });
  return { engine, warnings };
}

describe('importing model folders', () => {
  it('validates a usable folder, adds it to the catalog and keeps it across engine restarts', async () => {
    const dataDir = tempDir();
    const folder = path.join(tempDir(), 'my flux');
    cpSync(twin, folder, { recursive: true });
    const { engine } = engineIn(dataDir);
    expect(engine.listModels()).toEqual([]);

    const result = await engine.importModel(folder);
    expect(result).toMatchObject({ ok: true, dir: folder, layout: 'optimum-flux', problems: [] });
    expect(result.found.some((f) => f.startsWith('transformer/model.onnx'))).toBe(true);
    expect(result.model).toMatchObject({ path: folder, embedded: false });

    const again = engineIn(dataDir).engine;
    expect(again.listModels().map((m) => m.path)).toEqual([folder]);
    expect(JSON.parse(readFileSync(path.join(dataDir, 'imported-models.json'), 'utf8'))).toEqual({ version: 1, folders: [folder] });

    // Importing twice records it once.
    await again.importModel(folder);
    expect(again.listModels()).toHaveLength(1);

    expect(await again.forgetModel(result.model!.id)).toBe(true);
    expect(again.listModels()).toEqual([]);
    expect(existsSync(path.join(folder, 'transformer', 'model.onnx'))).toBe(true); // files untouched
  });

  it('reports exactly what is wrong with a bad folder and records nothing', async () => {
    const dataDir = tempDir();
    const folder = path.join(tempDir(), 'broken');
    cpSync(twin, folder, { recursive: true });
    rmSync(path.join(folder, 'vae_decoder'), { recursive: true });
    const { engine } = engineIn(dataDir);

    const result = await engine.importModel(folder);
    expect(result.ok).toBe(false);
    expect(result.model).toBeNull();
    expect(result.problems.join('\n')).toMatch(/vae_decoder/);
    expect(existsSync(path.join(dataDir, 'imported-models.json'))).toBe(false);

    const missing = await engine.importModel(path.join(folder, 'no-such-folder'));
    expect(missing).toMatchObject({ ok: false, layout: 'none' });
    expect(missing.problems[0]).toMatch(/model folder not found/);
    expect(engine.listModels()).toEqual([]);
  });

  it('names a corrupt list file, and the catalog keeps listing the other models', async () => {
    const dataDir = tempDir();
    mkdirSync(dataDir, { recursive: true });
    const list = new ImportedModels(dataDir);
    writeFileSync(list.file, '{"version": 1, "folders": [');
    expect(() => list.folders()).toThrow(`${list.file}: the imported models list is not valid JSON; fix or delete it`);
    writeFileSync(list.file, '{"version": 2, "folders": []}');
    expect(() => list.folders()).toThrow(/imported-models\.json: the imported models list is malformed/);

    const modelsRoot = tempDir();
    cpSync(twin, path.join(modelsRoot, 'flux'), { recursive: true });
    const engine = new Engine({ dataDir, modelRoots: [{ dir: modelsRoot }] });
    const warnings: string[] = [];
    engine.onEvent((e) => {
      if (e.event === 'log' && e.data.level === 'warn') warnings.push(e.data.message);
    });
    expect(engine.listModels()).toHaveLength(1);
    expect(warnings[0]).toMatch(/imported-models\.json/);
    const id = engine.listModels()[0]!.id;
    await expect(engine.forgetModel(id)).rejects.toThrow(/imported-models\.json/);
    // Once the list is readable: a model that was not imported cannot be forgotten.
    writeFileSync(list.file, '{"version": 1, "folders": []}');
    expect(await engine.forgetModel(id)).toBe(false);
  });

  it('keeps every folder when imports and forgets overlap', async () => {
    const dataDir = tempDir();
    const folders = ['a', 'b', 'c', 'd'].map((name) => {
      const folder = path.join(tempDir(), name);
      cpSync(twin, folder, { recursive: true });
      return folder;
    });
    const list = new ImportedModels(dataDir);
    await Promise.all(folders.map((f) => list.import(f)));
    expect([...list.folders()].sort()).toEqual([...folders].sort());
    const [gone, ...rest] = await Promise.all([list.forget(folders[0]!), list.import(folders[1]!), list.forget(folders[2]!), list.forget(folders[2]!)]);
    expect([gone, ...rest.slice(1)]).toEqual([true, true, false]);
    expect([...list.folders()].sort()).toEqual([folders[1]!, folders[3]!].sort());
  });

  it('refuses to forget a loaded model that was not imported, and leaves it loaded', async () => {
    const modelsRoot = tempDir();
    cpSync(twin, path.join(modelsRoot, 'flux'), { recursive: true });
    const engine = new Engine({ dataDir: tempDir(), modelRoots: [{ dir: modelsRoot }] });
    const id = engine.listModels()[0]!.id;
    await engine.loadModel(id, 'cpu');
    expect(await engine.forgetModel(id)).toBe(false);
    expect(engine.loadedModel?.id).toBe(id);
    await engine.unloadModel();
  });
});
