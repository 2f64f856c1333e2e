/**
 * What every pipeline offers the engine. A pipeline owns a model's sessions and turns a job's
 * resolved parameters into an image, reporting each denoising step (with a cheap preview) and
 * checking its AbortSignal between steps. Schedulers are separate, small pure objects
 * (engine/schedulers); pipelines compose them with the model's graphs.
 */
import type { ProviderName } from '../protocol/index.js';
import type { RgbImage } from '../images/rgb.js';
import type { AdapterHost } from './adapter-host.js';
import type { TextTokenizer } from '../text/tokenizer.js';

export interface StepReport {
  step: number;
  total: number;
  /** Built only when asked for (`wantPreview`), from the current latents. */
  preview: RgbImage | null;
}

export interface RunHooks {
  signal: AbortSignal;
  /** Called after every denoising step. */
  onStep?: (report: StepReport) => void | Promise<void>;
  /** Whether step reports should carry a preview image. */
  wantPreview?: boolean;
  /** The final latents before the VAE decode (evaluations compare runs on them, in float32). */
  onLatents?: (latents: Float32Array) => void;
}

export interface GenerateInput {
  prompt: string;
  /** Empty when none was given (or the model takes none). */
  negativePrompt: string;
  seed: number;
  steps: number;
  guidance: number;
  width: number;
  height: number;
  /** One of the model's scheduler kinds. */
  scheduler: string;
}

export interface Img2ImgInput extends GenerateInput {
  /** The starting image, already decoded and sized to width x height. */
  image: RgbImage;
  /** 0 keeps the image, 1 ignores it. */
  strength: number;
}

export interface EditInput {
  /** The source image, already decoded and sized to width x height. */
  image: RgbImage;
  instruction: string;
  seed: number;
  steps: number;
  guidance: number;
  width: number;
  height: number;
}

/** A prompt's encodings for a FLUX-style denoiser: CLIP's pooled vector and T5's token sequence. */
export interface TextEncoding {
  pooled: Float32Array;
  sequence: Float32Array;
  /** Real T5 tokens (end-of-text included); the rest of the sequence is padding. */
  length: number;
}

/**
 * The stages of an instruction edit, for methods that keep the encodings between runs (SliderEdit:
 * a slider move reruns only the denoising loop). The encoders here are not cached by the pipeline.
 */
export interface EditStages {
  /** The T5 tokenizer and the sequence length its encoder gets (token spans, per-token scales). */
  t5(): { tokenizer: TextTokenizer; maxLength: number };
  encodeText(text: string): Promise<TextEncoding>;
  /** The source image as the denoiser's context latents. */
  encodeImage(image: RgbImage): Promise<Float32Array>;
  /** The denoising loop and the VAE decode, from encodings made by the two functions above. */
  denoise(encoding: TextEncoding, context: Float32Array, input: Omit<EditInput, 'image' | 'instruction'>, hooks: RunHooks): Promise<RgbImage>;
}

export interface Pipeline {
  readonly provider: ProviderName;
  /** Why the pipeline is not on the provider that was asked for, if it is not. */
  readonly notice: string | null;
  generate(input: GenerateInput, hooks: RunHooks): Promise<RgbImage>;
  /** Instruction edits (Kontext models); absent where the model has no such task. */
  edit?(input: EditInput, hooks: RunHooks): Promise<RgbImage>;
  /** Image-to-image (SD models); absent where the model has no such task. */
  img2img?(input: Img2ImgInput, hooks: RunHooks): Promise<RgbImage>;
  /** The edit's stages one by one (FLUX Kontext); absent where the model has no instruction edits. */
  readonly editStages?: EditStages;
  /** Where adapters (LoRAs) attach (pipelines/adapter-host.ts); absent where a pipeline takes none. */
  readonly adapters?: AdapterHost;
  release(): Promise<void>;
}
