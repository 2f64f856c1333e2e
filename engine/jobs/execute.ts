/**
 * One job on the loaded model, from request to saved output: defaults filled in from the model,
 * the source image decoded and sized, the pipeline (or SliderEdit's runner) run with step
 * progress and previews, the output refused when the watermark changed while it ran (it could not
 * be labelled), then encoded as a PNG with its metadata and saved to the history (a slider render
 * that replaces an earlier one removes it once saved). The engine
 * (engine.ts) queues jobs and calls this with what it owns.
 */
import { randomInt } from 'node:crypto';
import { EngineError, messageOf, throwIfCancelled } from '../errors.js';
import { decodeImage, encodePng, resizeImage } from '../images/codec.js';
import { metadataTextChunks } from '../images/job-metadata.js';
import { encodePreviewPng } from '../images/preview-png.js';
import type { RgbImage } from '../images/rgb.js';
import type { WatermarkEmbedding } from '../methods/watermark/embedding.js';
import type { SliderEditRunner } from '../methods/slideredit/runner.js';
import type { ModelEntry } from '../models/catalog.js';
import type { Pipeline, RunHooks } from '../pipelines/pipeline.js';
import type { EncodedImage, EventData, JobMetadata, JobRequest } from '../protocol/index.js';
import type { HistoryStore } from '../stores/history.js';
import { engineVersion } from '../version.js';
import { workingSize } from './sizing.js';

export interface LoadedModel {
  entry: ModelEntry;
  pipeline: Pipeline;
}

export interface JobOutput {
  image: EncodedImage;
  file: string;
  metadata: JobMetadata;
  /** The superseded slider render removed from the history (EditJob.replaces). */
  replaced?: string;
}

/** What a job uses of the engine. */
export interface JobContext {
  /** Send a preview with every n-th step (0: none). */
  previewEvery: number;
  /** Each denoising step lasts at least this long (ms; 0: no pacing). */
  minStepMs: number;
  progress: (data: EventData<'progress'>) => void;
  sliderEdit: SliderEditRunner;
  embedding: WatermarkEmbedding;
  history: HistoryStore;
}

