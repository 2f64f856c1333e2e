/**
 * Which layers see the text tokens as their rows, so a per-token scale over the text tokens
 * (SliderEdit's STLoRA) can apply to them: a vector of one value per text token only lines up
 * with a (batch, text tokens, features) input.
 * - FLUX (diffusers names): the text stream of the double-stream blocks (add_q/k/v_proj,
 *   to_add_out, ff_context.*) and context_embedder. Single-stream blocks see text and image tokens
 *   concatenated, the image stream only image tokens: refused.
 * - Stable Diffusion: cross-attention keys and values (attn2.to_k, attn2.to_v) read the text.
 * - Text encoders: every layer runs over the text tokens.
 */
import type { Adapter, Component } from './model.js';

const DENOISER_TEXT = [/^transformer_blocks\.\d+\.attn\.(add_[qkv]_proj|to_add_out)$/, /^transformer_blocks\.\d+\.ff_context\./, /^context_embedder$/, /(^|\.)attn2\.to_[kv]$/];

export function isTextStreamModule(component: Component, module: string): boolean {
  if (component === 'text_encoder' || component === 'text_encoder_2') return true;
  if (component !== 'denoiser') return false;
  return DENOISER_TEXT.some((re) => re.test(module));
}

/** Why an adapter cannot take a per-token scale on a component's graph, or null. */
export function perTokenProblem(adapter: Adapter, component: Component): string | null {
  const off = adapter.targets.filter((t) => t.component === component && (t.naming !== 'dotted' || !isTextStreamModule(component, t.module)));
  if (off.length === 0) return null;
  return `a per-token scale needs every layer to run over the text tokens; ${off.length} do not (e.g. ${off[0]!.module})`;
}
