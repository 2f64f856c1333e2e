/**
 * The FLUX pipeline: text-to-image and Kontext instruction edits with flow-matching Euler.
 *
 * Text: the CLIP encoder's pooled output and the T5 encoder's token sequence, cached per prompt.
 * Latents: Philox noise (engine/noise) of shape (C, H/8, W/8), packed 2x2 into tokens with ids
 * [0, row, col]. Edit: the source image is VAE-encoded, normalized with the VAE's shift and scale,
 * packed with ids [1, row, col] and appended to the sequence; the velocity is read for the target
 * tokens only. Guidance is the embedded scalar of guidance-distilled FLUX (one pass per step), or,
 * for models made for it (FluxSpec.trueCfg), a true classifier-free guidance scale: a second pass
 * on the negative prompt (empty unless given) each step, v_neg + g (v - v_neg), as diffusers'
 * `true_cfg_scale`, the two prompts batched in one run where the graph allows it
 * (`batchesGuidance`); guidance <= 1 then runs the prompt's pass alone.
 * Graph I/O names come from the spec (Optimum and Black Forest Labs' exports differ); graphs with
 * bfloat16 I/O or in-graph sampling are prepared on first use (pipelines/sessions.ts).
 * Sessions open lazily and are released with the pipeline; with `lowMemory` the text encoders and
 * the transformer are never open together.
 */
import { EngineError, throwIfCancelled } from '../../errors.js';
import { planarFromRgb, rgbFromPlanar, type RgbImage } from '../../images/rgb.js';
import { LruCache } from '../../cache/lru.js';
import type { ModelEntry } from '../../models/catalog.js';
import { gaussianNoise } from '../../noise/philox.js';
import type { ProviderChoice, ProviderName } from '../../protocol/index.js';
import type { ModelSession, PromptPass } from '../../runtime/session.js';
import type { OrtFeeds } from '../../runtime/ort.js';
import { concatFloat32, float32Of, outputOf, tensorFor } from '../../runtime/tensors.js';
import { FlowMatchEulerScheduler } from '../../schedulers/flow-match-euler.js';
import { TextTokenizer } from '../../text/tokenizer.js';
import type { EditInput, EditStages, GenerateInput, Pipeline, RunHooks, TextEncoding } from '../pipeline.js';
import { defaultGraphCacheDir, SessionPool, type PipelineOptions } from '../sessions.js';
import { adapterHost, FLUX_ADAPTER_COMPONENTS as COMPONENTS, type AdapterHost } from '../adapter-host.js';
import { OPTIMUM_FLUX_IO, type FluxGraphIo, type FluxSpec } from './spec.js';
import { imageIds, packLatents, unpackLatents } from './packing.js';
import { previewFromPacked } from './preview.js';

/**
 * One job's transformer inputs; `feeds` fills in the latents and sigma of a step. A guided step
 * may run both prompts as one batch: `passes` names each batch row's prompt, in order.
 */
export interface StepInputs {
  transformer: ModelSession;
  h: number;
  w: number;
  tokens: number;
  features: number;
  passes: readonly PromptPass[];
  feeds(latents: Float32Array, sigma: number): OrtFeeds;
}

type GraphName = 'transformer' | 'clip' | 't5' | 'vaeEncoder' | 'vaeDecoder';

export class FluxPipeline implements Pipeline {
  private readonly sessions: SessionPool<GraphName>;
  private readonly textCache = new LruCache<string, TextEncoding>(64);
  private readonly scheduler: FlowMatchEulerScheduler;
  private readonly io: FluxGraphIo;
  private readonly lowMemory: boolean;
  private clipTokenizer: TextTokenizer | null = null;
  private t5Tokenizer: TextTokenizer | null = null;
  private loadedProvider: ProviderName;
  private loadNotice: string | null;
  /** Adapters attach here; a changed text encoder drops the cached prompt encodings. */
  readonly adapters: AdapterHost;

  private constructor(
    private readonly parts: FluxSpec,
    providerChoice: ProviderChoice,
    options: PipelineOptions,
  ) {
    this.scheduler = new FlowMatchEulerScheduler(parts.scheduler);
    this.io = parts.io ?? OPTIMUM_FLUX_IO;
    this.lowMemory = options.lowMemory ?? false;
    const { files } = parts;
    this.sessions = new SessionPool<GraphName>(
      {
        transformer: { file: files.transformer },
        clip: { file: files.clip },
        t5: { file: files.t5 },
        vaeEncoder: files.vaeEncoder ? { file: files.vaeEncoder, meanLatents: this.io.vaeEncoder?.sampled ?? false } : null,
        vaeDecoder: { file: files.vaeDecoder },
      },
      providerChoice,
      options.graphCacheDir ?? defaultGraphCacheDir(),
    );
    this.loadedProvider = 'cpu';
    this.loadNotice = null;
    this.adapters = adapterHost(this.sessions, COMPONENTS, (changed) => {
      if (changed.includes('clip') || changed.includes('t5')) this.textCache.clear();
    });
  }

