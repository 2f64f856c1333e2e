/**
 * T5-style SentencePiece Unigram against a reference nobody here wrote: google/sentencepiece's
 * test_model.model (../shared/data) and the ids sentencepiece 0.1.97 itself gives
 * (fixtures/spm-test-model.json), with and without T5's appended </s>.
 */
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineError } from '../errors.js';
import { buildFromTokenizerJson } from './build.js';
import { spmTokenizerJson } from './spm-json.js';
import { parseSpmModel } from './spm-model.js';
import { TextTokenizer } from './tokenizer.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const modelFile = path.resolve(root, '../shared/data/sentencepiece/test_model.model');
const haveModel = existsSync(modelFile);
if (!haveModel) console.warn(`skipped: SentencePiece reference tests need ${modelFile} (see shared/data/README.md)`);

interface SpmItem {
  text: string;
  note: string;
  sentencepiece: number[];
  sentencepiece_eos: number[];
  pieces: string[];
  hf?: number[];
}
const fixture = JSON.parse(readFileSync(new URL('./fixtures/spm-test-model.json', import.meta.url), 'utf8')) as {
  model: { eos_id: number; unk_id: number; pieces: number };
  items: SpmItem[];
};
/** Where the engine follows Hugging Face's T5TokenizerFast instead: special tokens written in the text. */
const SPECIAL_IN_TEXT = 'a cat</s>dog';
const EOS = 2;

describe.skipIf(!haveModel)('SentencePiece Unigram (T5 path) on sentencepiece test_model.model', () => {
  let t5: TextTokenizer;
  let dir: string;
  beforeAll(() => {
    t5 = TextTokenizer.fromSentencePiece(parseSpmModel(readFileSync(modelFile), modelFile), modelFile);
    dir = mkdtempSync(path.join(tmpdir(), 'atelier-spm-'));
    copyFileSync(modelFile, path.join(dir, 'spiece.model'));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('reads the model: 1000 pieces, Unigram, nfkc charsmap', () => {
    const model = parseSpmModel(readFileSync(modelFile), modelFile);
    expect(model.pieces).toHaveLength(fixture.model.pieces);
    expect(model.trainer).toMatchObject({ modelType: 1, unkId: 0, bosId: 1, eosId: 2, padId: -1 });
    expect(model.normalizer.name).toBe('nfkc');
    expect(model.normalizer.precompiledCharsmap?.length).toBeGreaterThan(1000);
    expect(model.pieces[4]).toEqual({ piece: '\u2581', score: expect.closeTo(-3.3334579, 6), type: 'normal' });
  });

  it('has at least 21 reference prompts, one longer than 512 tokens', () => {
    expect(fixture.items.length).toBeGreaterThanOrEqual(21);
    expect(fixture.items.some((item) => item.sentencepiece_eos.length > 512)).toBe(true);
  });

  for (const [index, item] of fixture.items.entries()) {
    if (item.text === SPECIAL_IN_TEXT) continue;
    it(`matches sentencepiece: #${index} ${item.note}`, () => {
      expect(t5.encodeBare(item.text)).toEqual(item.sentencepiece);
    });
  }

  it('turns a special token written in the text into that token, as T5TokenizerFast does (sentencepiece spells it out)', () => {
    const item = fixture.items.find((entry) => entry.text === SPECIAL_IN_TEXT)!;
    expect(item.pieces).toContain('</');
    expect(item.pieces).not.toContain('</s>');
    expect(t5.encodeBare(SPECIAL_IN_TEXT)).toEqual(item.hf);
    expect(t5.encodeBare(SPECIAL_IN_TEXT)).toEqual([...t5.encodeBare('a cat'), EOS, ...t5.encodeBare('dog')]);
  });

  it('appends </s>, truncates keeping it, and pads (no <pad> piece: padding with </s>)', () => {
    expect(t5.prefixLength).toBe(0);
    expect(t5.suffixLength).toBe(1);
    expect(t5.padId).toBe(EOS);
    for (const maxLength of [512, 256]) {
      for (const item of fixture.items) {
        if (item.text === SPECIAL_IN_TEXT) continue;
        const out = t5.encode(item.text, maxLength);
        const expected = item.sentencepiece_eos.length > maxLength ? [...item.sentencepiece_eos.slice(0, maxLength - 1), EOS] : item.sentencepiece_eos;
        expect(out.ids).toEqual([...expected, ...new Array(maxLength - expected.length).fill(EOS)]);
        expect(out.length).toBe(expected.length);
        expect(out.truncatedTokens).toBe(Math.max(0, item.sentencepiece_eos.length - maxLength));
      }
    }
  });

  it('loads the same model from a folder holding spiece.model, once', () => {
    const fromFolder = TextTokenizer.fromFolder(dir);
    for (const item of fixture.items) expect(fromFolder.encodeBare(item.text)).toEqual(t5.encodeBare(item.text));
    expect(TextTokenizer.fromFolder(dir)).toBe(fromFolder);
  });

  it('as a tokenizer.json (T5TokenizerFast layout, Precompiled charsmap) matches sentencepiece, except tabs and newlines, split like Hugging Face does', () => {
    const model = parseSpmModel(readFileSync(modelFile), modelFile);
    const built = buildFromTokenizerJson(spmTokenizerJson(model, { extraIds: 0, eos: '</s>' }, modelFile), { config: {}, specialTokens: {} }, 'tokenizer.json');
    for (const item of fixture.items) {
      const ids = built.tokenizer.encode(item.text, { add_special_tokens: false }).ids;
      // This model's "nfkc" charsmap keeps tabs and newlines, so WhitespaceSplit splits where sentencepiece does not
      // (T5's nmt_nfkc maps them to spaces first, and the two agree).
      if (/[\t\n]/.test(item.text) || item.text === SPECIAL_IN_TEXT) expect(ids, item.text).toEqual(item.hf);
      else expect(ids, item.text).toEqual(item.sentencepiece);
    }
  });

  it('rejects a file that is not a SentencePiece model, naming it', () => {
    expect(() => parseSpmModel(new Uint8Array([0xff, 0xff, 0xff]), 'bad/spiece.model')).toThrow(EngineError);
    expect(() => parseSpmModel(new Uint8Array([0xff, 0xff, 0xff]), 'bad/spiece.model')).toThrow(/bad\/spiece\.model/);
  });
});
