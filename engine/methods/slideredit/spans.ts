/**
 * Each sub-instruction's T5 token span in the full instruction (DESIGN.md section 1): the part is
 * tokenized alone, without the end-of-text token, and found as a contiguous run of ids in the
 * instruction's ids (engine/text/span.ts). The run taken is the one at the part's own place: the
 * run overlapping the tokens of the part's own characters. When the part's words tokenize
 * differently there (SentencePiece gives a quoted word no "▁"; a part may start or end inside a
 * token), or when the only runs belong to another occurrence, the tokens of its own characters
 * are its span. Only T5 tokens get scales; CLIP's pooled vector is left as is.
 * Errors name the part: not at its place in the instruction, or cut off by the encoder's length limit.
 */
import { EngineError } from '../../errors.js';
import type { TextTokenizer, TokenSpan } from '../../text/tokenizer.js';
import type { InstructionPart } from './split.js';

/**
 * Token spans of `parts` in `instruction` as encoded by `t5` to `maxLength` tokens (indices into
 * the padded ids the encoder gets).
 */
export function partSpans(t5: TextTokenizer, maxLength: number, instruction: string, parts: readonly InstructionPart[]): TokenSpan[] {
  const limit = maxLength - t5.suffixLength; // tokens the encoder sees before its end-of-text token
  return parts.map((part) => {
    if (instruction.slice(part.start, part.end) !== part.text || !part.text.trim()) {
      throw new EngineError('invalid_params', `sub-instruction "${part.text}": not found at characters ${part.start}-${part.end} of the instruction "${instruction}"`);
    }
    const own = t5.rangeSpan(instruction, part.start, part.end);
    const span = t5.tokenSpans(instruction, part.text).find((r) => r.start < own.end && r.end > own.start) ?? own;
    if (span.start >= limit) throw new EngineError('invalid_params', `sub-instruction "${part.text}" lies beyond the text encoder's ${maxLength}-token limit (tokens ${span.start}-${span.end - 1})`);
    if (span.end > limit) throw new EngineError('invalid_params', `sub-instruction "${part.text}" is cut off by the text encoder's ${maxLength}-token limit (tokens ${span.start}-${span.end - 1})`);
    return span;
  });
}
