/**
 * `atelier judge IMAGE... [--json]`: the zoo's attribute judge on image files: per image, the
 * background and, per 3x3 grid cell, the shape, color and size it sees (with --json, also every
 * class probability).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Judge, defaultJudgeDir } from '../../eval/judge.js';
import { decodeImage } from '../../images/codec.js';
import { outputFor } from '../context.js';
import { parseFlags, str, UsageError } from '../usage.js';

export async function judgeCommand(argv: string[]): Promise<number> {
  const flags = parseFlags(argv, { json: { type: 'boolean' }, quiet: { type: 'boolean' }, judge: { type: 'string' } }, true);
  const out = outputFor(flags);
  if (flags.positionals.length === 0) throw new UsageError('usage: atelier judge IMAGE... [--json]');
  const images = [];
  for (const file of flags.positionals) {
    let bytes: Uint8Array;
    try {
      bytes = await fs.readFile(file);
    } catch {
      throw new UsageError(`${file}: file not found`);
    }
    images.push(await decodeImage(bytes, { name: file }));
  }
  const judge = await Judge.load(str(flags, 'judge') ?? defaultJudgeDir());
  try {
    const judgements = await judge.judge(images);
    const results = flags.positionals.map((file, i) => ({ file: path.resolve(file), ...judgements[i]! }));
    out.result({ images: results });
    for (const r of results) {
      const objects = r.scene.objects.map((o) => `${o.size} ${o.color} ${o.shape} at ${r.cells[o.cell]!.cellName}`).join('; ') || 'no shapes';
      out.line(`${file(r.file)}: ${objects}; ${r.scene.background} background`);
    }
    return 0;
  } finally {
    await judge.release();
  }
}

function file(p: string): string {
  return path.relative(process.cwd(), p) || p;
}
