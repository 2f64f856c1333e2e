/**
 * A SliderEdit session: one (model, source image, instruction). It encodes the instruction (CLIP
 * pooled, T5 sequence) and the source image (context latents) once, when created; every render
 * after that, whatever the strengths or the split, runs only the denoising loop and the VAE
 * decode, with the per-token scales handed to the STLoRA's live branches first (a graph input, so
 * no session is rebuilt). The parts' token spans are cached per split.
 */
import { throwIfCancelled } from '../../errors.js';
import type { RgbImage } from '../../images/rgb.js';
import type { EditStages, RunHooks, TextEncoding } from '../../pipelines/pipeline.js';
import type { TokenSpan } from '../../text/tokenizer.js';
import { partSpans } from './spans.js';
import { instructionParts, type InstructionPart } from './split.js';
import { checkStrengths, tokenScales } from './token-scales.js';

export interface RenderInput {
  seed: number;
  steps: number;
  guidance: number;
}

export interface SplitParts {
  parts: InstructionPart[];
  spans: TokenSpan[];
}

export class SliderEditSession {
  private readonly splits = new Map<string, SplitParts>();

  private constructor(
    private readonly stages: EditStages,
    readonly instruction: string,
    readonly width: number,
    readonly height: number,
    private readonly encoding: TextEncoding,
    private readonly context: Float32Array,
  ) {}

  /** Encodes the instruction and the source image (already sized for the model). */
  static async create(stages: EditStages, image: RgbImage, instruction: string, signal?: AbortSignal): Promise<SliderEditSession> {
    const encoding = await stages.encodeText(instruction);
    if (signal) throwIfCancelled(signal);
    const context = await stages.encodeImage(image);
    return new SliderEditSession(stages, instruction, image.width, image.height, encoding, context);
  }

  /** The sub-instructions (the user's, or the automatic split) and their T5 token spans. */
  split(parts?: readonly string[]): SplitParts {
    const key = JSON.stringify(parts ?? []);
    let known = this.splits.get(key);
    if (!known) {
      const located = instructionParts(this.instruction, parts);
      const { tokenizer, maxLength } = this.stages.t5();
      known = { parts: located, spans: partSpans(tokenizer, maxLength, this.instruction, located) };
      this.splits.set(key, known);
    }
    return known;
  }

  /** The per-token scales for strengths (one per part of the split), as long as the T5 sequence. */
  scales(split: SplitParts, strengths: readonly number[]): Float32Array {
    checkStrengths(strengths, split.parts);
    return tokenScales(this.stages.t5().maxLength, split.spans, strengths);
  }

  /**
   * The denoising loop on the cached encodings. `applyScales` puts the vector where the STLoRA's
   * branches read it (AdapterManager.setTokenScales) before the first step.
   */
  render(scales: Float32Array, applyScales: (scales: Float32Array) => void, input: RenderInput, hooks: RunHooks): Promise<RgbImage> {
    applyScales(scales);
    return this.stages.denoise(this.encoding, this.context, { ...input, width: this.width, height: this.height }, hooks);
  }
}
