/**
 * tokenSpan / tokenSpans: a sub-phrase's token range inside a prompt (SliderEdit). Expected ranges
 * for the SentencePiece model come from sentencepiece's own pieces of each prompt (quoted in comments).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { readOpenAiBpe } from './openai-bpe.js';
import { parseSpmModel } from './spm-model.js';
import { TextTokenizer } from './tokenizer.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const modelFile = path.resolve(root, '../shared/data/sentencepiece/test_model.model');
const vocabFile = path.resolve(root, '../shared/data/clip/bpe_simple_vocab_16e6.txt.gz');

describe.skipIf(!existsSync(modelFile))('tokenSpan with SentencePiece (test_model.model)', () => {
  let t5: TextTokenizer;
  beforeAll(() => {
    t5 = TextTokenizer.fromSentencePiece(parseSpmModel(readFileSync(modelFile), modelFile), modelFile);
  });

  it('finds a phrase tokenized alone as a run of ids (at the start and inside)', () => {
    // ▁make ▁the ▁c ir c le ▁b l u e ▁and ▁mo ve ▁it ▁left
    const prompt = 'make the circle blue and move it left';
    expect(t5.tokenSpan(prompt, 'make the circle')).toEqual({ start: 0, end: 6 });
    expect(t5.tokenSpan(prompt, 'circle blue')).toEqual({ start: 2, end: 10 });
    expect(t5.tokenSpan(prompt, 'move it left')).toEqual({ start: 11, end: 15 });
    expect(t5.tokenSpan(prompt, '  move it left ')).toEqual({ start: 11, end: 15 });
  });

  it('falls back to character offsets when the phrase loses its "▁" after a bracket or quote', () => {
    // ▁a ▁( r ed ▁c ir c le ) ▁on ▁the ▁left   ("red circle" alone: ▁re d ▁c ir c le)
    expect(t5.tokenSpan('a (red circle) on the left', 'red circle')).toEqual({ start: 2, end: 8 });
    // ▁a ▁" b l u e " ▁square   ("blue" alone: ▁b l u e)
    expect(t5.tokenSpan('a "blue" square', 'blue')).toEqual({ start: 2, end: 6 });
  });

  it('returns every occurrence in order, the first for tokenSpan, and null when absent', () => {
    // ▁the ▁c at ▁sat . ▁The ▁c at ▁ra n
    const prompt = 'the cat sat. The cat ran';
    expect(t5.tokenSpans(prompt, 'cat')).toEqual([
      { start: 1, end: 3 },
      { start: 6, end: 8 },
    ]);
    expect(t5.tokenSpan(prompt, 'The cat')).toEqual({ start: 5, end: 8 });
    expect(t5.tokenSpan(prompt, 'dog')).toBeNull();
    expect(t5.tokenSpan(prompt, '')).toBeNull();
    expect(t5.tokenSpans(prompt, '   ')).toEqual([]);
  });

  it('does not match inside another word', () => {
    // ▁Red ness ▁of ▁the ▁re d ▁c ir c le
    expect(t5.tokenSpans('Redness of the red circle', 'red')).toEqual([{ start: 4, end: 6 }]);
  });
});

describe.skipIf(!existsSync(vocabFile))('tokenSpan with CLIP (real vocabulary)', () => {
  let clip: TextTokenizer;
  beforeAll(() => {
    clip = TextTokenizer.fromClipVocabulary(readOpenAiBpe(vocabFile), vocabFile);
  });

  it('indexes the encoded prompt, BOS included, whatever the case', () => {
    const prompt = 'A Photo of a RED cat and a blue dog';
    const span = clip.tokenSpan(prompt, 'red cat')!;
    const ids = clip.encode(prompt, 77).ids;
    expect(span).toEqual({ start: 5, end: 7 });
    expect(ids.slice(span.start, span.end)).toEqual(clip.encodeBare('red cat'));
    expect(clip.tokenSpan(prompt, 'blue dog')).toEqual({ start: 9, end: 11 });
    expect(clip.tokenSpan(prompt, 'green dog')).toBeNull();
  });

  it('finds a phrase cut by punctuation merges through character offsets', () => {
    // "!!" is one token: in "wow!!", the phrase "wow!" has no id run of its own; its span covers the merged token.
    const span = clip.tokenSpan('say wow!! now', 'wow!');
    expect(span).not.toBeNull();
    const ids = clip.encode('say wow!! now', 77).ids;
    expect(ids.slice(span!.start, span!.end)).toEqual(clip.encodeBare('wow!!'));
  });
});

describe('tokenSpan on the FLUX twin tokenizers', () => {
  const twins = fileURLToPath(new URL('../../models/twins/flux-optimum', import.meta.url));

  it('gives spans for both the CLIP and the T5 tokenizer of the same prompt', () => {
    const clip = TextTokenizer.fromFolder(path.join(twins, 'tokenizer'));
    const t5 = TextTokenizer.fromFolder(path.join(twins, 'tokenizer_2'));
    const prompt = 'make the circle blue and move it left';
    for (const tokenizer of [clip, t5]) {
      const blue = tokenizer.tokenSpan(prompt, 'make the circle blue')!;
      const left = tokenizer.tokenSpan(prompt, 'move it left')!;
      expect(blue.start).toBe(tokenizer.prefixLength);
      expect(blue.end).toBeLessThan(left.start);
      expect(left.end).toBe(tokenizer.encode(prompt, 77).length - tokenizer.suffixLength);
    }
  });
});
