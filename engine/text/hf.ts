/**
 * A typed view of the parts of @huggingface/tokenizers 0.2.0 this engine uses. The package's .d.ts
 * files import each other without file extensions, which TypeScript's NodeNext resolution cannot
 * follow, so most of its types arrive as `any`; this module states them once (checked against the
 * package's dist/tokenizers.mjs) and every other module goes through it.
 */
import * as hf from '@huggingface/tokenizers';

import type { JsonObject } from '../files/json-object.js';

/** A parsed JSON object (tokenizer.json, tokenizer_config.json). */
export type { JsonObject };

export interface HfEncoding {
  ids: number[];
  tokens: string[];
}

/** A library normalizer: callable, and with a `normalize` method. */
export interface HfNormalizer {
  normalize(text: string): string;
}

export interface HfSequenceNormalizer extends HfNormalizer {
  normalizers: (HfNormalizer | null)[];
}

export interface HfPrecompiledNormalizer extends HfNormalizer {
  /** The base64 charsmap from tokenizer.json (the library does not decode it). */
  charsmap: unknown;
}

export interface HfUnigram {
  vocab: string[];
  tokenize(normalized: string): string[];
}

export interface HfTokenizer {
  normalizer: HfNormalizer | null;
  pre_tokenizer: unknown;
  model: unknown;
  encode(text: string, options: { add_special_tokens: boolean }): HfEncoding;
  token_to_id(token: string): number | undefined;
}

type Constructor<T> = abstract new (...args: never[]) => T;

interface Library {
  Tokenizer: new (tokenizer: JsonObject, config: JsonObject) => HfTokenizer;
  Normalizer: abstract new (config: { type: string }) => HfNormalizer;
  LowercaseNormalizer: Constructor<HfNormalizer>;
  PrecompiledNormalizer: Constructor<HfPrecompiledNormalizer>;
  SequenceNormalizer: Constructor<HfSequenceNormalizer>;
  Unigram: Constructor<HfUnigram>;
}

export const lib = hf as unknown as Library;
