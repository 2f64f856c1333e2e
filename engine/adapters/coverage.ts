/**
 * The coverage report of an adapter against a model's graphs: every target with the graph weight
 * it maps to (graph, node, stored tensor) or the reason it does not, plus the file's keys that
 * are no part of any target (unsupported kinds, unknown names). `complete` means every key of the
 * file found a weight; the CLI (`lora inspect`) and the adapters panel show the rest.
 */
import type { Adapter, Component, UnusedKey } from './model.js';
import { mapTarget, type ModuleIndex, type WeightSite } from './mapping.js';

/** One graph of a model that adapters can reach. */
export interface AdapterGraph {
  /** The pipeline's name for it ('transformer', 'unet', 'clip', 'vaeDecoder', ...). */
  name: string;
  component: Component;
  file: string;
}

export interface IndexedGraph extends AdapterGraph {
  index: ModuleIndex;
}

export interface CoverageEntry {
  component: Component;
  module: string;
  sourceModule: string;
  keys: string[];
  mapped: boolean;
  graph: string | null;
  node: string | null;
  weight: string | null;
  reason: string | null;
}

export interface CoverageReport {
  file: string;
  format: string;
  kinds: string[];
  ranks: number[];
  targets: number;
  mapped: number;
  complete: boolean;
  entries: CoverageEntry[];
  unusedKeys: UnusedKey[];
  graphs: Array<{ name: string; component: Component; file: string; note: string | null }>;
}

export interface MappedTarget {
  target: Adapter['targets'][number];
  graph: IndexedGraph;
  site: WeightSite;
}

/** Maps every target; returns the report and the mapped targets (for bake and live). */
export function coverage(adapter: Adapter, graphs: IndexedGraph[]): { report: CoverageReport; mapped: MappedTarget[] } {
  const entries: CoverageEntry[] = [];
  const mapped: MappedTarget[] = [];
  for (const target of adapter.targets) {
    const candidates = graphs.filter((g) => g.component === target.component);
    const base = { component: target.component, module: target.module, sourceModule: target.sourceModule, keys: target.keys };
    if (candidates.length === 0) {
      entries.push({ ...base, mapped: false, graph: null, node: null, weight: null, reason: `this model has no ${target.component.replace(/_/g, ' ')} graph` });
      continue;
    }
    let reason: string | null = null;
    let hit: MappedTarget | null = null;
    for (const graph of candidates) {
      const m = mapTarget(graph.index, target);
      if (m.ok) {
        hit = { target, graph, site: m.site };
        break;
      }
      reason ??= m.reason;
    }
    if (hit) {
      mapped.push(hit);
      entries.push({ ...base, mapped: true, graph: hit.graph.name, node: hit.site.nodes[0]!.name, weight: hit.site.tensorName, reason: null });
    } else entries.push({ ...base, mapped: false, graph: null, node: null, weight: null, reason });
  }
  const notes = graphs.map((g) => ({
    name: g.name,
    component: g.component,
    file: g.file,
    note: g.index.sites.size === 0 && g.index.unscoped > 0 ? 'MatMul/Gemm/Conv nodes carry no module scopes (optimized or renamed export)' : null,
  }));
  const count = entries.filter((e) => e.mapped).length;
  return {
    report: {
      file: adapter.file,
      format: adapter.format,
      kinds: adapter.kinds,
      ranks: adapter.ranks,
      targets: entries.length,
      mapped: count,
      complete: count === entries.length && adapter.unused.length === 0 && entries.length > 0,
      entries,
      unusedKeys: adapter.unused,
      graphs: notes,
    },
    mapped,
  };
}

/** A reason with its particulars (module paths, sizes) blanked, to group alike reasons. */
function reasonKind(reason: string): string {
  return reason.replace(/[\w.]+\.[\w.]+/g, '_').replace(/\/[^\s]+/g, '_').replace(/\d+/g, 'N');
}

/** One line for logs and errors: how many targets mapped, and what did not, grouped by kind of reason (one example each). */
export function summarizeCoverage(report: CoverageReport, max = 4): string {
  const groups = new Map<string, { n: number; example: string }>();
  const add = (reason: string) => {
    const kind = reasonKind(reason);
    const g = groups.get(kind);
    if (g) g.n++;
    else groups.set(kind, { n: 1, example: reason });
  };
  for (const e of report.entries) if (!e.mapped) add(e.reason ?? 'unknown');
  for (const u of report.unusedKeys) add(u.reason);
  const lines = [...groups.values()].sort((a, b) => b.n - a.n).slice(0, max).map((g) => (g.n > 1 ? `${g.n} like "${g.example}"` : g.example));
  const unused = report.unusedKeys.length ? `, ${report.unusedKeys.length} keys unused` : '';
  return `${report.mapped} of ${report.targets} targets mapped${unused}${lines.length ? `; ${lines.join('; ')}` : ''}`;
}
