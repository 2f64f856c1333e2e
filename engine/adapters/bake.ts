/**
 * Baking: W' = W + sum_i w_i s_i dW_i merged into the weights of a copy of a graph, which is then
 * opened like any model (no extra nodes, so a baked model runs at the base model's speed). s_i is
 * the per-layer alpha / rank, w_i the user's weight. Weights are read and written in their stored
 * layout and dtype (float32, float16, bfloat16; inline or external data, read by offset). Patched
 * tensors of a base with external data go to the entry's own data file; every other
 * tensor keeps pointing at the base's data (hard-linked), so a bake costs the patched bytes only.
 * Results live in the content-addressed cache (cache.ts): the same base, adapters and weights
 * reuse the entry.
 */
import { readTensorFloat32, float32ToBytes } from '../onnx/tensor-data.js';
import { cachedGraph, type CachedGraph } from './cache.js';
import { addDelta } from './delta-math.js';
import { loadDelta } from './load.js';
import type { LoadedAdapter } from './loaded.js';
import { indexModules, mapTarget, type WeightSite } from './mapping.js';
import type { Component } from './model.js';
import { SafetensorsReader } from './safetensors.js';

export interface BakeUse {
  loaded: LoadedAdapter;
  weight: number;
}

interface Contribution {
  reader: SafetensorsReader;
  target: LoadedAdapter['adapter']['targets'][number];
  weight: number;
}

export interface BakeOptions {
  cacheDir: string;
  source: string;
  component: Component;
  uses: BakeUse[];
}

export interface BakeResult extends CachedGraph {
  /** Weights patched (0 when the entry was reused). */
  patched: number;
  seconds: number;
}

export async function bakeGraph(options: BakeOptions): Promise<BakeResult> {
  const started = performance.now();
  let patched = 0;
  const what = { mode: 'bake', component: options.component, uses: options.uses.map((u) => ({ adapter: u.loaded.sha256, weight: u.weight })) };
  const result = await cachedGraph(options.cacheDir, options.source, what, async ({ model, sourceDir, sink }) => {
    const index = indexModules(model);
    const readers: SafetensorsReader[] = [];
    try {
      const bySite = new Map<string, { site: WeightSite; contributions: Contribution[] }>();
      for (const use of options.uses) {
        if (use.weight === 0) continue;
        const reader = await SafetensorsReader.openFile(use.loaded.file);
        readers.push(reader);
        for (const target of use.loaded.adapter.targets) {
          if (target.component !== options.component) continue;
          const m = mapTarget(index, target);
          if (!m.ok) continue; // the caller checked coverage; partial adapters skip what does not map
          const key = m.site.tensorName;
          const entry = bySite.get(key) ?? { site: m.site, contributions: [] };
          entry.contributions.push({ reader, target, weight: use.weight });
          bySite.set(key, entry);
        }
      }
      for (const { site, contributions } of bySite.values()) {
        const label = `${options.source}: weight ${site.tensorName} of ${site.module}`;
        const w = readTensorFloat32(site.tensor, sourceDir, label); // a fresh array: patched in place
        for (const c of contributions) {
          const delta = await loadDelta(c.reader, c.target);
          addDelta(w, site.layout, delta, c.weight * delta.scale);
        }
        sink.place(site.tensor, float32ToBytes(w, site.storedType));
        patched++;
      }
    } finally {
      await Promise.all(readers.map((r) => r.close()));
    }
  });
  return { ...result, patched, seconds: (performance.now() - started) / 1000 };
}
