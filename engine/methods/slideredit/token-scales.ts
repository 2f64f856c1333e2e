/**
 * Where a slider value becomes a per-token scale. The user sets strength_i in [0, 2] for
 * sub-instruction i (1 = as typed, 0 = off, 2 = exaggerated); the STLoRA's scale is
 * alpha_i = 1 - strength_i (SliderEdit's convention: alpha 0 is the base model's edit, 1 suppresses
 * the instruction, negative exaggerates it), and the scale vector over the T5 tokens is
 * s = sum_i alpha_i * mask_i, with mask_i the indicator of part i's token span. Tokens outside every
 * part (separators, the end-of-text token, padding) get 0. The vector is fed to the STLoRA's live
 * branches as (1, tokens, 1) through engine/adapters (AdapterManager.setTokenScales).
 */
import { EngineError } from '../../errors.js';
import type { TokenSpan } from '../../text/tokenizer.js';

export const MIN_STRENGTH = 0;
export const MAX_STRENGTH = 2;

/** Checks strengths against their parts: one per part, each a number in [0, 2]. */
export function checkStrengths(strengths: readonly number[], parts: readonly { text: string }[]): void {
  if (strengths.length !== parts.length) {
    const named = parts.map((p) => `"${p.text}"`).join(', ');
    throw new EngineError('invalid_params', `${parts.length} sub-instructions (${named}) but ${strengths.length} strengths: give one strength per sub-instruction, in order`);
  }
  strengths.forEach((s, i) => {
    if (!Number.isFinite(s) || s < MIN_STRENGTH || s > MAX_STRENGTH) {
      throw new EngineError('invalid_params', `strength of "${parts[i]!.text}" must be from ${MIN_STRENGTH} to ${MAX_STRENGTH}, got ${s}`);
    }
  });
}

/** alpha = 1 - strength. */
export function alphaOf(strength: number): number {
  return 1 - strength;
}

/** The per-token scale vector of `length` tokens: sum_i (1 - strength_i) * mask_i. */
export function tokenScales(length: number, spans: readonly TokenSpan[], strengths: readonly number[]): Float32Array {
  if (spans.length !== strengths.length) throw new EngineError('invalid_params', `${spans.length} spans but ${strengths.length} strengths`);
  const scales = new Float64Array(length);
  spans.forEach((span, i) => {
    if (span.start < 0 || span.end > length || span.start >= span.end) throw new EngineError('invalid_params', `token span ${span.start}-${span.end} does not fit ${length} tokens`);
    const alpha = alphaOf(strengths[i]!);
    for (let t = span.start; t < span.end; t++) scales[t]! += alpha;
  });
  return Float32Array.from(scales);
}
