/**
 * The FLUX pipeline: text-to-image and Kontext instruction edits with flow-matching Euler.
 *
 * Text: the CLIP encoder's pooled output and the T5 encoder's token sequence, cached per prompt.
 * Latents: Philox noise (engine/noise) of shape (C, H/8, W/8), packed 2x2 into tokens with ids
 * [0, row, col]. Edit: the source image is VAE-encoded, normalized with the VAE's shift and scale,
 * packed with ids [1, row, col] and appended to the sequence; the velocity is read for the target
 * tokens only. Guidance is the embedded scalar of guidance-distilled FLUX (no CFG pass).
 * Sessions open lazily and are released with the pipeline.
 */
import { EngineError, throwIfCancelled } from '../../errors.js';
import { planarFromRgb, rgbFromPlanar, type RgbImage } from '../../images/rgb.js';
import { LruCache } from '../../cache/lru.js';
import type { ModelEntry } from '../../models/catalog.js';
import { gaussianNoise } from '../../noise/philox.js';
import type { ProviderChoice, ProviderName } from '../../protocol/index.js';
import { openSession, type ModelSession } from '../../runtime/session.js';
import type { OrtFeeds } from '../../runtime/ort.js';
import { float32Of, outputOf, tensorFor } from '../../runtime/tensors.js';
import { FlowMatchEulerScheduler } from '../../schedulers/flow-match-euler.js';
import { TextTokenizer } from '../../text/tokenizer.js';
import type { EditInput, GenerateInput, Pipeline, RunHooks } from '../pipeline.js';
import type { FluxSpec } from './spec.js';
import { imageIds, packLatents, unpackLatents } from './packing.js';
import { previewFromPacked } from './preview.js';

/** One job's transformer inputs; `feeds` fills in the latents and sigma of a step. */
export interface StepInputs {
  transformer: ModelSession;
  h: number;
  w: number;
  tokens: number;
  features: number;
  feeds(latents: Float32Array, sigma: number): OrtFeeds;
}

interface TextEncoding {
  pooled: Float32Array;
  sequence: Float32Array;
  length: number;
}

type GraphName = 'transformer' | 'clip' | 't5' | 'vaeEncoder' | 'vaeDecoder';

export class FluxPipeline implements Pipeline {
  private readonly sessions = new Map<GraphName, ModelSession>();
  private readonly textCache = new LruCache<string, TextEncoding>(64);
  private readonly scheduler: FlowMatchEulerScheduler;
  private clipTokenizer: TextTokenizer | null = null;
  private t5Tokenizer: TextTokenizer | null = null;

  private constructor(
    private readonly parts: FluxSpec,
    private readonly providerChoice: ProviderChoice,
    readonly provider: ProviderName,
    readonly notice: string | null,
  ) {
    this.scheduler = new FlowMatchEulerScheduler(parts.scheduler);
  }

  /** Opens the denoiser now (so a bad model fails at load time); the rest opens on first use. */
  static async load(entry: ModelEntry, provider: ProviderChoice): Promise<FluxPipeline> {
    const parts = entry.spec;
    const transformer = await openSession(parts.files.transformer, { provider });
    const pipeline = new FluxPipeline(parts, provider, transformer.provider, transformer.notice);
    pipeline.sessions.set('transformer', transformer);
    return pipeline;
  }

  private async session(name: GraphName): Promise<ModelSession> {
    let session = this.sessions.get(name);
    if (!session) {
      const file = this.parts.files[name];
      if (!file) throw new EngineError('model_error', `this model has no ${name} graph`);
      session = await openSession(file, { provider: this.providerChoice });
      this.sessions.set(name, session);
    }
    return session;
  }

  async encodeText(text: string): Promise<TextEncoding> {
    return this.textCache.getOrCreate(text, async () => {
      this.clipTokenizer ??= TextTokenizer.fromFolder(this.parts.tokenizerDirs.clip);
      this.t5Tokenizer ??= TextTokenizer.fromFolder(this.parts.tokenizerDirs.t5);
      const clip = await this.session('clip');
      const t5 = await this.session('t5');
      const clipIds = this.clipTokenizer.encode(text, this.parts.clipLength);
      const t5Ids = this.t5Tokenizer.encode(text, this.parts.t5Length);
      const clipOut = await clip.run({ input_ids: tensorFor(clip.input('input_ids'), clipIds.ids, [1, this.parts.clipLength]) });
      const t5Out = await t5.run({ input_ids: tensorFor(t5.input('input_ids'), t5Ids.ids, [1, this.parts.t5Length]) });
      return {
        pooled: float32Of(outputOf(clipOut, 'pooler_output', clip.file), 'pooler_output'),
        sequence: float32Of(outputOf(t5Out, 'last_hidden_state', t5.file), 'last_hidden_state'),
        length: t5Ids.length,
      };
    });
  }

  /** The source image as packed, normalized context tokens. */
  async encodeImage(image: RgbImage): Promise<Float32Array> {
    const encoder = await this.session('vaeEncoder');
    const out = await encoder.run({ sample: tensorFor(encoder.input('sample'), planarFromRgb(image), [1, 3, image.height, image.width]) });
    const name = encoder.outputs[0]!.name;
    const raw = float32Of(outputOf(out, name, encoder.file), name);
    const { channels, vae } = this.parts;
    const h = image.height / this.parts.vaeScaleFactor;
    const w = image.width / this.parts.vaeScaleFactor;
    const mean = raw.subarray(0, channels * h * w); // latent_parameters: mean first, then log-variance
    const z = new Float32Array(mean.length);
    for (let i = 0; i < z.length; i++) z[i] = (mean[i]! - vae.shiftFactor) * vae.scalingFactor;
    return packLatents(z, channels, h, w);
  }

