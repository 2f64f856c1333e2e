/**
 * SliderEdit's sub-instructions: where a multi-part instruction splits into the parts that each get
 * a slider, and the user's own split checked against the instruction.
 *
 * - Automatic: on commas, semicolons, the word "and" and the word "then" (also "and then", ", then",
 *   "; and"): "make the sky red, add snow and then move it left" -> ["make the sky red", "add snow",
 *   "move it left"]. The separators themselves belong to no part (their tokens get no scale). Words
 *   are matched whole and case-insensitively ("candle", "thence" and "sand" do not split); empty
 *   pieces (", ," or a leading "and") are dropped. An instruction with no separator is one part.
 * - Explicit parts (`--parts "a|b|c"`, the UI's edited split): each must be found in the
 *   instruction after the previous one (case-insensitive, surrounding spaces ignored), so every part
 *   has one place in the text; anything else is an error naming the part.
 * Parts carry their character range in the instruction, which picks the right occurrence when the
 * same words appear twice ("make it bigger and make it bigger").
 */
import { EngineError } from '../../errors.js';

export interface InstructionPart {
  text: string;
  /** Character range [start, end) of the part in the instruction. */
  start: number;
  end: number;
}

/** A comma, a semicolon, or "and" / "then" as a whole word (not inside "black-and-white"). */
const SEPARATOR = /[,;]|(?<![\w-])(?:and|then)(?![\w-])/gi;

export const MAX_PARTS = 16;

/** Splits at every run of separators (separated only by spaces); the pieces between are the parts. */
export function splitInstruction(instruction: string): InstructionPart[] {
  const runs: Array<{ from: number; to: number }> = [];
  for (const m of instruction.matchAll(SEPARATOR)) {
    const from = m.index;
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
  const lower = instruction.toLowerCase();
  const sameLength = lower.length === instruction.length;
  const located: InstructionPart[] = [];
  let from = 0;
  for (const [i, raw] of parts.entries()) {
    const text = raw.trim();
    if (!text) throw new EngineError('invalid_params', `sub-instruction ${i + 1} is empty`);
    let at = instruction.indexOf(text, from);
    if (at < 0 && sameLength) at = lower.indexOf(text.toLowerCase(), from);
    if (at < 0) {
      const haystack = sameLength ? lower : instruction;
      const needle = sameLength ? text.toLowerCase() : text;
      const occurs = haystack.split(needle).length - 1;
      const named = parts.slice(0, i + 1).filter((p) => (sameLength ? p.trim().toLowerCase() : p.trim()) === needle).length;
      const why = occurs === 0 ? 'is not part of' : named > occurs ? `is named ${named} times but occurs ${occurs === 1 ? 'once' : `${occurs} times`} in` : 'is out of order in';
      throw new EngineError('invalid_params', `sub-instruction "${text}" ${why} the instruction "${instruction}"`);
    }
    located.push({ text: instruction.slice(at, at + text.length), start: at, end: at + text.length });
    from = at + text.length;
  }
  return located;
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
