/**
 * The Stable Diffusion pipeline (SD 1.x, 2.x, SDXL, Turbo): text-to-image and image-to-image with
 * classifier-free guidance and negative prompts, driven by any DDPM-family scheduler
 * (engine/schedulers; epsilon, v-prediction and sample outputs are the scheduler's business).
 *
 * - Noise: the initial latents are Philox noise of the job's seed; ancestral / LCM steps draw
 *   theirs from per-step seeds derived from it (noise.ts), so a seed reproduces bit for bit.
 * - Text: per-prompt encodings (one or two encoders, text.ts) in an LRU cache; SDXL adds the
 *   pooled text_embeds and time_ids (original size, crop (0, 0), target size; or the aesthetic
 *   score variant), and zero negative embeddings when the model asks for them.
 * - img2img: the image is VAE-encoded (the distribution's mean), scaled, and noised to the first
 *   step of the last int(steps x strength) steps (the scheduler's addNoise).
 * - Previews: the scheduler's predicted clean latents, projected to RGB at latent resolution.
 * - Sessions open lazily and close on release; with `lowMemory` the encoders and the UNet are
 *   never open together. Cancellation is checked between steps.
 */
import { EngineError, messageOf, throwIfCancelled } from '../../errors.js';
import { resizeImage } from '../../images/codec.js';
import type { RgbImage } from '../../images/rgb.js';
import { LruCache } from '../../cache/lru.js';
import type { ModelEntry } from '../../models/catalog.js';
import { gaussianNoise } from '../../noise/philox.js';
import type { ProviderChoice, ProviderName } from '../../protocol/index.js';
import { createScheduler, initialSample, isSchedulerKind } from '../../schedulers/registry.js';
import type { SchedulePlan, Scheduler, SchedulerState } from '../../schedulers/types.js';
import type { GenerateInput, Img2ImgInput, Pipeline, RunHooks } from '../pipeline.js';
import { defaultGraphCacheDir, SessionPool, type PipelineOptions } from '../sessions.js';
import { adapterHost, SD_ADAPTER_COMPONENTS as COMPONENTS, type AdapterHost } from '../adapter-host.js';
import { stepNoise } from './noise.js';
import { previewFromLatents } from './preview.js';
import type { SdSpec } from './spec.js';
import { concatFeatures, runTextEncoder, zerosLike, type TextEncoding } from './text.js';
import { GuidedUnet, type Conditioning } from './unet.js';
import { decodeLatents, encodeImage } from './vae.js';

type GraphName = 'unet' | 'text0' | 'text1' | 'vaeEncoder' | 'vaeDecoder';
const TEXT_GRAPHS: GraphName[] = ['text0', 'text1'];

/** SDXL's aesthetic-score conditioning (refiner-style UNets with 5 time ids): diffusers' defaults. */
const AESTHETIC_SCORE = 6;
const NEGATIVE_AESTHETIC_SCORE = 2.5;

export class SdPipeline implements Pipeline {
  private readonly sessions: SessionPool<GraphName>;
  private readonly textCache = new LruCache<string, TextEncoding>(64);
  private readonly lowMemory: boolean;
  private loadedProvider: ProviderName = 'cpu';
  private loadNotice: string | null = null;
  /** Adapters attach here; a changed text encoder drops the cached prompt encodings. */
  readonly adapters: AdapterHost;

  private constructor(
    readonly spec: SdSpec,
    providerChoice: ProviderChoice,
    options: PipelineOptions,
  ) {
    this.lowMemory = options.lowMemory ?? false;
    const [te0, te1] = spec.textEncoders;
    this.sessions = new SessionPool<GraphName>(
      {
        unet: { file: spec.unet.file },
        text0: te0 ? { file: te0.file } : null,
        text1: te1 ? { file: te1.file } : null,
        vaeEncoder: spec.vaeEncoder ? { file: spec.vaeEncoder.file, meanLatents: spec.vaeEncoder.sampled } : null,
        vaeDecoder: { file: spec.vaeDecoder.file },
      },
      providerChoice,
      options.graphCacheDir ?? defaultGraphCacheDir(),
    );
    this.adapters = adapterHost(this.sessions, COMPONENTS, (changed) => {
      if (changed.some((n) => TEXT_GRAPHS.includes(n))) this.textCache.clear();
    });
  }

  get provider(): ProviderName {
    return this.loadedProvider;
  }

  get notice(): string | null {
    return [this.loadNotice, ...this.sessions.notices].filter((n) => n !== null).join('; ') || null;
  }

  /** Opens the UNet now (a bad model fails at load time), or with `lowMemory` the VAE decoder. */
  static async load(entry: ModelEntry, provider: ProviderChoice, options: PipelineOptions = {}): Promise<SdPipeline> {
    if (entry.spec.pipeline !== 'sd') throw new EngineError('model_error', `${entry.dir}: not a Stable Diffusion model`);
    const pipeline = new SdPipeline(entry.spec, provider, options);
    const first = await pipeline.sessions.get(options.lowMemory ? 'vaeDecoder' : 'unet');
    pipeline.loadedProvider = first.provider;
    pipeline.loadNotice = first.notice;
    return pipeline;
  }

