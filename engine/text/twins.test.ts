/**
 * The tokenizers of every layout twin (models/twins) load and encode like the references
 * (fixtures/twins.json: Hugging Face's Rust tokenizers for the CLIP folders and for FLUX's
 * tokenizer_2/tokenizer.json, sentencepiece for its spiece.model), with each model's padding.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TextTokenizer } from './tokenizer.js';

const twins = fileURLToPath(new URL('../../models/twins', import.meta.url));

interface TwinItem {
  text: string;
  note: string;
  clip_hf: number[];
  t5_tokenizer_json_hf: number[];
  t5_spiece_sentencepiece: number[];
}
const fixture = JSON.parse(readFileSync(new URL('./fixtures/twins.json', import.meta.url), 'utf8')) as { items: TwinItem[] };

const CLIP_FOLDERS: [string, 'eos' | '!'][] = [
  ['sd15-diffusers/tokenizer', 'eos'],
  ['sd15-optimum-fp16/tokenizer', 'eos'],
  ['sdxl-optimum/tokenizer', 'eos'],
  ['sdxl-optimum/tokenizer_2', '!'],
  ['flux-optimum/tokenizer', 'eos'],
];

describe('layout twins: CLIP tokenizers (vocab.json + merges.txt)', () => {
  for (const [folder, pad] of CLIP_FOLDERS) {
    it(`${folder} loads and matches Hugging Face's CLIPTokenizerFast, padding with ${pad}`, () => {
      const clip = TextTokenizer.fromFolder(path.join(twins, folder));
      const vocab = JSON.parse(readFileSync(path.join(twins, folder, 'vocab.json'), 'utf8')) as Record<string, number>;
      const bos = vocab['<|startoftext|>']!;
      const eos = vocab['<|endoftext|>']!;
      expect(clip.padId).toBe(pad === 'eos' ? eos : vocab['!']);
      for (const item of fixture.items) expect(clip.encodeBare(item.text), item.text).toEqual(item.clip_hf);
      const out = clip.encode('a photo of a cat', 77);
      const body = fixture.items[0]!.clip_hf;
      expect(out.ids).toEqual([bos, ...body, eos, ...new Array(75 - body.length).fill(clip.padId)]);
      const long = fixture.items.find((item) => item.clip_hf.length > 75)!;
      const truncated = clip.encode(long.text, 77);
      expect(truncated.ids).toEqual([bos, ...long.clip_hf.slice(0, 75), eos]);
      expect(truncated.truncatedTokens).toBe(long.clip_hf.length - 75);
    });
  }

  it("the BFL twin carries the tokenizers a user copies in (the published repository has none): the same as flux-optimum's", () => {
    for (const sub of ['tokenizer', 'tokenizer_2']) {
      const bfl = TextTokenizer.fromFolder(path.join(twins, 'flux-bfl', sub));
      const optimum = TextTokenizer.fromFolder(path.join(twins, 'flux-optimum', sub));
      const max = sub === 'tokenizer' ? 77 : 512;
      expect(bfl.encode('a photo of a cat', max).ids).toEqual(optimum.encode('a photo of a cat', max).ids);
    }
    const clip = TextTokenizer.fromFolder(path.join(twins, 'flux-bfl', 'tokenizer'));
    expect(clip.encode('a photo of a cat', 77).length).toBe(fixture.items[0]!.clip_hf.length + 2);
  });
});

describe('layout twins: FLUX T5 tokenizer (tokenizer.json and spiece.model)', () => {
  const folder = path.join(twins, 'flux-optimum/tokenizer_2');
  let spieceOnly: string;
  beforeAll(() => {
    // The same folder without tokenizer.json, as T5Tokenizer (slow) repos ship it.
    spieceOnly = mkdtempSync(path.join(tmpdir(), 'atelier-t5-'));
    for (const name of ['spiece.model', 'tokenizer_config.json', 'special_tokens_map.json']) copyFileSync(path.join(folder, name), path.join(spieceOnly, name));
  });
  afterAll(() => {
    if (spieceOnly) rmSync(spieceOnly, { recursive: true, force: true });
  });

  it('tokenizer.json matches Hugging Face, pads with <pad> (0) and ends with </s> (1)', () => {
    const t5 = TextTokenizer.fromFolder(folder);
    expect(t5.source).toBe(path.join(folder, 'tokenizer.json'));
    expect(t5.padId).toBe(0);
    for (const item of fixture.items) expect(t5.encodeBare(item.text), item.text).toEqual(item.t5_tokenizer_json_hf);
    const out = t5.encode('a photo of a cat', 512);
    expect(out.ids.slice(0, out.length)).toEqual([...fixture.items[0]!.t5_tokenizer_json_hf, 1]);
    expect(out.ids.slice(out.length)).toEqual(new Array(512 - out.length).fill(0));
    expect(t5.encode('a photo of a cat', 256).ids).toHaveLength(256);
  });

  it('spiece.model matches sentencepiece (special tokens in the text aside) and gives the same ids as tokenizer.json', () => {
    const fromJson = TextTokenizer.fromFolder(folder);
    const fromSpm = TextTokenizer.fromFolder(spieceOnly);
    expect(fromSpm.source).toBe(path.join(spieceOnly, 'spiece.model'));
    expect(fromSpm.padId).toBe(0);
    let same = 0;
    for (const item of fixture.items) {
      const ids = fromSpm.encodeBare(item.text);
      if (/<\/s>|<extra_id_\d+>/.test(item.text)) {
        // T5TokenizerFast's added tokens, in both folders' configs.
        expect(ids, item.text).toEqual(fromJson.encodeBare(item.text));
        continue;
      }
      expect(ids, item.text).toEqual(item.t5_spiece_sentencepiece);
      if (item.t5_spiece_sentencepiece.join() === item.t5_tokenizer_json_hf.join()) {
        expect(fromJson.encodeBare(item.text)).toEqual(ids);
        same++;
      }
    }
    // The twin's spiece.model has an identity normalizer, so only tabs, newlines and no-break spaces
    // (which tokenizer.json's WhitespaceSplit splits on) tell the two apart; T5's nmt_nfkc maps them to spaces.
    expect(same).toBeGreaterThanOrEqual(fixture.items.length - 5);
    expect(fromSpm.encode('a red circle <extra_id_0>', 512).ids.slice(0, 6)).toEqual(fromJson.encode('a red circle <extra_id_0>', 512).ids.slice(0, 6));
    expect(fromJson.encodeBare('<extra_id_0>')).toEqual([252]);
  });
});