  private checkSize(width: number, height: number): void {
    const multiple = this.parts.vaeScaleFactor * 2;
    if (width % multiple !== 0 || height % multiple !== 0) {
      throw new EngineError('invalid_params', `width and height must be multiples of ${multiple} for this model, got ${width}x${height}`);
    }
  }

  generate(input: GenerateInput, hooks: RunHooks): Promise<RgbImage> {
    this.checkSize(input.width, input.height);
    return this.denoise(input.prompt, null, input, hooks);
  }

  async edit(input: EditInput, hooks: RunHooks): Promise<RgbImage> {
    this.checkSize(input.width, input.height);
    const context = await this.encodeImage(input.image);
    throwIfCancelled(hooks.signal);
    return this.denoise(input.instruction, context, input, hooks);
  }

  /**
   * Everything one denoising step feeds the transformer except the latents and sigma, built once
   * per job: text encodings, ids, guidance. Benchmarks time the bare session.run on these feeds.
   */
  async stepInputs(text: string, context: Float32Array | null, size: { width: number; height: number; guidance: number }): Promise<StepInputs> {
    const { channels, vaeScaleFactor, t5Length } = this.parts;
    const h = size.height / vaeScaleFactor;
    const w = size.width / vaeScaleFactor;
    const tokens = (h / 2) * (w / 2);
    const features = channels * 4;
    const encoding = await this.encodeText(text);
    const transformer = await this.session('transformer');
    const contextTokens = context ? context.length / features : 0;
    const sequence = tokens + contextTokens;
    const ids = context ? concat(imageIds(h, w, 0), imageIds(h, w, 1)) : imageIds(h, w, 0);
    const hidden = new Float32Array(sequence * features);
    if (context) hidden.set(context, tokens * features);
    const spec = (name: string) => transformer.input(name);
    const fixed: OrtFeeds = {
      encoder_hidden_states: tensorFor(spec('encoder_hidden_states'), encoding.sequence, [1, t5Length, encoding.sequence.length / t5Length]),
      pooled_projections: tensorFor(spec('pooled_projections'), encoding.pooled, [1, encoding.pooled.length]),
      img_ids: tensorFor(spec('img_ids'), ids, [sequence, 3]),
      txt_ids: tensorFor(spec('txt_ids'), new Float32Array(t5Length * 3), [t5Length, 3]),
      ...(this.parts.guidanceEmbedded ? { guidance: tensorFor(spec('guidance'), [size.guidance], [1]) } : {}),
    };
    return {
      transformer,
      h,
      w,
      tokens,
      features,
      feeds(latents: Float32Array, sigma: number): OrtFeeds {
        hidden.set(latents, 0);
        return {
          ...fixed,
          hidden_states: tensorFor(spec('hidden_states'), hidden, [1, sequence, features]),
          timestep: tensorFor(spec('timestep'), [sigma], [1]),
        };
      },
    };
  }

  private async denoise(
    text: string,
    context: Float32Array | null,
    input: { seed: number; steps: number; guidance: number; width: number; height: number },
    hooks: RunHooks,
  ): Promise<RgbImage> {
    const step = await this.stepInputs(text, context, input);
    throwIfCancelled(hooks.signal);
    const { transformer, h, w, tokens, features } = step;
    let latents = packLatents(gaussianNoise(input.seed, this.parts.channels * h * w), this.parts.channels, h, w);
    const sigmas = this.scheduler.sigmas(input.steps, tokens);
    for (let i = 0; i < input.steps; i++) {
      throwIfCancelled(hooks.signal);
      const sigma = sigmas[i]!;
      const out = await transformer.run(step.feeds(latents, sigma));
      const velocity = float32Of(outputOf(out, transformer.outputs[0]!.name, transformer.file)).subarray(0, tokens * features);
      const preview = hooks.wantPreview ? previewFromPacked(latents, velocity, sigma, this.parts.channels, h, w, this.parts.preview) : null;
      latents = latents.slice();
      this.scheduler.step(latents, velocity, sigma, sigmas[i + 1]!);
      await hooks.onStep?.({ step: i + 1, total: input.steps, preview });
    }
    throwIfCancelled(hooks.signal);
    return this.decode(latents, h, w);
  }

  async decode(packed: Float32Array, h: number, w: number): Promise<RgbImage> {
    const { channels, vae, vaeScaleFactor } = this.parts;
    const z = unpackLatents(packed, channels, h, w);
    for (let i = 0; i < z.length; i++) z[i] = z[i]! / vae.scalingFactor + vae.shiftFactor;
    const decoder = await this.session('vaeDecoder');
    const out = await decoder.run({ latent_sample: tensorFor(decoder.input('latent_sample'), z, [1, channels, h, w]) });
    const name = decoder.outputs[0]!.name;
    return rgbFromPlanar(float32Of(outputOf(out, name, decoder.file), name), w * vaeScaleFactor, h * vaeScaleFactor);
  }

  async release(): Promise<void> {
    const sessions = [...this.sessions.values()];
    this.sessions.clear();
    this.textCache.clear();
    await Promise.all(sessions.map((s) => s.release()));
  }
}

function concat(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
