/**
 * Where @huggingface/tokenizers 0.2.0 (the JS port) departs from the references, this module swaps
 * the piece it built from tokenizer.json for an exact one, after the Tokenizer is constructed:
 * - "Precompiled" normalizer: the library approximates the charsmap with NFKC plus a few
 *   replacements; here the real charsmap is applied (see charsmap.ts).
 * - "Lowercase" normalizer: the library lowercases the whole string (final-sigma rule); Hugging Face's
 *   Rust tokenizers lowercases code point by code point ("ΟΔΟΣ" -> "οδοσ"), and so does this.
 * - Unigram model: sentencepiece-exact Viterbi (see unigram.ts).
 * - For a model built from spiece.model, the whole normalizer + pre-tokenizer pair becomes
 *   sentencepiece's own normalization (see spm-normalize.ts).
 */
import { lib, type HfNormalizer, type HfPrecompiledNormalizer, type HfTokenizer } from './hf.js';
import { PrecompiledCharsmap } from './charsmap.js';
import type { SpmNormalizer } from './spm-normalize.js';
import type { UnigramEncoder } from './unigram.js';

/** A library normalizer that runs a plain function. */
class FunctionNormalizer extends lib.Normalizer {
  constructor(private readonly fn: (text: string) => string) {
    super({ type: 'NFC' });
  }

  override normalize(text: string): string {
    return this.fn(text);
  }
}

export function lowercaseByCodePoint(text: string): string {
  let out = '';
  for (const char of text) out += char.toLowerCase();
  return out;
}

function charsmapOf(normalizer: HfPrecompiledNormalizer): PrecompiledCharsmap | null {
  const encoded: unknown = normalizer.charsmap;
  if (typeof encoded !== 'string' || encoded.length === 0) return null;
  return new PrecompiledCharsmap(new Uint8Array(Buffer.from(encoded, 'base64')));
}

function exactNormalizer(normalizer: HfNormalizer): HfNormalizer {
  if (normalizer instanceof lib.PrecompiledNormalizer) {
    const charsmap = charsmapOf(normalizer);
    return new FunctionNormalizer(charsmap ? (text) => charsmap.normalize(text) : (text) => text);
  }
  if (isLowercase(normalizer)) return new FunctionNormalizer(lowercaseByCodePoint);
  if (normalizer instanceof lib.SequenceNormalizer) {
    normalizer.normalizers = normalizer.normalizers.map((inner) => (inner ? exactNormalizer(inner) : inner));
  }
  return normalizer;
}

function isLowercase(normalizer: unknown): boolean {
  return normalizer instanceof lib.LowercaseNormalizer;
}

/** Swaps the library's approximate normalizers for exact ones (throws on a malformed charsmap). */
export function patchNormalizers(tokenizer: HfTokenizer): void {
  if (tokenizer.normalizer) tokenizer.normalizer = exactNormalizer(tokenizer.normalizer);
}

/** Runs sentencepiece's own normalization instead of the tokenizer.json normalizer + pre-tokenizer. */
export function useSentencePieceNormalization(tokenizer: HfTokenizer, normalizer: SpmNormalizer): void {
  tokenizer.normalizer = new FunctionNormalizer((text) => normalizer.normalize(text));
  tokenizer.pre_tokenizer = null;
}

/** Segments with `encoder` instead of the library's Unigram lattice; false when the model is not Unigram. */
export function useExactUnigram(tokenizer: HfTokenizer, encoder: UnigramEncoder): boolean {
  const model = tokenizer.model;
  if (!(model instanceof lib.Unigram)) return false;
  const unkPiece = model.vocab[encoder.unkId] ?? '';
  model.tokenize = (normalized: string): string[] =>
    encoder.encode(normalized).map((token) => (token.id === encoder.unkId ? unkPiece : token.piece));
  return true;
}
