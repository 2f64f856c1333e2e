/**
 * SliderEdit on the command line (`atelier edit` with sliders):
 *   --strength "SUB-INSTRUCTION=VALUE"   (repeatable) a part's strength, 0 (off) to 2, 1 = as typed;
 *                                        parts not named stay at 1
 *   --parts "a|b|c"                      the split, instead of the automatic one (and, then, commas,
 *                                        semicolons); each part must appear in the instruction in order
 *   --sweep "SUB-INSTRUCTION"            render that part at each of --sweep-values (default
 *                                        0,0.5,1,1.5,2), the others as set by --strength
 *   --stlora FILE                        an STLoRA instead of the model's own
 * A sweep writes one row image (frames left to right, in the order of the values) to --out, and
 * each frame beside it as OUT-<index>-<value>.png; without --out the frames go to the history.
 * Part names match case-insensitively, ignoring surrounding spaces and sentence punctuation at the
 * end; "#N" names the N-th part, and a name given again in --strength takes the next part of that
 * text. The swept part cannot also have a --strength. Bad flags exit with code 2.
 */
import path from 'node:path';
import type { Engine } from '../../engine.js';
import { EngineError } from '../../errors.js';
import { decodeImage, encodePng } from '../../images/codec.js';
import { rgbImage, type RgbImage } from '../../images/rgb.js';
import type { EditJob, ModelInfo } from '../../protocol/index.js';
import { writeFileAtomic } from '../../stores/atomic.js';
import type { Output } from '../context.js';
import { ProgressLine } from '../progress.js';
import { instructionParts, parsePartList, withoutTrailingPunctuation, type InstructionPart } from '../../methods/slideredit/split.js';
import { MAX_STRENGTH, MIN_STRENGTH } from '../../methods/slideredit/token-scales.js';
import { parseDecimal, UsageError } from '../usage.js';

export const SLIDER_FLAGS = {
  strength: { type: 'string', multiple: true },
  parts: { type: 'string' },
  sweep: { type: 'string' },
  'sweep-values': { type: 'string' },
  stlora: { type: 'string' },
} as const;

export const DEFAULT_SWEEP = [0, 0.5, 1, 1.5, 2];

export interface SliderPlan {
  parts: string[];
  strengths: number[];
  stlora?: string;
  /** The swept part's index and its values, for --sweep. */
  sweep: { part: number; values: number[] } | null;
}

function strengthValue(raw: string, what: string): number {
  const n = parseDecimal(raw);
  if (!Number.isFinite(n) || n < MIN_STRENGTH || n > MAX_STRENGTH) throw new UsageError(`${what} must be a number from ${MIN_STRENGTH} to ${MAX_STRENGTH}, got "${raw}"`);
  return n;
}

/** The part `name` names: "#N" (1-based), else the first part of that text not in `taken`. */
function partIndex(parts: InstructionPart[], name: string, flag: string, taken: ReadonlySet<number> = new Set()): number {
  const raw = name.trim();
  const numbered = /^#(\d+)$/.exec(raw);
  if (numbered) {
    const i = Number(numbered[1]) - 1;
    if (i < 0 || i >= parts.length) throw new UsageError(`${flag}: there is no part ${raw}; the instruction has ${parts.length}`);
    return i;
  }
  // sentence punctuation at the end does not tell parts apart (the automatic split leaves it out;
  // a user's own --parts may keep it)
  const key = (text: string) => withoutTrailingPunctuation(text).toLowerCase();
  const wanted = key(raw);
  const matches = parts.flatMap((p, i) => (key(p.text) === wanted ? [i] : []));
  if (matches.length === 0) throw new UsageError(`${flag}: "${raw}" is not a sub-instruction; they are: ${parts.map((p) => `"${p.text}"`).join(', ')}`);
  return matches.find((i) => !taken.has(i)) ?? matches[0]!;
}

