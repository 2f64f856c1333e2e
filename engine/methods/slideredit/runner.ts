/**
 * SliderEdit inside the engine: runs edit jobs that carry sliders, and keeps their sessions.
 *
 * - The STLoRA (checkpoint.ts) is read once per file by engine/adapters and set as a method adapter
 *   (live, per-token, weight 1) next to the user's adapters; setting it again is free (no plan
 *   change), so consecutive slider jobs keep the same transformer session. An edit without sliders
 *   keeps it in place at weight 0 (`plain`), so going back and forth between a plain Run and slider
 *   moves never rebuilds the transformer's session (on FLUX that takes far longer than the branch
 *   costs: rank 16 on the text tokens of a 12B model; on the tiny model a rebuild costs about a
 *   run, the branch under a tenth of one). A branch scaled by 0 adds 0 (adapters/live.ts), so the
 *   output is the plain edit's, exactly as strength 1 on every part is: bit for bit when the branch
 *   is folded into the layer's product, within float rounding of the summation order when other
 *   live adapters keep it beside the layer (3.6e-7 on the twin's final latents; tested). Other jobs
 *   (text to image, image to image) take it off, so they run the model as it is.
 * - Sessions (session.ts) are kept per (model, source image bytes, instruction, user adapters) in a
 *   small LRU: a slider move with the same image and instruction skips decoding the image, both
 *   text encoders and the VAE encoder, and reruns only the denoising loop and the decode. The LRU
 *   belongs to the pipeline it was filled from (a WeakMap), so a session made by a job that was
 *   still running while its model was reloaded can never serve the new pipeline: it holds the old
 *   one's stages.
 */
import { createHash } from 'node:crypto';
import { fileStamp } from '../../cache/file-stamp.js';
import { LruCache } from '../../cache/lru.js';
import { EngineError, throwIfCancelled } from '../../errors.js';
import type { RgbImage } from '../../images/rgb.js';
import type { AdapterManager } from '../../adapters/manager.js';
import type { Pipeline, RunHooks } from '../../pipelines/pipeline.js';
import { findCheckpoints, stloraFor } from './checkpoint.js';
import { SliderEditSession, type RenderInput } from './session.js';
import { partSpans } from './spans.js';
import { instructionParts, type InstructionPart } from './split.js';

export interface SliderRequest {
  /** The user's split ([] or absent: automatic). */
  parts?: readonly string[];
  /** One per part ([] or absent: 1 for every part). */
  strengths?: readonly number[];
  /** An STLoRA file instead of the model's own. */
  stlora?: string;
}

export interface SliderJob {
  modelId: string;
  modelDir: string;
  pipeline: Pipeline;
  /** The source image's encoded bytes (the cache key) and how to decode and size them on a miss. */
  imageBytes: Uint8Array;
  decodeImage: () => Promise<RgbImage>;
  instruction: string;
  sliders: SliderRequest;
}

export interface SliderResult {
  image: RgbImage;
  parts: string[];
  strengths: number[];
  /** Whether the encodings came from the cache (a slider move). */
  cached: boolean;
}

export interface PartInfo {
  text: string;
  start: number;
  end: number;
  /** [start, end) in the T5 ids, when a model is loaded to tokenize with. */
  tokens: [number, number] | null;
}

export class SliderEditRunner {
  private sessions = new WeakMap<Pipeline, LruCache<string, SliderEditSession>>();
  /** The STLoRA's adapter id by file stamp. */
  private readonly adapterIds = new LruCache<string, string>(8);

  constructor(private readonly adapters: AdapterManager) {}

  private async stloraId(file: string): Promise<string> {
    const key = fileStamp(file);
    let id = this.adapterIds.get(key);
    if (!id) {
      id = (await this.adapters.add({ path: file })).id;
      this.adapterIds.set(key, id);
    }
    return id;
  }

  /** Runs one slider job: the STLoRA in place, the session found or made, the scales, the loop. */
  async run(job: SliderJob, input: RenderInput, hooks: RunHooks): Promise<SliderResult> {
    const stages = job.pipeline.editStages;
    const host = job.pipeline.adapters;
    if (!stages || !host) throw new EngineError('invalid_params', 'this model cannot run SliderEdit (it needs a FLUX Kontext edit pipeline with adapters)');
    const id = await this.stloraId(stloraFor(job.modelDir, job.sliders.stlora));
    await this.adapters.setMethodAdapters(host, [{ id, enabled: true, weight: 1, mode: 'live', perToken: true, promptOnly: true }]);
    throwIfCancelled(hooks.signal);
    const imageKey = createHash('sha256').update(job.imageBytes).digest('hex');
    const key = JSON.stringify([job.modelId, imageKey, job.instruction, this.adapters.active()]);
    let sessions = this.sessions.get(job.pipeline);
    if (!sessions) {
      sessions = new LruCache<string, SliderEditSession>(4);
      this.sessions.set(job.pipeline, sessions);
    }
    let session = sessions.get(key);
    const cached = session !== undefined;
    if (!session) {
      const image = await job.decodeImage();
      throwIfCancelled(hooks.signal);
      session = await SliderEditSession.create(stages, image, job.instruction, hooks.signal);
      sessions.set(key, session);
    }
    const split = session.split(job.sliders.parts);
    const strengths = job.sliders.strengths && job.sliders.strengths.length > 0 ? [...job.sliders.strengths] : split.parts.map(() => 1);
    const scales = session.scales(split, strengths);
    throwIfCancelled(hooks.signal);
    const image = await session.render(scales, (v) => this.adapters.setTokenScales(id, v), input, hooks);
    return { image, parts: split.parts.map((p) => p.text), strengths, cached };
  }

  /** Before a job without sliders: an edit keeps the STLoRA at weight 0, anything else takes it off. */
  async plain(pipeline: Pipeline, kind: 'edit' | 'other'): Promise<void> {
    const method = this.adapters.methodAdapters();
    if (!pipeline.adapters || method.length === 0) return;
    await this.adapters.setMethodAdapters(pipeline.adapters, kind === 'edit' ? method.map((s) => ({ ...s, weight: 0 })) : []);
  }

  /** The split of an instruction with each part's T5 tokens (when a pipeline can say them). */
  parts(instruction: string, parts: readonly string[] | undefined, pipeline: Pipeline | null): PartInfo[] {
    const located: InstructionPart[] = instructionParts(instruction, parts); // the checks a run applies (count, empty)
    const stages = pipeline?.editStages;
    if (!stages) return located.map((p) => ({ ...p, tokens: null }));
    const { tokenizer, maxLength } = stages.t5();
    const spans = partSpans(tokenizer, maxLength, instruction, located);
    return located.map((p, i) => ({ ...p, tokens: [spans[i]!.start, spans[i]!.end] }));
  }

  /** Whether a model can run SliderEdit: an edit pipeline taking adapters, and an STLoRA of its own. */
  availability(model: { dir: string; pipeline: Pipeline } | null): { available: boolean; reason: string | null } {
    if (!model) return { available: false, reason: 'No model is loaded.' };
    if (!model.pipeline.editStages || !model.pipeline.adapters) return { available: false, reason: 'This model cannot run instruction sliders (they need a FLUX Kontext edit model).' };
    try {
      if (!findCheckpoints(model.dir)) return { available: false, reason: 'This model has no SliderEdit STLoRA (see the README: SliderEdit checkpoints).' };
    } catch (error) {
      return { available: false, reason: error instanceof Error ? error.message : String(error) };
    }
    return { available: true, reason: null };
  }

  /** Forgets every session (the model changed). */
  clear(): void {
    this.sessions = new WeakMap();
  }
}
