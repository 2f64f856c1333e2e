/**
 * `atelier models list`: the models the engine can see.
 * `atelier models validate DIR`: what a folder holds (layout, graphs with their inputs and
 * outputs) and, for a bad folder, exactly what is missing or mismatched; exit code 2 then.
 * `atelier models import DIR`: the same check, then the folder joins the catalog (the app's
 * "Import model"); `atelier models forget ID` takes an imported model out again.
 */
import path from 'node:path';
import { inspectModelFolder } from '../../models/detect.js';
import { COMMON_FLAGS, engineFor, outputFor } from '../context.js';
import { parseFlags, UsageError } from '../usage.js';

async function list(argv: string[]): Promise<number> {
  const flags = parseFlags(argv, COMMON_FLAGS);
  const out = outputFor(flags);
  const models = engineFor(flags).listModels();
  out.result({ models });
  if (models.length === 0) out.line('no models found');
  for (const m of models) out.line(`${m.id}\t${m.name}\t${m.family}\t${m.embedded ? 'embedded' : m.path}`);
  return 0;
}

async function validate(argv: string[]): Promise<number> {
  const flags = parseFlags(argv, { json: { type: 'boolean' }, quiet: { type: 'boolean' } }, true);
  const out = outputFor(flags);
  const dir = flags.positionals[0];
  if (!dir || flags.positionals.length > 1) throw new UsageError('usage: atelier models validate DIR');
  const report = inspectModelFolder(path.resolve(dir));
  const ok = report.descriptor !== null;
  out.result({ ok, layout: report.layout, found: report.found, problems: report.problems, notes: report.notes, model: report.descriptor?.info ?? null });
  out.line(`${path.resolve(dir)}: ${ok ? `a valid ${report.layout} model (${report.descriptor!.info.family})` : `not usable (${report.layout === 'none' ? 'unknown layout' : report.layout})`}`);
  for (const f of report.found) out.line(`  found    ${f}`);
  for (const n of report.notes) out.line(`  note     ${n}`);
  for (const p of report.problems) out.line(`  problem  ${p}`);
  return ok ? 0 : 2;
}

async function importFolder(argv: string[]): Promise<number> {
  const flags = parseFlags(argv, COMMON_FLAGS, true);
  const out = outputFor(flags);
  const dir = flags.positionals[0];
  if (!dir || flags.positionals.length > 1) throw new UsageError('usage: atelier models import DIR');
  const result = await engineFor(flags).importModel(dir);
  out.result(result);
  out.line(result.ok ? `imported ${result.model!.id} (${result.model!.family}) from ${result.dir}` : `${result.dir}: not imported, not usable (${result.layout === 'none' ? 'unknown layout' : result.layout})`);
  for (const n of result.notes) out.line(`  note     ${n}`);
  for (const p of result.problems) out.line(`  problem  ${p}`);
  return result.ok ? 0 : 2;
}

async function forget(argv: string[]): Promise<number> {
  const flags = parseFlags(argv, COMMON_FLAGS, true);
  const out = outputFor(flags);
  const modelId = flags.positionals[0];
  if (!modelId || flags.positionals.length > 1) throw new UsageError('usage: atelier models forget MODEL-ID');
  const forgotten = await engineFor(flags).forgetModel(modelId);
  out.result({ forgotten });
  out.line(forgotten ? `forgot ${modelId} (its files are untouched)` : `${modelId} is not an imported model (built-in and models-folder models stay)`);
  return forgotten ? 0 : 2;
}

const USAGE = 'models list, models validate DIR, models import DIR, models forget MODEL-ID';

export async function modelsCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'list') return list(rest);
  if (sub === 'validate') return validate(rest);
  if (sub === 'import') return importFolder(rest);
  if (sub === 'forget') return forget(rest);
  throw new UsageError(sub ? `unknown "models" command "${sub}" (try: ${USAGE})` : `models needs a command: ${USAGE}`);
}
