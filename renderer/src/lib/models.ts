/**
 * What a model can do, in the words the panel uses: which tab runs which job kind, the samplers'
 * readable names, what guidance is called, and the size an edit comes out at.
 */
import type { JobKind, ModelInfo } from '../engine/protocol.js';

/** The panel's tabs: Generate runs 'generate'; Edit runs the model's edit task. */
export type Mode = 'generate' | 'edit';

/** The job kinds the Edit tab can run: an instruction edit (Kontext) or image-to-image (SD). */
export type EditKind = Exclude<JobKind, 'generate'>;

/** The tab that shows a job kind's settings. */
export function tabOf(kind: JobKind): Mode {
  return kind === 'generate' ? 'generate' : 'edit';
}

/** The edit task the Edit tab runs for a model (an instruction edit first), or null. */
export function editKindOf(model: Pick<ModelInfo, 'tasks'>): EditKind | null {
  if (model.tasks.includes('edit')) return 'edit';
  if (model.tasks.includes('img2img')) return 'img2img';
  return null;
}

/** Why a tab cannot be used with a model, or null when it can. */
export function tabBlocker(model: Pick<ModelInfo, 'tasks' | 'name'>, mode: Mode): string | null {
  if (mode === 'generate') return model.tasks.includes('generate') ? null : `${model.name} cannot generate images from text.`;
  return editKindOf(model) ? null : `${model.name} cannot edit images.`;
}

/** The tab titles and the label of the Edit tab's text for each kind. */
export const KIND_LABELS: Record<JobKind, { tab: string; text: string; short: string }> = {
  generate: { tab: 'Generate', text: 'Prompt', short: 'G' },
  edit: { tab: 'Edit', text: 'Instruction', short: 'E' },
  img2img: { tab: 'Image to image', text: 'Prompt', short: 'I' },
};

/** Readable names of the engine's scheduler kinds (as AUTOMATIC1111 names the samplers). */
const SCHEDULER_LABELS: Readonly<Record<string, string>> = {
  'flow-euler': 'Euler (flow matching)',
  'euler-a': 'Euler a',
  euler: 'Euler',
  ddim: 'DDIM',
  'dpmpp-2m-karras': 'DPM++ 2M Karras',
  'dpmpp-2m': 'DPM++ 2M',
  lcm: 'LCM',
};

/** A scheduler kind's readable name; an unknown kind is shown as is. */
export function schedulerLabel(kind: string): string {
  return Object.hasOwn(SCHEDULER_LABELS, kind) ? (SCHEDULER_LABELS[kind] as string) : kind;
}

/** Whether a scheduler samples a flow-matching model (FLUX), whose guidance is distilled. */
export function isFlowScheduler(kind: string): boolean {
  return kind.startsWith('flow-');
}

/** "Guidance" for FLUX (flow matching), "CFG scale" for classifier-free guidance models (SD). */
/**
 * What the guidance number is called: "CFG scale" for classifier-free guidance (SD samplers, and
 * FLUX models that run true CFG with a negative prompt: `classifierFree`), "Guidance" for
 * guidance-distilled FLUX's embedded scalar.
 */
export function guidanceLabel(scheduler: string, classifierFree = false): string {
  return !classifierFree && (scheduler === '' || isFlowScheduler(scheduler)) ? 'Guidance' : 'CFG scale';
}

export interface Size {
  width: number;
  height: number;
}

/**
 * The size an edit or image-to-image job comes out at (engine/jobs/sizing.ts): the model's size
 * for a fixed-size model, else the source's aspect ratio at about the model's default pixel
 * count, both sides multiples of 16.
 */
export function editOutputSize(model: Pick<ModelInfo, 'defaults' | 'fixedSize'>, source: Size | null): Size {
  const { width, height } = model.defaults;
  if (model.fixedSize || !source) return { width, height };
  const area = width * height;
  const aspect = source.width / source.height;
  const snap = (v: number): number => Math.max(16, Math.round(v / 16) * 16);
  return { width: snap(Math.sqrt(area * aspect)), height: snap(Math.sqrt(area / aspect)) };
}