/** The slider flags as a plan, or null when none was given (a plain edit). */
export function sliderPlan(instruction: string, flags: { strength: string[]; parts?: string; sweep?: string; sweepValues?: string; stlora?: string }): SliderPlan | null {
  if (flags.strength.length === 0 && flags.parts === undefined && flags.sweep === undefined && flags.sweepValues === undefined && flags.stlora === undefined) return null;
  let parts: InstructionPart[];
  try {
    parts = instructionParts(instruction, flags.parts === undefined ? undefined : parsePartList(flags.parts));
  } catch (error) {
    if (error instanceof EngineError) throw new UsageError(`${flags.parts === undefined ? '--instruction' : '--parts'}: ${error.message}`);
    throw error;
  }
  const strengths = parts.map(() => 1);
  const seen = new Set<number>();
  for (const item of flags.strength) {
    const eq = item.lastIndexOf('=');
    if (eq <= 0) throw new UsageError(`--strength must look like "SUB-INSTRUCTION=VALUE", got "${item}"`);
    const i = partIndex(parts, item.slice(0, eq), '--strength', seen);
    if (seen.has(i)) throw new UsageError(`--strength: "${parts[i]!.text}" is given twice`);
    seen.add(i);
    strengths[i] = strengthValue(item.slice(eq + 1), `--strength "${parts[i]!.text}"`);
  }
  if (flags.sweepValues !== undefined && flags.sweep === undefined) throw new UsageError('--sweep-values needs --sweep');
  let sweep: SliderPlan['sweep'] = null;
  if (flags.sweep !== undefined) {
    const part = partIndex(parts, flags.sweep, '--sweep');
    if (seen.has(part)) throw new UsageError(`--sweep "${parts[part]!.text}" also has a --strength: a sweep sets that part to each of --sweep-values (drop its --strength)`);
    const values = flags.sweepValues === undefined ? DEFAULT_SWEEP : flags.sweepValues.split(',').map((v) => strengthValue(v, '--sweep-values: each value'));
    if (values.length < 1 || values.length > 64) throw new UsageError('--sweep-values: give 1 to 64 values');
    sweep = { part, values };
  }
  return { parts: parts.map((p) => p.text), strengths, ...(flags.stlora ? { stlora: path.resolve(flags.stlora) } : {}), sweep };
}

/** Frames side by side, left to right (all the same height). */
export function rowImage(frames: RgbImage[]): RgbImage {
  const height = frames[0]!.height;
  const width = frames.reduce((w, f) => w + f.width, 0);
  const row = rgbImage(width, height);
  let x0 = 0;
  for (const f of frames) {
    if (f.height !== height) throw new Error('sweep frames differ in height');
    for (let y = 0; y < height; y++) row.data.set(f.data.subarray(y * f.width * 3, (y + 1) * f.width * 3), (y * width + x0) * 3);
    x0 += f.width;
  }
  return row;
}

/** OUT-<index>-<value>.png beside the row image. */
export function frameFile(out: string, index: number, value: number): string {
  const ext = path.extname(out);
  return `${ext ? out.slice(0, -ext.length) : out}-${index}-${value}${ext || '.png'}`;
}

/** Runs a sweep: one job per value (each reruns only the denoising loop), then the row and the frames. */
export async function runSweep(engine: Engine, model: ModelInfo, request: EditJob, plan: SliderPlan, target: string | undefined, out: Output): Promise<number> {
  const sweep = plan.sweep!;
  const progress = new ProgressLine(process.stderr, out.json || out.quiet);
  const frames: Array<{ value: number; file: string; bytes: Uint8Array; seconds: number }> = [];
  let seed = request.seed;
  for (const [i, value] of sweep.values.entries()) {
    const strengths = plan.strengths.map((s, j) => (j === sweep.part ? value : s));
    const job: EditJob = { ...request, ...(seed === undefined ? {} : { seed }), sliders: { ...request.sliders!, strengths } };
    const done = await engine.runJob(job, (p) => progress.update(`${model.name} ${i + 1}/${sweep.values.length}`, p.step, p.total));
    seed = done.metadata.seed; // every frame from the same noise
    frames.push({ value, file: done.file, bytes: done.image.bytes, seconds: done.seconds });
  }
  progress.done();
  let row: string | null = null;
  if (target) {
    row = path.resolve(target);
    const images = await Promise.all(frames.map((f, i) => decodeImage(f.bytes, { name: `sweep frame ${i}` })));
    await writeFileAtomic(row, await encodePng(rowImage(images)));
    for (const [i, f] of frames.entries()) {
      f.file = frameFile(row, i, f.value);
      await writeFileAtomic(f.file, f.bytes);
    }
  }
  const part = plan.parts[sweep.part]!;
  out.line(`sweep of "${part}" over ${sweep.values.join(', ')} (seed ${seed}): ${row ?? 'frames in the history'}`);
  for (const f of frames) out.line(`  ${f.value}: ${f.file} (${f.seconds.toFixed(2)} s)`);
  out.result({ sweep: part, values: sweep.values, seed, row, frames: frames.map((f) => ({ value: f.value, file: f.file, seconds: f.seconds })) });
  return 0;
}
