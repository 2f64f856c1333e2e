/**
 * Sub-instruction token spans with real T5 Unigram tokenizers (the FLUX twin's, committed; the
 * zoo's tiny Kontext tokenizer over every multi-part held-out edit, when it is built) and the
 * per-token scale vector sum_i (1 - strength_i) mask_i.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readEditSet } from '../../eval/scenes.js';
import { packageRoot } from '../../paths.js';
import { TextTokenizer } from '../../text/tokenizer.js';
import { twinDir } from '../../testing/twins.js';
import { partSpans } from './spans.js';
import { instructionParts, locateParts, splitInstruction } from './split.js';
import { alphaOf, checkStrengths, tokenScales } from './token-scales.js';

describe('per-token scales', () => {
  it('puts alpha = 1 - strength on each part\'s tokens and 0 elsewhere', () => {
    const v = tokenScales(10, [{ start: 1, end: 3 }, { start: 5, end: 8 }], [0, 1.5]);
    expect(Array.from(v)).toEqual([0, 1, 1, 0, 0, -0.5, -0.5, -0.5, 0, 0]);
    expect(alphaOf(1)).toBe(0);
    expect(alphaOf(2)).toBe(-1);
  });

  it('is zero everywhere at strength 1 (the plain edit) and sums where spans overlap', () => {
    expect(tokenScales(6, [{ start: 0, end: 2 }, { start: 2, end: 6 }], [1, 1]).every((x) => x === 0)).toBe(true);
    expect(Array.from(tokenScales(4, [{ start: 0, end: 3 }, { start: 2, end: 4 }], [0.5, 0.25]))).toEqual([0.5, 0.5, 1.25, 0.75]);
  });

  it('refuses strengths out of [0, 2], a count that does not match, and spans outside the sequence', () => {
    const parts = [{ text: 'make it blue' }, { text: 'move it up' }];
    expect(() => checkStrengths([1, 2.5], parts)).toThrow('strength of "move it up" must be from 0 to 2, got 2.5');
    expect(() => checkStrengths([-0.1, 1], parts)).toThrow('strength of "make it blue"');
    expect(() => checkStrengths([Number.NaN, 1], parts)).toThrow('must be from 0 to 2');
    expect(() => checkStrengths([1], parts)).toThrow('2 sub-instructions ("make it blue", "move it up") but 1 strengths');
    expect(() => tokenScales(4, [{ start: 2, end: 5 }], [0])).toThrow('does not fit 4 tokens');
  });
});

describe('token spans with the FLUX twin\'s T5 tokenizer (Unigram)', () => {
  const t5 = TextTokenizer.fromFolder(path.join(twinDir('flux-optimum'), 'tokenizer_2'));

  it('finds each part, tokenized alone without EOS, as a run of the instruction\'s ids', () => {
    const instruction = 'make the circle blue and move it left';
    const parts = splitInstruction(instruction);
    const spans = partSpans(t5, 512, instruction, parts);
    const ids = t5.encode(instruction, 512).ids;
    spans.forEach((span, i) => expect(ids.slice(span.start, span.end)).toEqual(t5.encodeBare(parts[i]!.text)));
    expect(spans[0]!.start).toBe(0);
    expect(spans[1]!.start).toBeGreaterThan(spans[0]!.end); // "and" lies between and gets no scale
  });

  it('takes each repeated part at its own place', () => {
    const instruction = 'make it red and make it red';
    const spans = partSpans(t5, 512, instruction, locateParts(instruction, ['make it red', 'make it red']));
    expect(spans[1]!.start).toBeGreaterThanOrEqual(spans[0]!.end);
    const ids = t5.encode(instruction, 512).ids;
    expect(ids.slice(spans[1]!.start, spans[1]!.end)).toEqual(ids.slice(spans[0]!.start, spans[0]!.end));
  });

  it('says which part lies beyond the encoder\'s length', () => {
    const instruction = 'make the circle blue and move it left';
    const parts = splitInstruction(instruction);
    const fit = partSpans(t5, 512, instruction, parts)[1]!;
    expect(() => partSpans(t5, fit.end, instruction, parts)).toThrow('sub-instruction "move it left" is cut off by the text encoder\'s');
    expect(() => partSpans(t5, fit.start, instruction, parts)).toThrow('sub-instruction "move it left" lies beyond the text encoder\'s');
  });

  it('says when a part is not at its place in the instruction', () => {
    expect(() => partSpans(t5, 512, 'make it blue', [{ text: 'purple', start: 0, end: 6 }])).toThrow('sub-instruction "purple": not found at characters 0-6');
  });

  it('gives a part its own tokens when its words tokenize differently there (a quoted word)', () => {
    const instruction = 'make it red and add "red" text';
    const parts = locateParts(instruction, ['make it red', 'red']);
    const spans = partSpans(t5, 512, instruction, parts);
    expect(spans[1]!.start).toBeGreaterThanOrEqual(spans[0]!.end); // not the first part's "red"
    const ids = t5.encode(instruction, 512).ids;
    const quoted = t5.rangeSpan(instruction, parts[1]!.start, parts[1]!.end);
    expect(spans[1]).toEqual(quoted);
    expect(ids.slice(spans[1]!.start, spans[1]!.end).length).toBeGreaterThan(0);
  });
});

const zooTokenizer = path.join(process.env.ATELIER_ZOO_KONTEXT ? path.resolve(process.env.ATELIER_ZOO_KONTEXT) : path.join(packageRoot(), 'models', 'tiny', 'kontext'), 'tokenizer_2');
const editSet = path.join(packageRoot(), 'models', 'tiny', 'eval', 'edit.json');

describe.skipIf(!existsSync(zooTokenizer))(`token spans with the tiny Kontext T5 tokenizer (${zooTokenizer})`, () => {
  it('finds every part of every multi-part held-out edit, split automatically, as the zoo wrote it', () => {
    const t5 = TextTokenizer.fromFolder(zooTokenizer);
    const items = readEditSet(editSet).items.filter((i) => i.n_parts >= 2);
    expect(items.length).toBeGreaterThan(100);
    for (const item of items) {
      const parts = instructionParts(item.instruction);
      expect(parts.map((p) => p.text)).toEqual(item.parts.map((p) => p.text));
      const ids = t5.encode(item.instruction, 32).ids;
      partSpans(t5, 32, item.instruction, parts).forEach((span, i) => expect(ids.slice(span.start, span.end)).toEqual(t5.encodeBare(parts[i]!.text)));
    }
  });
});
