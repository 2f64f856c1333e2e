/**
 * `npm run eval -- <suite> [--json] [--out FILE] [--limit N] [--model DIR] [--record] [--sweeps FILE]`:
 * method-quality evaluations on the zoo's held-out sets, judged by the zoo's attribute judge.
 * Progress goes to stderr; the table (or with --json, one JSON object) to stdout; --record also
 * files the figures into the model's report.json (record.ts); --sweeps (slideredit) writes every
 * sweep's record to FILE.
 */
import { UsageError, bool, intFlag, parseFlags, str } from '../cli/usage.js';
import { report, type Figures } from '../bench/report.js';
import { evalBase } from './base.js';
import { evalWatermark } from './watermark.js';
import { evalSliderEdit } from './slideredit.js';
import { recordFigures } from './record.js';
import { embeddedModelDir } from '../paths.js';

interface SuiteOptions {
  modelDir?: string;
  limit?: number;
  sweepsFile?: string;
  progress: (line: string) => void;
}

const SUITES: Record<string, { title: string; run: (o: SuiteOptions) => Promise<Figures> }> = {
  base: { title: 'Tiny model quality through the TypeScript engine (judged), vs the zoo builder', run: (o) => evalBase(o) },
  watermark: { title: 'LoRA watermark on the tiny model: bit accuracy clean and attacked, PSNR, empirical FPR at 1e-3, TPR at 1e-6', run: (o) => evalWatermark(o) },
  slideredit: { title: 'SliderEdit on held-out multi-part edits: monotonic, disentangled, smooth (vs one global scale), exact at strength 1', run: (o) => evalSliderEdit(o) },
};

export async function main(argv: string[]): Promise<number> {
  try {
    const flags = parseFlags(argv, { json: { type: 'boolean' }, out: { type: 'string' }, limit: { type: 'string' }, model: { type: 'string' }, record: { type: 'boolean' }, sweeps: { type: 'string' } }, true);
    const name = flags.positionals[0];
    const suite = name ? SUITES[name] : undefined;
    if (!suite) throw new UsageError(`${name ? `unknown suite "${name}"` : 'name a suite'}; suites: ${Object.keys(SUITES).join(', ')}`);
    const limit = intFlag(str(flags, 'limit'), 'limit', 1, 1_000_000);
    const modelDir = str(flags, 'model');
    const sweeps = str(flags, 'sweeps');
    if (sweeps && name !== 'slideredit') throw new UsageError('--sweeps is for the slideredit suite');
    const figures = await suite.run({
      ...(modelDir ? { modelDir } : {}),
      ...(limit ? { limit } : {}),
      ...(sweeps ? { sweepsFile: sweeps } : {}),
      progress: (line) => process.stderr.write(`eval ${name}: ${line}\n`),
    });
    await report(suite.title, figures, { json: bool(flags, 'json'), out: str(flags, 'out') });
    if (bool(flags, 'record')) {
      const file = await recordFigures(modelDir ?? embeddedModelDir(), name!, figures);
      process.stderr.write(`eval ${name}: figures recorded in ${file} (eval_${name})\n`);
    }
    return 0;
  } catch (error) {
    process.stderr.write(`eval: ${error instanceof Error ? error.message : String(error)}\n`);
    return error instanceof UsageError ? 2 : 1;
  }
}
