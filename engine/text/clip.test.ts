/**
 * CLIP BPE against references nobody here wrote: the real CLIP vocabulary (OpenAI's
 * bpe_simple_vocab_16e6.txt.gz in ../shared/data) and ids produced by OpenAI's simple_tokenizer.py and
 * by Hugging Face's Rust tokenizers built as CLIPTokenizerFast (fixtures/clip-openai-vocab.json).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readOpenAiBpe } from './openai-bpe.js';
import { TextTokenizer } from './tokenizer.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const vocabFile = path.resolve(root, '../shared/data/clip/bpe_simple_vocab_16e6.txt.gz');
const haveVocab = existsSync(vocabFile);
if (!haveVocab) console.warn(`skipped: CLIP reference tests need ${vocabFile} (see shared/data/README.md)`);

interface ClipItem {
  text: string;
  note: string;
  openai: number[];
  hf: number[];
  openai_context77: number[];
  differs?: boolean;
}
const fixture = JSON.parse(readFileSync(new URL('./fixtures/clip-openai-vocab.json', import.meta.url), 'utf8')) as { items: ClipItem[] };
const BOS = 49406;
const EOS = 49407;

describe.skipIf(!haveVocab)('CLIP tokenizer on the real vocabulary', () => {
  let clip: TextTokenizer;
  let folderClip: TextTokenizer;
  let dir: string;
  beforeAll(() => {
    const vocabulary = readOpenAiBpe(vocabFile);
    clip = TextTokenizer.fromClipVocabulary(vocabulary, vocabFile);
    // The same vocabulary as a diffusers tokenizer/ folder (vocab.json + merges.txt), SDXL-2 style "!" padding.
    dir = mkdtempSync(path.join(tmpdir(), 'atelier-clip-'));
    writeFileSync(path.join(dir, 'vocab.json'), JSON.stringify(vocabulary.vocab));
    writeFileSync(path.join(dir, 'merges.txt'), `#version: 0.2\n${vocabulary.merges.map((m) => m.join(' ')).join('\n')}\n`);
    writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({ pad_token: '!', tokenizer_class: 'CLIPTokenizer', model_max_length: 77 }));
    folderClip = TextTokenizer.fromFolder(dir);
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('gives 49406 320 1125 539 320 2368 49407 for "a photo of a cat"', () => {
    const out = clip.encode('a photo of a cat', 77);
    expect(out.ids.slice(0, out.length)).toEqual([49406, 320, 1125, 539, 320, 2368, 49407]);
    expect(out.length).toBe(7);
    expect(out.truncatedTokens).toBe(0);
    expect(out.ids.slice(7)).toEqual(new Array(70).fill(EOS));
    expect(clip.prefixLength).toBe(1);
    expect(clip.suffixLength).toBe(1);
  });

  it('has at least 21 reference prompts, covering the required cases', () => {
    expect(fixture.items.length).toBeGreaterThanOrEqual(21);
    const texts = fixture.items.map((item) => item.text);
    for (const needed of ['a photo of a cat', '', 'a cat<|endoftext|>dog']) expect(texts).toContain(needed);
    expect(fixture.items.some((item) => item.hf.length + 2 > 77)).toBe(true);
  });

  for (const [index, item] of fixture.items.entries()) {
    it(`matches Hugging Face's fast tokenizer: #${index} ${item.note}`, () => {
      expect(clip.encodeBare(item.text)).toEqual(item.hf);
    });
  }

  it("matches OpenAI's tokenizer wherever OpenAI and Hugging Face agree, and only the recorded prompts differ", () => {
    const differing = fixture.items.filter((item) => item.differs).map((item) => item.note);
    expect(differing).toEqual(['Greek final sigma and dotted capital I under lowercasing', 'typographic punctuation', 'fullwidth forms', 'HTML entities']);
    for (const item of fixture.items) {
      if (!item.differs) expect(clip.encodeBare(item.text), item.text).toEqual(item.openai);
      else expect(item.openai).not.toEqual(item.hf);
    }
  });

  it('pads with EOS and truncates to 77 keeping BOS and EOS, as clip.tokenize(truncate=True) does', () => {
    for (const item of fixture.items) {
      const out = clip.encode(item.text, 77);
      const expected = [BOS, ...item.hf, EOS];
      const truncated = expected.length > 77 ? [...expected.slice(0, 76), EOS] : expected;
      expect(out.ids.slice(0, out.length)).toEqual(truncated);
      expect(out.ids).toHaveLength(77);
      expect(out.truncatedTokens).toBe(Math.max(0, expected.length - 77));
      if (!item.differs) expect(out.ids.slice(0, out.length)).toEqual(item.openai_context77.slice(0, out.length));
    }
    const long = fixture.items.find((item) => item.hf.length > 75)!;
    expect(clip.encode(long.text, 77).truncatedTokens).toBe(long.hf.length - 75);
  });

  it('loads the same vocabulary from vocab.json + merges.txt, padding with tokenizer_config.json pad_token "!" (id 0)', () => {
    expect(folderClip.padId).toBe(0);
    for (const item of fixture.items) expect(folderClip.encodeBare(item.text)).toEqual(item.hf);
    const out = folderClip.encode('a photo of a cat', 77);
    expect(out.ids.slice(0, 8)).toEqual([49406, 320, 1125, 539, 320, 2368, 49407, 0]);
    expect(TextTokenizer.fromFolder(dir)).toBe(folderClip);
  });

  it('takes "(masterpiece:1.2)" and "[blurry]" literally: no prompt-weight syntax', () => {
    const weighted = clip.encodeBare('(masterpiece:1.2), [blurry]');
    expect(weighted).toEqual([...clip.encodeBare('('), ...clip.encodeBare('masterpiece'), ...clip.encodeBare(':'), 272, 269, 273, ...clip.encodeBare('),'), ...clip.encodeBare('['), ...clip.encodeBare('blurry'), ...clip.encodeBare(']')]);
  });
});