  get provider(): ProviderName {
    return this.loadedProvider;
  }

  get notice(): string | null {
    return [this.loadNotice, ...this.sessions.notices].filter((n) => n !== null).join('; ') || null;
  }

  /**
   * Opens the denoiser now (so a bad model fails at load time); the rest opens on first use. With
   * `lowMemory` the VAE decoder is opened instead, and the transformer when the first job needs it.
   */
  static async load(entry: ModelEntry, provider: ProviderChoice, options: PipelineOptions = {}): Promise<FluxPipeline> {
    if (entry.spec.pipeline !== 'flux') throw new EngineError('model_error', `${entry.dir}: not a FLUX model`);
    const pipeline = new FluxPipeline(entry.spec, provider, options);
    const first = await pipeline.session(options.lowMemory ? 'vaeDecoder' : 'transformer');
    pipeline.loadedProvider = first.provider;
    pipeline.loadNotice = first.notice;
    return pipeline;
  }

  private async session(name: GraphName): Promise<ModelSession> {
    try {
      const session = await this.sessions.get(name);
      if (name === 'transformer') [this.loadedProvider, this.loadNotice] = [session.provider, session.notice]; // the denoiser's provider is the model's
      return session;
    } catch (error) {
      // BFL's fp8 / fp4 transformers are made for TensorRT: say so when ONNX Runtime refuses one.
      const variant = /transformer\.opt[\\/](fp[48])[\\/]/.exec(this.parts.files.transformer)?.[1];
      if (name !== 'transformer' || !variant || !(error instanceof EngineError)) throw error;
      throw new EngineError(
        'model_error',
        `${error.message} (transformer.opt/${variant} is an export for TensorRT, which ONNX Runtime's CPU and CUDA providers may not run; download transformer.opt/bf16/ from the same repository)`,
        { cause: error },
      );
    }
  }

  /** CLIP pooled and T5 sequence encodings of a prompt, cached per prompt (LRU). */
  async encodeText(text: string): Promise<TextEncoding> {
    return this.textCache.getOrCreate(text, () => this.runTextEncoders(text));
  }

  /** Edit stages for SliderEdit (engine/methods/slideredit), which caches the encodings itself. */
  readonly editStages: EditStages = {
    t5: () => ({ tokenizer: (this.t5Tokenizer ??= TextTokenizer.fromFolder(this.parts.tokenizerDirs.t5)), maxLength: this.parts.t5Length }),
    encodeText: (text) => this.runTextEncoders(text),
    encodeImage: (image) => this.encodeImage(image),
    denoise: (encoding, context, input, hooks) => {
      this.checkSize(input.width, input.height);
      return this.denoise(encoding, context, input, hooks);
    },
  };

  private async runTextEncoders(text: string): Promise<TextEncoding> {
    this.clipTokenizer ??= TextTokenizer.fromFolder(this.parts.tokenizerDirs.clip);
    this.t5Tokenizer ??= TextTokenizer.fromFolder(this.parts.tokenizerDirs.t5);
    if (this.lowMemory) await this.sessions.release('transformer');
    const { clipPooled, t5Hidden } = this.io;
    const clip = await this.session('clip');
    const clipIds = this.clipTokenizer.encode(text, this.parts.clipLength);
    const clipOut = await clip.run({ input_ids: tensorFor(clip.input('input_ids'), clipIds.ids, [1, this.parts.clipLength]) });
    const pooled = float32Of(outputOf(clipOut, clipPooled, clip.file), clipPooled).slice();
    if (this.lowMemory) await this.sessions.release('clip');
    const t5 = await this.session('t5');
    const t5Ids = this.t5Tokenizer.encode(text, this.parts.t5Length);
    const t5Out = await t5.run({ input_ids: tensorFor(t5.input('input_ids'), t5Ids.ids, [1, this.parts.t5Length]) });
    const sequence = float32Of(outputOf(t5Out, t5Hidden, t5.file), t5Hidden).slice();
    if (this.lowMemory) await this.sessions.release('t5');
    return { pooled, sequence, length: t5Ids.length };
  }

