/**
 * `atelier lora inspect FILE [--model DIR] [--json]`: what an adapter file is (key format, kinds,
 * ranks, targets per component, metadata) and, with --model, how it maps onto that model's graphs:
 * which keys reach which weight (graph, node, stored tensor), which do not and why. Nothing is
 * loaded into ONNX Runtime; only the file's header and the graphs' structure are read.
 * Exit codes: 0 read (complete or not: see `complete`), 2 bad flags or an unreadable file.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { coverage, summarizeCoverage, type CoverageReport, type IndexedGraph } from '../../adapters/coverage.js';
import { loadAdapterFile } from '../../adapters/loaded.js';
import { indexGraphFile } from '../../adapters/mapping.js';
import { describeModelFolder } from '../../models/detect.js';
import { adapterGraphsOf } from '../../pipelines/adapter-host.js';
import { outputFor } from '../context.js';
import { parseFlags, str, UsageError } from '../usage.js';

const MAX_LINES = 40;

function graphsOf(dir: string): { name: string; family: string; graphs: IndexedGraph[] } {
  const descriptor = describeModelFolder(path.resolve(dir));
  const graphs = adapterGraphsOf(descriptor.spec).map((g) => ({ ...g, index: indexGraphFile(g.file, new Uint8Array(readFileSync(g.file))) }));
  return { name: descriptor.info.name, family: descriptor.info.family, graphs };
}

async function inspect(argv: string[]): Promise<number> {
  const flags = parseFlags(argv, { model: { type: 'string' }, json: { type: 'boolean' }, quiet: { type: 'boolean' } }, true);
  const out = outputFor(flags);
  const file = flags.positionals[0];
  if (!file || flags.positionals.length > 1) throw new UsageError('usage: atelier lora inspect FILE [--model DIR] [--json]');
  const loaded = await loadAdapterFile(path.resolve(file));
  const a = loaded.adapter;
  const modelDir = str(flags, 'model');
  const model = modelDir ? graphsOf(modelDir) : null;
  const report: CoverageReport | null = model ? coverage(a, model.graphs).report : null;
  const byComponent = new Map<string, number>();
  for (const t of a.targets) byComponent.set(t.component, (byComponent.get(t.component) ?? 0) + 1);
  out.result({
    file: path.resolve(file),
    id: loaded.id,
    bytes: loaded.bytes,
    format: a.format,
    kinds: a.kinds,
    ranks: a.ranks,
    targets: a.targets.length,
    components: Object.fromEntries(byComponent),
    metadata: a.metadata,
    unusedKeys: a.unused,
    model: model ? { dir: path.resolve(modelDir!), name: model.name, family: model.family } : null,
    coverage: report,
  });
  out.line(`${path.resolve(file)}: ${a.format} (${a.kinds.join(', ')}), rank ${a.ranks.join('/') || '-'}, ${a.targets.length} targets (${[...byComponent].map(([c, n]) => `${n} ${c.replace(/_/g, ' ')}`).join(', ')})`);
  const meta = Object.entries(a.metadata).filter(([k]) => !k.startsWith('ss_') || ['ss_network_dim', 'ss_network_alpha', 'ss_network_module'].includes(k));
  if (meta.length > 0) out.line(`  metadata  ${meta.map(([k, v]) => `${k}=${v.length > 60 ? `${v.slice(0, 60)}...` : v}`).join(', ')}`);
  for (const u of a.unused.slice(0, MAX_LINES)) out.line(`  unused    ${u.key}: ${u.reason}`);
  if (!report) {
    out.line('  (pass --model DIR to see how it maps onto a model)');
    return 0;
  }
  out.line(`  model     ${model!.name} (${model!.family}): ${summarizeCoverage(report)}${report.complete ? ' (complete)' : ''}`);
  for (const g of report.graphs) if (g.note) out.line(`  graph     ${g.name}: ${g.note}`);
  const unmapped = report.entries.filter((e) => !e.mapped);
  for (const e of unmapped.slice(0, MAX_LINES)) out.line(`  unmapped  ${e.sourceModule}${e.module !== e.sourceModule ? ` -> ${e.module}` : ''}: ${e.reason}`);
  if (unmapped.length > MAX_LINES) out.line(`  ... and ${unmapped.length - MAX_LINES} more (--json lists them all)`);
  return 0;
}

export async function loraCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'inspect') return inspect(rest);
  throw new UsageError(sub ? `unknown "lora" command "${sub}" (try: lora inspect FILE)` : 'lora needs a command: inspect FILE [--model DIR]');
}
