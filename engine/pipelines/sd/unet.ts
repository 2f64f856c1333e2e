/**
 * One UNet evaluation with classifier-free guidance (Ho & Salimans 2022):
 * out = uncond + g * (cond - uncond). When the graph's batch dim is dynamic (or fixed at 2) the
 * unconditional and conditional inputs run as one batch of two, [uncond, cond] as diffusers
 * orders them (each row with its pass's adapter scales); a graph fixed at batch 1, or adapter
 * scales that cannot differ per row, get two runs. Without guidance (g <= 1, Turbo's 0) only
 * the conditional pass runs. Inputs are fed in the graph's own dtypes (float16 exports, int64 or
 * float timesteps, rank-0 or per-sample timesteps: read by the layout detector).
 */
import type { OrtFeeds } from '../../runtime/ort.js';
import type { ModelSession, PromptPass } from '../../runtime/session.js';
import { concatFloat32, float32Of, outputOf, tensorFor } from '../../runtime/tensors.js';
import type { SdUnetSpec } from './spec.js';
import type { TextEncoding } from './text.js';

export interface Conditioning {
  text: TextEncoding;
  /** SDXL time_ids for this branch, else null. */
  timeIds: Float32Array | null;
}

export interface UnetCall {
  /** The model input for this step, (C, h, w). */
  sample: Float32Array;
  timestep: number;
  positive: Conditioning;
  /** The unconditional branch; null when guidance is off. */
  negative: Conditioning | null;
  guidance: number;
}

export class GuidedUnet {
  constructor(
    private readonly session: ModelSession,
    private readonly spec: SdUnetSpec,
    private readonly latentShape: { channels: number; h: number; w: number },
  ) {}

  /** Whether guided steps run as one batch of two (the graph takes it, and so do adapter scales). */
  get batchesGuidance(): boolean {
    return (this.spec.batch === null || this.spec.batch === 2) && this.session.canBatch(['negative', 'prompt']);
  }

  private feeds(sample: Float32Array, timestep: number, branches: Conditioning[]): OrtFeeds {
    const n = branches.length;
    const { channels, h, w } = this.latentShape;
    const input = (name: string) => this.session.input(name);
    const text = branches.map((b) => b.text);
    const first = text[0]!;
    const t = this.spec.timestep;
    const feeds: OrtFeeds = {
      sample: tensorFor(input('sample'), concatFloat32(Array.from({ length: n }, () => sample)), [n, channels, h, w]),
      timestep: tensorFor(input('timestep'), t === 'per-sample' ? new Array<number>(n).fill(timestep) : [timestep], t === 'scalar' ? [] : [t === 'per-sample' ? n : 1]),
      encoder_hidden_states: tensorFor(input('encoder_hidden_states'), concatFloat32(text.map((e) => e.hidden)), [n, first.tokens, first.features]),
    };
    if (this.spec.timeIds > 0) {
      const pooled = text.map((e) => e.pooled ?? new Float32Array(0));
      feeds.text_embeds = tensorFor(input('text_embeds'), concatFloat32(pooled), [n, pooled[0]!.length]);
      feeds.time_ids = tensorFor(input('time_ids'), concatFloat32(branches.map((b) => b.timeIds ?? new Float32Array(this.spec.timeIds))), [n, this.spec.timeIds]);
    }
    return feeds;
  }

  private async run(sample: Float32Array, timestep: number, branches: Conditioning[], passes: readonly PromptPass[]): Promise<Float32Array> {
    const out = await this.session.run(this.feeds(sample, timestep, branches), passes);
    return float32Of(outputOf(out, this.spec.output, this.session.file), this.spec.output);
  }

  /** The (guided) model output for one step, (C, h, w). */
  async predict(call: UnetCall): Promise<Float32Array> {
    const size = call.sample.length;
    if (!call.negative) {
      // A graph fixed at batch 2 still needs two items: run the conditional twice.
      const branches = this.spec.batch === 2 ? [call.positive, call.positive] : [call.positive];
      return (await this.run(call.sample, call.timestep, branches, branches.map(() => 'prompt'))).slice(0, size);
    }
    let uncond: Float32Array;
    let cond: Float32Array;
    if (this.batchesGuidance) {
      const both = await this.run(call.sample, call.timestep, [call.negative, call.positive], ['negative', 'prompt']);
      uncond = both.subarray(0, size);
      cond = both.subarray(size, 2 * size);
    } else {
      uncond = await this.run(call.sample, call.timestep, [call.negative], ['negative']);
      cond = await this.run(call.sample, call.timestep, [call.positive], ['prompt']);
    }
    const g = call.guidance;
    const out = new Float32Array(size);
    for (let i = 0; i < size; i++) out[i] = uncond[i]! + g * (cond[i]! - uncond[i]!);
    return out;
  }
}
