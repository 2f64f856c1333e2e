/**
 * `eval <suite> --record` and `bench <suite> --record`: file a suite's figures into the model's
 * quality report (models/tiny/report.json beside the embedded model) under `eval_<suite>` or
 * `bench_<suite>`, with the date and the SHA-256 of the denoiser they were measured on, so a later
 * re-export shows them to be stale. The zoo builder writes the rest of that file; this only
 * replaces its own key, atomically.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Figures } from '../bench/report.js';
import { writeFileAtomic } from '../stores/atomic.js';

export function reportFileFor(modelDir: string): string {
  return path.join(path.dirname(path.resolve(modelDir)), 'report.json');
}

function sha256Of(file: string): string | null {
  return existsSync(file) ? createHash('sha256').update(readFileSync(file)).digest('hex') : null;
}

export async function recordFigures(modelDir: string, suite: string, figures: Figures, now = new Date(), kind: 'eval' | 'bench' = 'eval'): Promise<string> {
  const file = reportFileFor(modelDir);
  if (!existsSync(file)) throw new Error(`--record: no quality report at ${file} (the zoo builder writes it beside its models)`);
  let report: unknown;
  try {
    report = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`--record: ${file} is not valid JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  if (typeof report !== 'object' || report === null || Array.isArray(report)) throw new Error(`--record: ${file} does not hold a JSON object`);
  const entry = { ...figures, measured: now.toISOString().slice(0, 10), denoiser_sha256: sha256Of(path.join(modelDir, 'transformer', 'model.onnx')) };
  const next = { ...(report as Record<string, unknown>), [`${kind}_${suite}`]: entry };
  await writeFileAtomic(file, `${JSON.stringify(next, null, 1)}\n`);
  return file;
}
