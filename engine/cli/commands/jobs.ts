/**
 * `atelier generate`, `atelier edit` (instruction edits, Kontext models) and `atelier img2img`
 * (prompt-guided variations, Stable Diffusion models): run one job on the chosen model
 * in-process, with a progress bar on a TTY, and write the PNG (with its metadata chunks) to --out
 * or the history.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { messageOf } from '../../errors.js';
import type { JobRequest } from '../../protocol/index.js';
import { writeFileAtomic } from '../../stores/atomic.js';
import { COMMON_FLAGS, engineWithModel, outputFor } from '../context.js';
import { ProgressLine } from '../progress.js';
import { intFlag, numberFlag, parseFlags, requireFlag, str, strs, UsageError } from '../usage.js';
import { runSweep, SLIDER_FLAGS, sliderPlan, type SliderPlan } from './sliders.js';

const JOB_FLAGS = {
  ...COMMON_FLAGS,
  seed: { type: 'string' },
  steps: { type: 'string' },
  guidance: { type: 'string' },
  out: { type: 'string', short: 'o' },
  /** Bake this watermark key into the VAE decoder for this run (methods/watermark); the remembered switch is left alone. */
  watermark: { type: 'string' },
} as const;

async function readInputImage(file: string): Promise<Uint8Array> {
  try {
    const stat = await fs.stat(file);
    if (!stat.isFile()) throw new UsageError(`--image ${file}: not a file`);
    return new Uint8Array(await fs.readFile(file));
  } catch (error) {
    if (error instanceof UsageError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UsageError(`--image ${file}: file not found`);
    throw new UsageError(`--image ${file}: cannot be read (${code === 'EACCES' ? 'permission denied' : messageOf(error)})`);
  }
}

const KIND_FLAGS = {
  generate: {
    prompt: { type: 'string', short: 'p' },
    'negative-prompt': { type: 'string' },
    scheduler: { type: 'string' },
    width: { type: 'string' },
    height: { type: 'string' },
  },
  edit: { image: { type: 'string', short: 'i' }, instruction: { type: 'string' }, ...SLIDER_FLAGS },
  img2img: {
    image: { type: 'string', short: 'i' },
    prompt: { type: 'string', short: 'p' },
    'negative-prompt': { type: 'string' },
    scheduler: { type: 'string' },
    strength: { type: 'string' },
  },
} as const;

type Kind = keyof typeof KIND_FLAGS;

export async function runJobCommand(argv: string[], kind: Kind): Promise<number> {
  const flags = parseFlags(argv, { ...JOB_FLAGS, ...KIND_FLAGS[kind] });
  const out = outputFor(flags);
  const target = outputFile(str(flags, 'out')); // before any work: a wrong name should not cost a job
  const common = {
    ...optionalNumber('seed', intFlag(str(flags, 'seed'), 'seed', 0, Number.MAX_SAFE_INTEGER)),
    ...optionalNumber('steps', intFlag(str(flags, 'steps'), 'steps', 1, 200)),
    ...optionalNumber('guidance', numberFlag(str(flags, 'guidance'), 'guidance', 0, 50)),
  };
  const optional = <T>(key: string, value: T | undefined) => (value === undefined ? {} : { [key]: value });
  let request: JobRequest;
  let plan: SliderPlan | null = null;
  if (kind === 'generate') {
    request = {
      kind,
      prompt: requireFlag(str(flags, 'prompt'), 'prompt'),
      ...common,
      ...optional('negativePrompt', str(flags, 'negative-prompt')),
      ...optional('scheduler', str(flags, 'scheduler')),
      ...optional('width', intFlag(str(flags, 'width'), 'width', 16, 4096)),
      ...optional('height', intFlag(str(flags, 'height'), 'height', 16, 4096)),
    };
  } else if (kind === 'edit') {
    const instruction = requireFlag(str(flags, 'instruction'), 'instruction');
    plan = sliderPlan(instruction, { strength: strs(flags, 'strength'), parts: str(flags, 'parts'), sweep: str(flags, 'sweep'), sweepValues: str(flags, 'sweep-values'), stlora: str(flags, 'stlora') });
    const image = await readInputImage(requireFlag(str(flags, 'image'), 'image'));
    const sliders = plan ? { sliders: { parts: plan.parts, strengths: plan.strengths, ...(plan.stlora ? { stlora: plan.stlora } : {}) } } : {};
    request = { kind, image, instruction, ...common, ...sliders };
  } else {
    const image = await readInputImage(requireFlag(str(flags, 'image'), 'image'));
    request = {
      kind,
      image,
      prompt: requireFlag(str(flags, 'prompt'), 'prompt'),
      ...common,
      ...optional('negativePrompt', str(flags, 'negative-prompt')),
      ...optional('scheduler', str(flags, 'scheduler')),
      ...optional('strength', numberFlag(str(flags, 'strength'), 'strength', 0, 1)),
    };
  }
  const watermarkKey = str(flags, 'watermark');
  const { engine, model } = await engineWithModel(flags);
  try {
    if (watermarkKey !== undefined) await engine.setWatermark(true, watermarkKey, { persist: false });
    if (plan?.sweep && request.kind === 'edit') return await runSweep(engine, model, request, plan, target, out);
    const progress = new ProgressLine(process.stderr, out.json || out.quiet);
    const done = await engine.runJob(request, (p) => progress.update(model.name, p.step, p.total));
    progress.done();
    let file = done.file;
    if (target) {
      file = path.resolve(target);
      await writeFileAtomic(file, done.image.bytes);
    }
    const marked = done.metadata.watermarkKey ? `, watermark key ${done.metadata.watermarkKey}` : '';
    out.line(`${file} (${done.metadata.width}x${done.metadata.height}, seed ${done.metadata.seed}, ${done.metadata.steps} steps, ${done.seconds.toFixed(2)} s on ${done.metadata.provider}${marked})`);
    out.result({ file, metadata: done.metadata, seconds: done.seconds });
    return 0;
  } finally {
    await engine.shutdown();
  }
}

function optionalNumber(key: string, value: number | undefined): Record<string, number> {
  return value === undefined ? {} : { [key]: value };
}

export const generateCommand = (argv: string[]) => runJobCommand(argv, 'generate');
export const editCommand = (argv: string[]) => runJobCommand(argv, 'edit');
export const img2imgCommand = (argv: string[]) => runJobCommand(argv, 'img2img');

/** --out, checked: Atelier writes PNG (with the job's metadata chunks), so another image extension is refused. */
function outputFile(out: string | undefined): string | undefined {
  if (out === undefined) return undefined;
  const ext = path.extname(out).toLowerCase();
  if (ext && ext !== '.png') throw new UsageError(`--out: outputs are PNG files (with the job's metadata); name it .png, got "${out}"`);
  return out;
}
