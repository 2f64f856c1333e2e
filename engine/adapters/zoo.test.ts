/**
 * The zoo's trained adapters on the default model (models/tiny/adapters, written by
 * `cd models/zoo && /usr/bin/python3 -m zoo.lora`): every key format of every adapter, baked and as
 * live branches, must give the PyTorch reference outputs (computed in float64) within the
 * manifest's tolerance (1e-4): scalar scales, SliderEdit's per-token scales over the text tokens,
 * several adapters at once, and the Conv LoRA on the VAE decoder.
 * Skips, saying why, until the zoo has built the adapters (the trained model comes first).
 * ATELIER_ZOO_ADAPTERS points at another adapters folder (e.g. a smoke build's).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../paths.js';
import { ort, type OrtFeeds } from '../runtime/ort.js';
import { openSession } from '../runtime/session.js';
import { float32Of } from '../runtime/tensors.js';
import { tempDir } from '../testing/models.js';
import { maxAbsDiff } from '../testing/adapters.js';
import { loadAdapterFile, type LoadedAdapter } from './loaded.js';
import { SafetensorsReader } from './safetensors.js';
import { AdapterScales, planGraph, type AdapterSlot } from './stack.js';
import type { Component } from './model.js';

interface Manifest {
  model: string;
  tolerance: number;
  references: string;
  graphs: Record<string, string>;
  inputs: Record<string, string[]>;
  adapters: Record<string, { component: Component; files: Record<string, string> }>;
  cases: Array<{ name: string; graph: string; output: string; adapters: Array<{ adapter: string; scale: number; tokens: string | null }> }>;
}

const dir = process.env.ATELIER_ZOO_ADAPTERS ? path.resolve(process.env.ATELIER_ZOO_ADAPTERS) : path.join(packageRoot(), 'models', 'tiny', 'adapters');
const manifestFile = path.join(dir, 'manifest.json');
const present = existsSync(manifestFile);

if (!present) {
  describe('zoo adapters', () => {
    it.skip(`skipped: ${dir} is absent (build it with: cd models/zoo && /usr/bin/python3 -m zoo.lora, after the trained tiny Kontext model exists)`, () => undefined);
  });
} else {
  const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as Manifest;
  const modelDir = path.resolve(dir, manifest.model);
  const cacheDir = tempDir();
  const worst = new Map<string, number>();
  let refs: SafetensorsReader;
  const loaded = new Map<string, LoadedAdapter>();

  const reference = async (name: string) => refs.readFloat32(name);
  const adapter = async (file: string) => {
    let l = loaded.get(file);
    if (!l) loaded.set(file, (l = await loadAdapterFile(path.join(dir, file))));
    return l;
  };

  async function inputFeeds(graph: string): Promise<OrtFeeds> {
    const feeds: OrtFeeds = {};
    for (const name of manifest.inputs[graph]!) {
      const key = `inputs.${graph}.${name}`;
      feeds[name] = new ort.Tensor('float32', await refs.readFloat32(key), refs.info(key).shape);
    }
    return feeds;
  }

  async function run(file: string, graph: string, extra: OrtFeeds): Promise<Float32Array> {
    const session = await openSession(file, { provider: 'cpu' });
    try {
      const out = await session.run({ ...(await inputFeeds(graph)), ...extra });
      return float32Of(out[session.outputs[0]!.name]!).slice();
    } finally {
      await session.release();
    }
  }

  function note(label: string, error: number): void {
    worst.set(label, Math.max(worst.get(label) ?? 0, error));
  }

  describe('zoo adapters', () => {
    afterAll(async () => {
      await refs?.close();
      const lines = [...worst.entries()].map(([k, v]) => `${k}: ${v.toExponential(2)}`);
      process.stdout.write(`zoo adapters, max abs difference to PyTorch (tolerance ${manifest.tolerance}):\n  ${lines.join('\n  ')}\n`);
    });

    it('the base graphs match PyTorch', async () => {
      refs = await SafetensorsReader.openFile(path.join(dir, manifest.references));
      for (const c of manifest.cases.filter((x) => x.adapters.length === 0)) {
        const out = await run(path.join(modelDir, manifest.graphs[c.graph]!), c.graph, {});
        const error = maxAbsDiff(out, await reference(c.output));
        note('base', error);
        expect(error).toBeLessThanOrEqual(manifest.tolerance);
      }
    });

    // every format at an adapter's first scale (and per-token case), the first format at its other scales
    const single = manifest.cases.filter((c) => c.adapters.length === 1);
    const seen = new Set<string>();
    const formats = single.flatMap((c) => {
      const use = c.adapters[0]!;
      const key = `${use.adapter}:${use.tokens !== null}`;
      const all = Object.entries(manifest.adapters[use.adapter]!.files);
      const chosen = seen.has(key) ? all.slice(0, 1) : all;
      seen.add(key);
      return chosen.map(([format, file]) => ({ c, format, file }));
    });
    it.each(formats.map((f) => [`${f.c.name} ${f.format}`, f] as const))('%s: bake and live branch match PyTorch', async (_, { c, format, file }) => {
      const use = c.adapters[0]!;
      const meta = manifest.adapters[use.adapter]!;
      const l = await adapter(file);
      const source = path.join(modelDir, manifest.graphs[c.graph]!);
      const expected = await reference(c.output);
      const base = await reference(manifest.cases.find((x) => x.graph === c.graph && x.adapters.length === 0)!.output);
      if (!use.tokens) {
        const baked = await planGraph(source, meta.component, [{ loaded: l, weight: use.scale, mode: 'bake', perToken: false }], cacheDir);
        const error = maxAbsDiff(await run(baked!.file, c.graph, {}), expected);
        note(`${use.adapter} ${format} bake`, error);
        expect(error).toBeLessThanOrEqual(manifest.tolerance);
      }
      const perToken = use.tokens !== null;
      const live = await planGraph(source, meta.component, [{ loaded: l, weight: use.scale, mode: 'live', perToken }], cacheDir);
      const scales = new AdapterScales();
      scales.setWeight(l.id, use.scale);
      if (use.tokens) scales.setTokenScales(l.id, await reference(use.tokens));
      const out = await run(live!.file, c.graph, scales.feeds(live!.inputs));
      const error = maxAbsDiff(out, expected);
      note(`${use.adapter} ${format} live${perToken ? ' per-token' : ''}`, error);
      expect(error).toBeLessThanOrEqual(manifest.tolerance);
      if (maxAbsDiff(expected, base) <= 10 * manifest.tolerance) console.warn(`${c.name}: the adapter barely changes the output (an untrained smoke build?)`);
    });

    const stacks = manifest.cases.filter((c) => c.adapters.length > 1);
    it.each(stacks.map((c) => [c.name, c] as const))('%s: several adapters, baked, live and mixed', async (_, c) => {
      const source = path.join(modelDir, manifest.graphs[c.graph]!);
      const component = manifest.adapters[c.adapters[0]!.adapter]!.component;
      const uses = await Promise.all(c.adapters.map(async (u) => ({ u, l: await adapter(Object.values(manifest.adapters[u.adapter]!.files)[0]!) })));
      const expected = await reference(c.output);
      const scales = new AdapterScales();
      for (const { u, l } of uses) scales.setWeight(l.id, u.scale);
      for (const mode of ['bake', 'live', 'mixed'] as const) {
        const slots: AdapterSlot[] = uses.map(({ u, l }, i) => ({ loaded: l, weight: u.scale, mode: mode === 'mixed' ? (i % 2 ? 'live' : 'bake') : mode, perToken: false }));
        const plan = await planGraph(source, component, slots, cacheDir);
        const error = maxAbsDiff(await run(plan!.file, c.graph, scales.feeds(plan!.inputs)), expected);
        note(`stack ${mode}`, error);
        expect(error).toBeLessThanOrEqual(manifest.tolerance);
      }
    });
  });
}
