/**
 * Prompt encodings for the UNet: SD 1.x/2.x take one CLIP encoder's last hidden state; SDXL
 * concatenates, per token, the penultimate hidden states of both encoders (CLIP ViT-L 768 +
 * OpenCLIP bigG 1280 = 2048 features) and takes the second encoder's projected pooled output as
 * text_embeds (diffusers' StableDiffusionXLPipeline.encode_prompt). Output names come from the
 * spec, token ids are fed in whatever integer type the graph declares.
 */
import { TextTokenizer } from '../../text/tokenizer.js';
import type { ModelSession } from '../../runtime/session.js';
import { float32Of, outputOf, tensorFor } from '../../runtime/tensors.js';
import type { SdTextEncoderSpec } from './spec.js';

export interface TextEncoding {
  /** (tokens, features) row-major: the UNet's encoder_hidden_states for one prompt. */
  hidden: Float32Array;
  tokens: number;
  features: number;
  /** text_embeds (SDXL), else null. */
  pooled: Float32Array | null;
}

/** One encoder's outputs for a text: hidden (tokens x width) and, if it has one, the pooled vector. */
export async function runTextEncoder(session: ModelSession, spec: SdTextEncoderSpec, text: string): Promise<{ hidden: Float32Array; width: number; pooled: Float32Array | null }> {
  const tokenizer = TextTokenizer.fromFolder(spec.tokenizerDir);
  const { ids } = tokenizer.encode(text, spec.length);
  const out = await session.run({ input_ids: tensorFor(session.input('input_ids'), ids, [1, spec.length]) });
  const hidden = float32Of(outputOf(out, spec.hidden, session.file), spec.hidden).slice();
  const pooled = spec.pooled ? float32Of(outputOf(out, spec.pooled, session.file), spec.pooled).slice() : null;
  return { hidden, width: hidden.length / spec.length, pooled };
}

/** Concatenates per-token features of several encoders (SDXL: ViT-L then bigG). */
export function concatFeatures(parts: Array<{ hidden: Float32Array; width: number }>, tokens: number): { hidden: Float32Array; features: number } {
  if (parts.length === 1) return { hidden: parts[0]!.hidden, features: parts[0]!.width };
  const features = parts.reduce((n, p) => n + p.width, 0);
  const hidden = new Float32Array(tokens * features);
  for (let t = 0; t < tokens; t++) {
    let offset = t * features;
    for (const p of parts) {
      hidden.set(p.hidden.subarray(t * p.width, (t + 1) * p.width), offset);
      offset += p.width;
    }
  }
  return { hidden, features };
}

/** An encoding of the same shape, all zeros (SDXL's empty negative prompt). */
export function zerosLike(e: TextEncoding): TextEncoding {
  return { hidden: new Float32Array(e.hidden.length), tokens: e.tokens, features: e.features, pooled: e.pooled ? new Float32Array(e.pooled.length) : null };
}