  /** The prompt's encoding, from the cache or the text encoders. */
  async encodePrompt(text: string): Promise<TextEncoding> {
    return this.textCache.getOrCreate(text, async () => {
      if (this.lowMemory) await this.sessions.release('unet');
      const parts: Array<{ hidden: Float32Array; width: number; pooled: Float32Array | null }> = [];
      for (const [i, encoder] of this.spec.textEncoders.entries()) {
        const name = TEXT_GRAPHS[i]!;
        parts.push(await runTextEncoder(await this.sessions.get(name), encoder, text));
        if (this.lowMemory) await this.sessions.release(name);
      }
      const tokens = this.spec.textEncoders[0]!.length;
      const { hidden, features } = concatFeatures(parts, tokens);
      return { hidden, tokens, features, pooled: parts.find((p) => p.pooled)?.pooled ?? null };
    });
  }

  private timeIds(width: number, height: number, negative: boolean): Float32Array | null {
    const n = this.spec.unet.timeIds;
    if (n === 6) return Float32Array.from([height, width, 0, 0, height, width]);
    if (n === 5) return Float32Array.from([height, width, 0, 0, negative ? NEGATIVE_AESTHETIC_SCORE : AESTHETIC_SCORE]);
    return null;
  }

  private async conditioning(input: GenerateInput): Promise<{ positive: Conditioning; negative: Conditioning | null }> {
    const positiveText = await this.encodePrompt(input.prompt);
    const positive = { text: positiveText, timeIds: this.timeIds(input.width, input.height, false) };
    if (!(input.guidance > 1)) return { positive, negative: null };
    const negativeText =
      input.negativePrompt === '' && this.spec.zerosForEmptyNegative ? zerosLike(positiveText) : await this.encodePrompt(input.negativePrompt);
    return { positive, negative: { text: negativeText, timeIds: this.timeIds(input.width, input.height, true) } };
  }

  private scheduler(kind: string): Scheduler {
    if (!isSchedulerKind(kind)) throw new EngineError('invalid_params', `unknown scheduler "${kind}"`);
    try {
      return createScheduler(this.spec.scheduler, kind);
    } catch (error) {
      throw new EngineError('invalid_params', `scheduler ${kind}: ${messageOf(error)}`);
    }
  }

  private plan(scheduler: Scheduler, steps: number, strength: number): SchedulePlan {
    try {
      return scheduler.timesteps(steps, { strength });
    } catch (error) {
      throw new EngineError('invalid_params', `${scheduler.kind} with ${steps} steps${strength < 1 ? ` at strength ${strength}` : ''}: ${messageOf(error)}`);
    }
  }

  private checkSize(width: number, height: number): void {
    const m = this.spec.sizeMultiple;
    if (width % m !== 0 || height % m !== 0 || width < m || height < m) {
      throw new EngineError('invalid_params', `width and height must be multiples of ${m} for this model, got ${width}x${height}`);
    }
  }

  generate(input: GenerateInput, hooks: RunHooks): Promise<RgbImage> {
    this.checkSize(input.width, input.height);
    return this.denoise(input, null, 1, hooks);
  }

  async img2img(input: Img2ImgInput, hooks: RunHooks): Promise<RgbImage> {
    if (!this.spec.vaeEncoder) throw new EngineError('invalid_params', 'this model has no VAE encoder, so it cannot run image-to-image jobs');
    if (input.strength <= 0) return input.image;
    const m = this.spec.sizeMultiple;
    const width = Math.max(m, Math.round(input.image.width / m) * m);
    const height = Math.max(m, Math.round(input.image.height / m) * m);
    const image = await resizeImage(input.image, width, height, 'cover');
    throwIfCancelled(hooks.signal);
    const latents = encodeImage(await this.sessions.get('vaeEncoder'), this.spec, image);
    return this.denoise({ ...input, width, height }, await latents, Math.min(1, input.strength), hooks);
  }

  private async denoise(input: GenerateInput, init: Float32Array | null, strength: number, hooks: RunHooks): Promise<RgbImage> {
    const { channels, vaeScaleFactor } = this.spec;
    const h = input.height / vaeScaleFactor;
    const w = input.width / vaeScaleFactor;
    const count = channels * h * w;
    const scheduler = this.scheduler(input.scheduler);
    const plan = this.plan(scheduler, input.steps, strength);
    const { positive, negative } = await this.conditioning(input);
    throwIfCancelled(hooks.signal);
    const session = await this.sessions.get('unet');
    [this.loadedProvider, this.loadNotice] = [session.provider, session.notice]; // the denoiser's provider is the model's
    const unet = new GuidedUnet(session, this.spec.unet, { channels, h, w });
    const noise = gaussianNoise(input.seed, count);
    let x = init ? scheduler.addNoise(plan, init, noise, 0) : initialSample(plan, noise);
    let state: SchedulerState = null;
    for (let i = 0; i < plan.steps; i++) {
      throwIfCancelled(hooks.signal);
      const out = await unet.predict({ sample: scheduler.scaleModelInput(plan, x, i), timestep: plan.timesteps[i]!, positive, negative, guidance: input.guidance });
      const stepNoiseValues = scheduler.needsNoise(plan, i) ? stepNoise(input.seed, plan.startIndex + i, count) : undefined;
      const result = scheduler.step(plan, i, out, x, { noise: stepNoiseValues, state });
      x = result.sample;
      state = result.state;
      const preview = hooks.wantPreview ? previewFromLatents(result.predictedOriginal, channels, h, w, this.spec.preview) : null;
      await hooks.onStep?.({ step: i + 1, total: plan.steps, preview });
    }
    throwIfCancelled(hooks.signal);
    return decodeLatents(await this.sessions.get('vaeDecoder'), this.spec, x, h, w);
  }

  async release(): Promise<void> {
    this.textCache.clear();
    await this.sessions.releaseAll();
  }
}
