/**
 * The protocol's view of an adapter (AdapterInfo): what the file is and, against the loaded
 * model, its coverage, with the rows bounded (MAX_COVERAGE_ROWS) so a LoRA of thousands of keys
 * still makes a small message; the counts and the one-line summary stay complete.
 */
import { MAX_COVERAGE_ROWS, type AdapterCoverage, type AdapterInfo } from '../protocol/index.js';
import { summarizeCoverage, type CoverageReport } from './coverage.js';
import type { LoadedAdapter } from './loaded.js';

export function coverageForWire(report: CoverageReport): AdapterCoverage {
  // unmapped rows first: they are what the panel shows
  const rows = [...report.entries].sort((a, b) => Number(a.mapped) - Number(b.mapped));
  return {
    targets: report.targets,
    mapped: report.mapped,
    complete: report.complete,
    entries: rows.slice(0, MAX_COVERAGE_ROWS).map((e) => ({ component: e.component, module: e.module, sourceModule: e.sourceModule, mapped: e.mapped, graph: e.graph, weight: e.weight, reason: e.reason })),
    unusedKeys: report.unusedKeys.slice(0, MAX_COVERAGE_ROWS),
    summary: summarizeCoverage(report),
    truncated: rows.length > MAX_COVERAGE_ROWS || report.unusedKeys.length > MAX_COVERAGE_ROWS,
  };
}

export function adapterInfo(loaded: LoadedAdapter, name: string, report: CoverageReport | null): AdapterInfo {
  const a = loaded.adapter;
  return {
    id: loaded.id,
    name,
    bytes: loaded.bytes,
    format: a.format,
    kinds: a.kinds,
    ranks: a.ranks,
    targets: a.targets.length,
    components: [...new Set(a.targets.map((t) => t.component))],
    coverage: report ? coverageForWire(report) : null,
  };
}