export async function executeJob(context: JobContext, loaded: LoadedModel, request: JobRequest, signal: AbortSignal, jobId: string): Promise<JobOutput> {
  const { entry, pipeline } = loaded;
  const watermark = context.embedding.stamp();
  const info = entry.info;
  const defaults = info.defaults;
  const seed = request.seed ?? randomInt(0, 2 ** 32);
  const steps = request.steps ?? defaults.steps;
  const guidance = request.guidance ?? defaults.guidance;
  const scheduler = request.kind === 'edit' ? defaults.scheduler : (request.scheduler ?? defaults.scheduler);
  if (!info.schedulers.includes(scheduler)) {
    throw new EngineError('invalid_params', `scheduler "${scheduler}" is not available for ${info.name} (it has: ${info.schedulers.join(', ')})`);
  }
  const negativePrompt = request.kind !== 'edit' && info.negativePrompt ? (request.negativePrompt ?? '') : '';
  const preview = request.kind === 'edit' && request.preview === true;
  if (request.kind === 'edit' && (preview || request.replaces) && !(request.sliders && preview)) {
    throw new EngineError('invalid_params', 'a slider preview (preview, replaces) needs sliders, and replaces needs preview');
  }
  const replaces =
    request.kind === 'edit' && request.replaces
      ? await replaceable(context.history, request.replaces, { model: info.name, text: request.instruction, seed, steps, guidance })
      : null;
  let stepStarted = performance.now();
  const hooks: RunHooks = {
    signal,
    wantPreview: context.previewEvery > 0,
    onStep: async ({ step, total, preview }) => {
      const send = preview !== null && context.previewEvery > 0 && (step % context.previewEvery === 0 || step === total);
      context.progress({ jobId, step, total, preview: send ? encodeForWire(preview) : null });
      const rest = context.minStepMs - (performance.now() - stepStarted);
      if (rest > 0) await new Promise((resolve) => setTimeout(resolve, rest));
      stepStarted = performance.now();
    },
  };
  const sourceImage = async (bytes: Uint8Array) => {
    const source = await decodeImage(bytes, { name: 'the source image' });
    throwIfCancelled(signal);
    const size = workingSize(source, info);
    return resizeImage(source, size.width, size.height, 'cover');
  };
  let image: RgbImage;
  let text: string;
  let strength: number | undefined;
  let sliders: JobMetadata['sliders'];
  if (request.kind !== 'edit' || !request.sliders) await context.sliderEdit.plain(pipeline, request.kind === 'edit' ? 'edit' : 'other');
  if (request.kind === 'edit' && request.sliders) {
    text = request.instruction;
    const job = { modelId: info.id, modelDir: entry.dir, pipeline, imageBytes: request.image, decodeImage: () => sourceImage(request.image), instruction: text, sliders: request.sliders };
    const result = await context.sliderEdit.run(job, { seed, steps, guidance }, hooks);
    image = result.image;
    sliders = { parts: result.parts, strengths: result.strengths };
  } else if (request.kind === 'generate') {
    text = request.prompt;
    const width = request.width ?? defaults.width;
    const height = request.height ?? defaults.height;
    image = await pipeline.generate({ prompt: text, negativePrompt, seed, steps, guidance, width, height, scheduler }, hooks);
  } else if (request.kind === 'edit') {
    if (!pipeline.edit) throw new EngineError('invalid_params', `${info.name} cannot run instruction edits`);
    text = request.instruction;
    const sized = await sourceImage(request.image);
    image = await pipeline.edit({ image: sized, instruction: text, seed, steps, guidance, width: sized.width, height: sized.height }, hooks);
  } else {
    if (!pipeline.img2img) throw new EngineError('invalid_params', `${info.name} cannot run image-to-image jobs`);
    text = request.prompt;
    strength = request.strength ?? 0.6;
    const sized = await sourceImage(request.image);
    image = await pipeline.img2img(
      { image: sized, prompt: text, negativePrompt, strength, seed, steps, guidance, width: sized.width, height: sized.height, scheduler },
      hooks,
    );
  }
  throwIfCancelled(signal);
  if (context.embedding.changedSince(watermark)) {
    throw new EngineError('internal', 'the watermark setting changed while this job ran, so its output cannot be labelled; run it again');
  }
  const metadata: JobMetadata = {
    kind: request.kind,
    model: info.name,
    text,
    seed,
    steps,
    guidance,
    width: image.width,
    height: image.height,
    provider: pipeline.provider,
    createdAt: new Date().toISOString(),
    engineVersion: engineVersion(),
    scheduler,
    ...(negativePrompt ? { negativePrompt } : {}),
    ...(strength !== undefined ? { strength } : {}),
    ...(sliders ? { sliders } : {}),
    ...(watermark.keyId ? { watermarkKey: watermark.keyId } : {}),
    ...(preview ? { preview: true as const } : {}),
  };
  const png = await encodePng(image, metadataTextChunks(metadata));
  let file: string;
  try {
    file = (await context.history.save(jobId, png, metadata)).file;
  } catch (error) {
    throw new EngineError('internal', `could not save the output to ${context.history.dir}: ${messageOf(error)}`);
  }
  // the superseded slider render goes once this one is safe; failing to remove it fails nothing
  const replaced = replaces !== null && (await context.history.remove(replaces).catch(() => false)) ? { replaced: replaces } : {};
  return { image: { mime: 'image/png', bytes: png, width: image.width, height: image.height }, file, metadata, ...replaced };
}

/**
 * The output a slider preview may replace: a preview of the same edit (model, instruction, seed,
 * steps, guidance); null when it is gone already. Anything else is refused before the job runs.
 */
async function replaceable(history: HistoryStore, jobId: string, edit: Pick<JobMetadata, 'model' | 'text' | 'seed' | 'steps' | 'guidance'>): Promise<string | null> {
  const metadata = await history.readMetadata(jobId);
  if (metadata === null) return null;
  const same = metadata.kind === 'edit' && metadata.preview === true && (['model', 'text', 'seed', 'steps', 'guidance'] as const).every((k) => metadata[k] === edit[k]);
  if (!same) throw new EngineError('invalid_params', `output ${jobId} cannot be replaced: only a slider preview of the same edit (model, instruction, seed, steps, guidance) can`);
  return jobId;
}

function encodeForWire(image: RgbImage): EncodedImage {
  return { mime: 'image/png', bytes: encodePreviewPng(image), width: image.width, height: image.height };
}
