/**
 * `npm run eval -- <suite> [--json] [--out FILE]`: method-quality evaluations on the zoo's
 * held-out sets, judged by the zoo's attribute judge. Suites arrive with the issues that own
 * them (base: the zoo model's text-to-image and edit quality; slideredit; watermark).
 */
import { UsageError, bool, parseFlags, str } from '../cli/usage.js';
import { report, type Figures } from '../bench/report.js';

const SUITES: Record<string, { title: string; run: () => Promise<Figures> }> = {};

export async function main(argv: string[]): Promise<number> {
  try {
    const flags = parseFlags(argv, { json: { type: 'boolean' }, out: { type: 'string' } }, true);
    const name = flags.positionals[0];
    const suite = name ? SUITES[name] : undefined;
    const known = Object.keys(SUITES);
    if (!suite) throw new UsageError(`${name ? `unknown suite "${name}"` : 'name a suite'}; suites: ${known.length ? known.join(', ') : 'none yet'}`);
    await report(suite.title, await suite.run(), { json: bool(flags, 'json'), out: str(flags, 'out') });
    return 0;
  } catch (error) {
    process.stderr.write(`eval: ${error instanceof Error ? error.message : String(error)}\n`);
    return error instanceof UsageError ? 2 : 1;
  }
}
