/**
 * Each sub-instruction's T5 token span in the full instruction (DESIGN.md section 1): the part is
 * tokenized alone, without the end-of-text token, and found as a contiguous run of ids in the
 * instruction's ids (engine/text/span.ts, with its fallback for a part whose first word tokenizes
 * differently inside the sentence). When the part's words occur more than once, the occurrence at
 * the part's own place is taken: the first run starting at or after the tokens of the text before
 * the part. Only T5 tokens get scales; CLIP's pooled vector is left as is.
 * Errors name the part: not found as tokens, or cut off by the encoder's length limit.
 */
import { EngineError } from '../../errors.js';
import type { TextTokenizer, TokenSpan } from '../../text/tokenizer.js';
import type { InstructionPart } from './split.js';

function agreeing(a: readonly number[], b: readonly number[]): number {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return n;
}

/**
 * Token spans of `parts` in `instruction` as encoded by `t5` to `maxLength` tokens (indices into
 * the padded ids the encoder gets).
 */
export function partSpans(t5: TextTokenizer, maxLength: number, instruction: string, parts: readonly InstructionPart[]): TokenSpan[] {
  const full = t5.encodeBare(instruction);
  const limit = maxLength - t5.suffixLength; // tokens the encoder sees before its end-of-text token
  return parts.map((part) => {
    const runs = t5.tokenSpans(instruction, part.text);
    if (runs.length === 0) {
      throw new EngineError('invalid_params', `sub-instruction "${part.text}": its T5 tokens (${JSON.stringify(t5.encodeBare(part.text))}) are not a run of the instruction's tokens`);
    }
    const before = t5.prefixLength + agreeing(t5.encodeBare(instruction.slice(0, part.start)), full);
    const span = runs.find((r) => r.start >= before) ?? runs[runs.length - 1]!;
    if (span.start >= limit) throw new EngineError('invalid_params', `sub-instruction "${part.text}" lies beyond the text encoder's ${maxLength}-token limit (tokens ${span.start}-${span.end - 1})`);
    if (span.end > limit) throw new EngineError('invalid_params', `sub-instruction "${part.text}" is cut off by the text encoder's ${maxLength}-token limit (tokens ${span.start}-${span.end - 1})`);
    return span;
  });
}