  /** The source image as packed, normalized context tokens. */
  async encodeImage(image: RgbImage): Promise<Float32Array> {
    const encoder = await this.session('vaeEncoder');
    const io = this.io.vaeEncoder ?? OPTIMUM_FLUX_IO.vaeEncoder!;
    const out = await encoder.run({ [io.input]: tensorFor(encoder.input(io.input), planarFromRgb(image), [1, 3, image.height, image.width]) });
    const raw = float32Of(outputOf(out, io.output, encoder.file), io.output);
    const { channels, vae } = this.parts;
    const h = image.height / this.parts.vaeScaleFactor;
    const w = image.width / this.parts.vaeScaleFactor;
    const mean = raw.subarray(0, channels * h * w); // mean first (then log-variance), or the prepared encoder's mean
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

  /** Whether a step at this guidance also runs the negative prompt (true CFG), so two denoiser runs. */
  runsNegativePass(guidance: number): boolean {
    return this.parts.trueCfg && guidance > 1;
  }

  generate(input: GenerateInput, hooks: RunHooks): Promise<RgbImage> {
    this.checkSize(input.width, input.height);
    return this.denoise(input.prompt, null, input, hooks, input.negativePrompt);
  }

  async edit(input: EditInput, hooks: RunHooks): Promise<RgbImage> {
    this.checkSize(input.width, input.height);
    const context = await this.encodeImage(input.image);
    throwIfCancelled(hooks.signal);
    return this.denoise(input.instruction, context, input, hooks);
  }

  /**
   * Everything one denoising step feeds the transformer except the latents and sigma, built once
   * per job: text encodings, ids, guidance. `pass` says which prompt `text` is; with a
   * `batchedNegative` encoding the step is one batch of two rows, [prompt, negative], sharing
   * latents, context and ids (see `batchesGuidance`).
   * Benchmarks time the bare session.run on these feeds.
   */
  async stepInputs(
    text: string | TextEncoding,
    context: Float32Array | null,
    size: { width: number; height: number; guidance: number },
    pass: PromptPass = 'prompt',
    batchedNegative: TextEncoding | null = null,
  ): Promise<StepInputs> {
    const { channels, vaeScaleFactor, t5Length } = this.parts;
    const h = size.height / vaeScaleFactor;
    const w = size.width / vaeScaleFactor;
    const tokens = (h / 2) * (w / 2);
    const features = channels * 4;
    const encodings = [typeof text === 'string' ? await this.encodeText(text) : text, ...(batchedNegative ? [batchedNegative] : [])];
    const passes: PromptPass[] = batchedNegative ? [pass, 'negative'] : [pass];
    const rows = encodings.length;
    const transformer = await this.session('transformer');
    const contextTokens = context ? context.length / features : 0;
    const sequence = tokens + contextTokens;
    const ids = context ? concatFloat32([imageIds(h, w, 0), imageIds(h, w, 1)]) : imageIds(h, w, 0);
    const hidden = new Float32Array(rows * sequence * features);
    if (context) for (let r = 0; r < rows; r++) hidden.set(context, (r * sequence + tokens) * features);
    const spec = (name: string) => transformer.input(name);
    const idsDims = (n: number) => (this.io.idsBatched ? [1, n, 3] : [n, 3]);
    const hiddenSize = encodings[0]!.sequence.length / t5Length;
    const fixed: OrtFeeds = {
      encoder_hidden_states: tensorFor(spec('encoder_hidden_states'), concatFloat32(encodings.map((e) => e.sequence)), [rows, t5Length, hiddenSize]),
      pooled_projections: tensorFor(spec('pooled_projections'), concatFloat32(encodings.map((e) => e.pooled)), [rows, encodings[0]!.pooled.length]),
      img_ids: tensorFor(spec('img_ids'), ids, idsDims(sequence)),
      txt_ids: tensorFor(spec('txt_ids'), new Float32Array(t5Length * 3), idsDims(t5Length)),
      ...(this.parts.guidanceEmbedded ? { guidance: tensorFor(spec('guidance'), new Array<number>(rows).fill(this.parts.trueCfg ? 1 : size.guidance), [rows]) } : {}),
    };
    return {
      transformer,
      h,
      w,
      tokens,
      features,
      passes,
      feeds(latents: Float32Array, sigma: number): OrtFeeds {
        for (let r = 0; r < rows; r++) hidden.set(latents, r * sequence * features);
        return {
          ...fixed,
          hidden_states: tensorFor(spec('hidden_states'), hidden, [rows, sequence, features]),
          timestep: tensorFor(spec('timestep'), new Array<number>(rows).fill(sigma), [rows]),
        };
      },
    };
  }

  /**
   * Whether a guided step runs the prompt and the negative prompt as one batch of two, as diffusers
   * batches classifier-free guidance for Stable Diffusion (its FLUX pipeline runs true CFG as two
   * calls): on CPU one batch of two costs well under two runs (ONNX Runtime's per-node cost is paid
   * once; bench engine prints both). It needs the transformer's batched inputs to have a dynamic
   * batch dimension, ids without one, and adapter scales that can take one row per pass. In
   * `lowMemory` mode the passes stay separate: a batch of two doubles the activations' peak.
   */
  async batchesGuidance(): Promise<boolean> {
    if (this.io.idsBatched || this.lowMemory) return false;
    const transformer = await this.session('transformer');
    const batched = ['hidden_states', 'encoder_hidden_states', 'pooled_projections', 'timestep', ...(this.parts.guidanceEmbedded ? ['guidance'] : [])];
    return batched.every((name) => typeof transformer.input(name).shape[0] === 'string') && transformer.canBatch(['prompt', 'negative']);
  }

  private async denoise(
    text: string | TextEncoding,
    context: Float32Array | null,
    input: { seed: number; steps: number; guidance: number; width: number; height: number },
    hooks: RunHooks,
    negativePrompt = '',
  ): Promise<RgbImage> {
    // The negative prompt is encoded first: in low-memory mode encoding releases the transformer.
    const negativeEncoding = this.runsNegativePass(input.guidance) ? await this.encodeText(negativePrompt) : null;
    const batched = negativeEncoding !== null && (await this.batchesGuidance());
    const step = await this.stepInputs(text, context, input, 'prompt', batched ? negativeEncoding : null);
    const negative = negativeEncoding && !batched ? await this.stepInputs(negativeEncoding, context, input, 'negative') : null;
    throwIfCancelled(hooks.signal);
    const { transformer, h, w, tokens, features } = step;
    let latents = packLatents(gaussianNoise(input.seed, this.parts.channels * h * w), this.parts.channels, h, w);
    const sigmas = this.scheduler.sigmas(input.steps, tokens);
    const output = this.io.transformerOutput;
    /** The velocity of each batch row (its target tokens; context tokens are dropped). */
    const velocitiesOf = async (inputs: StepInputs, sigma: number): Promise<Float32Array[]> => {
      const out = float32Of(outputOf(await transformer.run(inputs.feeds(latents, sigma), inputs.passes), output, transformer.file), output);
      const stride = out.length / inputs.passes.length;
      return inputs.passes.map((_, r) => out.subarray(r * stride, r * stride + tokens * features));
    };
    for (let i = 0; i < input.steps; i++) {
      throwIfCancelled(hooks.signal);
      const sigma = sigmas[i]!;
      const [prompt, batchedNegative] = await velocitiesOf(step, sigma);
      const negativeVelocity = batchedNegative ?? (negative ? (await velocitiesOf(negative, sigma))[0]! : null);
      const velocity = negativeVelocity ? guidedVelocity(prompt!, negativeVelocity, input.guidance) : prompt!;
      const preview = hooks.wantPreview ? previewFromPacked(latents, velocity, sigma, this.parts.channels, h, w, this.parts.preview) : null;
      latents = latents.slice();
      this.scheduler.step(latents, velocity, sigma, sigmas[i + 1]!);
      await hooks.onStep?.({ step: i + 1, total: input.steps, preview });
    }
    throwIfCancelled(hooks.signal);
    hooks.onLatents?.(latents);
    return this.decode(latents, h, w);
  }

  async decode(packed: Float32Array, h: number, w: number): Promise<RgbImage> {
    const { channels, vae, vaeScaleFactor } = this.parts;
    const z = unpackLatents(packed, channels, h, w);
    for (let i = 0; i < z.length; i++) z[i] = z[i]! / vae.scalingFactor + vae.shiftFactor;
    const decoder = await this.session('vaeDecoder');
    const { input, output } = this.io.vaeDecoder;
    const out = await decoder.run({ [input]: tensorFor(decoder.input(input), z, [1, channels, h, w]) });
    return rgbFromPlanar(float32Of(outputOf(out, output, decoder.file), output), w * vaeScaleFactor, h * vaeScaleFactor);
  }

  async release(): Promise<void> {
    this.textCache.clear();
    await this.sessions.releaseAll();
  }
}

/** Classifier-free guidance: v_neg + g (v - v_neg), in a new array. */
export function guidedVelocity(prompt: Float32Array, negative: Float32Array, guidance: number): Float32Array {
  const out = new Float32Array(prompt.length);
  for (let i = 0; i < out.length; i++) out[i] = negative[i]! + guidance * (prompt[i]! - negative[i]!);
  return out;
}
