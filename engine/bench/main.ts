/**
 * `npm run bench -- <suite> [--json] [--out FILE] [--model DIR] [--record]`: speed and memory
 * benchmarks that compare within one run (ratios) and print a table, or one JSON object with
 * --json. `--record` files the figures into the model's report.json as `bench_<suite>`
 * (eval/record.ts), so the README's figures can be checked against what was measured.
 */
import { UsageError, bool, parseFlags, str } from '../cli/usage.js';
import { recordFigures } from '../eval/record.js';
import { embeddedModelDir } from '../paths.js';
import { report, type Figures } from './report.js';
import { benchEngine } from './engine.js';
import { benchRpc } from './rpc.js';
import { benchAdapters } from './adapters.js';
import { benchWatermark } from './watermark.js';
import { benchSliderEdit } from './slideredit.js';

type Suite = (flags: { modelDir?: string }) => Promise<Figures>;

const SUITES: Record<string, { title: string; run: Suite }> = {
  rpc: { title: 'Engine overhead per step through the RPC (ratio to bare session.run)', run: (f) => benchRpc(f) },
  engine: { title: 'Engine overhead per step in-process, time per image, peak memory (default model)', run: (f) => benchEngine(f) },
  slideredit: { title: 'SliderEdit: a slider move (cached encodings) over a full edit from scratch (ratio, goal <= 0.9)', run: (f) => benchSliderEdit(f) },
  adapters: { title: 'Adapters: live-branch step over baked step (default model), bake time of an SD 1.5-shaped LoRA', run: (f) => benchAdapters(f) },
  watermark: { title: 'Watermark: verify time per image file (decode, resize, extractor, test against every key), 64x64 and 1024x1024', run: () => benchWatermark() },
};

export async function main(argv: string[]): Promise<number> {
  try {
    const flags = parseFlags(argv, { json: { type: 'boolean' }, out: { type: 'string' }, model: { type: 'string' }, record: { type: 'boolean' } }, true);
    const name = flags.positionals[0];
    const suite = name ? SUITES[name] : undefined;
    if (!suite) throw new UsageError(`${name ? `unknown suite "${name}"` : 'name a suite'}; suites: ${Object.keys(SUITES).join(', ')}`);
    const modelDir = str(flags, 'model');
    const figures = await suite.run(modelDir ? { modelDir } : {});
    await report(suite.title, figures, { json: bool(flags, 'json'), out: str(flags, 'out') });
    if (bool(flags, 'record')) {
      const file = await recordFigures(modelDir ?? embeddedModelDir(), name!, figures, new Date(), 'bench');
      process.stderr.write(`bench ${name}: figures recorded in ${file} (bench_${name})\n`);
    }
    return 0;
  } catch (error) {
    process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
    return error instanceof UsageError ? 2 : 1;
  }
}
