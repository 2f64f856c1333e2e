/**
 * SliderEdit's sub-instructions: where a multi-part instruction splits into the parts that each get
 * a slider, and the user's own split checked against the instruction.
 *
 * - Automatic: on commas, semicolons, the word "and" and the word "then" (also "and then", ", then",
 *   "; and"): "make the sky red, add snow and then move it left" -> ["make the sky red", "add snow",
 *   "move it left"]. The separators themselves belong to no part (their tokens get no scale). Words
 *   are matched whole and case-insensitively, in any script ("candle", "thence", "sand", "andén" and
 *   "and/or" do not split); a comma between digits ("1,000") and anything inside double quotes
 *   (a sign's text: "hello, world") does not split either. Empty pieces (", ," or a leading "and")
 *   are dropped, and sentence punctuation at a part's end ("add snow.") is left out of it. An
 *   instruction with no separator is one part.
 * - Explicit parts (`--parts "a|b|c"`, the UI's edited split): each is found in the instruction
 *   after the previous one, case-insensitively with surrounding spaces ignored, at its earliest
 *   place there; a place where it stands as whole words is preferred over one inside a longer word
 *   ("red" in "the bored cat is red" is the last word, not the end of "bored"). Anything not found
 *   is an error naming the part.
 * Parts carry their character range in the instruction, which picks the right occurrence when the
 * same words appear twice ("make it bigger and make it bigger").
 */
import { EngineError } from '../../errors.js';
import { isWordEdge } from '../../text/span.js';

export interface InstructionPart {
  text: string;
  /** Character range [start, end) of the part in the instruction. */
  start: number;
  end: number;
}

/**
 * A comma (not one between digits), a semicolon, or "and" / "then" as a whole word (not inside
 * "black-and-white", "and/or" or a word of another script).
 */
const SEPARATOR = /(?<!\d),|,(?!\d)|;|(?<![\p{L}\p{N}\p{M}_/-])(?:and|then)(?![\p{L}\p{N}\p{M}_/-])/giu;
/**
 * Double-quoted text, straight or curly: separators inside it are the quoted words' own. A straight
 * quote right after a letter or digit is an inch or seconds mark (6" wide), not an opening quote.
 */
const QUOTED = /(?<![\p{L}\p{N}])"[^"]*"|“[^”]*”/gu;
/** Sentence punctuation a part does not keep at its end. */
const TRAILING_PUNCTUATION = /[.!?…]+$/u;

/** `text` without sentence punctuation (and the spaces before it) at its end. */
export function withoutTrailingPunctuation(text: string): string {
  return text.replace(TRAILING_PUNCTUATION, '').trimEnd();
}

export const MAX_PARTS = 16;

/** Splits at every run of separators (separated only by spaces); the pieces between are the parts. */
export function splitInstruction(instruction: string): InstructionPart[] {
  const quoted = [...instruction.matchAll(QUOTED)].map((m) => ({ from: m.index, to: m.index + m[0].length }));
  const runs: Array<{ from: number; to: number }> = [];
  for (const m of instruction.matchAll(SEPARATOR)) {
    const from = m.index;
    if (quoted.some((q) => from > q.from && from < q.to)) continue;
    const to = from + m[0].length;
    const last = runs[runs.length - 1];
    if (last && /^\s*$/.test(instruction.slice(last.to, from))) last.to = to;
    else runs.push({ from, to });
  }
  const parts: InstructionPart[] = [];
  let start = 0;
  for (const edge of [...runs, { from: instruction.length, to: instruction.length }]) {
    let a = start;
    let b = edge.from;
    while (a < b && /\s/.test(instruction[a]!)) a++;
    while (b > a && /\s/.test(instruction[b - 1]!)) b--;
    b = a + withoutTrailingPunctuation(instruction.slice(a, b)).length;
    if (b > a) parts.push({ text: instruction.slice(a, b), start: a, end: b });
    start = edge.to;
  }
  return parts;
}

/**
 * The user's parts located in the instruction, in order. Throws `invalid_params` naming the first
 * part that is empty or not found after the previous part.
 */
export function locateParts(instruction: string, parts: readonly string[]): InstructionPart[] {
  if (parts.length === 0) throw new EngineError('invalid_params', 'give at least one sub-instruction');
  if (parts.length > MAX_PARTS) throw new EngineError('invalid_params', `at most ${MAX_PARTS} sub-instructions, got ${parts.length}`);
  const located: InstructionPart[] = [];
  let from = 0;
  for (const [i, raw] of parts.entries()) {
    const text = raw.trim();
    if (!text) throw new EngineError('invalid_params', `sub-instruction ${i + 1} is empty`);
    const places = occurrences(instruction, text);
    const after = places.filter((p) => p.start >= from);
    const at = after.find((p) => isWordEdge(instruction, p.start) && isWordEdge(instruction, p.end)) ?? after[0];
    if (!at) {
      const named = parts.slice(0, i + 1).filter((p) => p.trim().toLowerCase() === text.toLowerCase()).length;
      const occurs = places.length;
      const why = occurs === 0 ? 'is not part of' : named > occurs ? `is named ${named} times but occurs ${occurs === 1 ? 'once' : `${occurs} times`} in` : 'is out of order in';
      throw new EngineError('invalid_params', `sub-instruction "${text}" ${why} the instruction "${instruction}"`);
    }
    located.push({ text: instruction.slice(at.start, at.end), ...at });
    from = at.end;
  }
  return located;
}

/** Every place `text` occurs in `instruction`, case-insensitively, in order (overlaps included). */
function occurrences(instruction: string, text: string): Array<{ start: number; end: number }> {
  const pattern = new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'giu');
  const out: Array<{ start: number; end: number }> = [];
  for (let m = pattern.exec(instruction); m; m = pattern.exec(instruction)) {
    out.push({ start: m.index, end: m.index + m[0].length });
    pattern.lastIndex = m.index + 1;
  }
  return out;
}

/** The parts of an instruction: the user's (checked) when given, else the automatic split. */
export function instructionParts(instruction: string, parts?: readonly string[]): InstructionPart[] {
  if (parts && parts.length > 0) return locateParts(instruction, parts);
  const auto = splitInstruction(instruction);
  if (auto.length === 0) throw new EngineError('invalid_params', 'the instruction is empty');
  if (auto.length > MAX_PARTS) throw new EngineError('invalid_params', `the instruction splits into ${auto.length} parts; at most ${MAX_PARTS} can have sliders (give the parts yourself)`);
  return auto;
}

/** "a|b|c" (the CLI's --parts and the UI's split editor) as part texts; empty pieces are an error. */
export function parsePartList(list: string): string[] {
  const parts = list.split('|').map((p) => p.trim());
  const empty = parts.findIndex((p) => !p);
  if (empty >= 0) throw new EngineError('invalid_params', `part ${empty + 1} of "${list}" is empty`);
  return parts;
}
