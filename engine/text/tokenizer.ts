/**
 * Text tokenization for the models' text encoders: CLIP BPE and T5 Unigram on @huggingface/tokenizers
 * (see folder.ts for what a folder may hold, build.ts and lib-patches.ts for how the tokenizer is made
 * exact), plus what that library leaves out: padding and truncation to the encoder's fixed length
 * (truncation keeps the special tokens the post-processor adds, CLIP's BOS/EOS and T5's EOS, as the
 * reference tokenizers do) and the token span of a sub-phrase (span.ts). Tokenizers are built once per
 * folder and cached.
 */
import { fileStamp } from '../cache/file-stamp.js';
import { LruCache } from '../cache/lru.js';
import path from 'node:path';
import { EngineError } from '../errors.js';
import { buildFromClipVocabulary, buildFromSpmModel, type BuiltTokenizer, type TokenizerConfigs } from './build.js';
import type { ClipVocabulary } from './clip-json.js';
import type { HfTokenizer } from './hf.js';
import { loadTokenizerFolder, vocabularyFile } from './folder.js';
import { phraseSpans, rangeSpan, type TokenSpan } from './span.js';
import type { SpmModel } from './spm-model.js';

export type { TokenSpan } from './span.js';

export interface TokenizedText {
  /** Exactly `maxLength` ids (padded). */
  ids: number[];
  /** How many ids are real tokens, special tokens included (the rest are padding). */
  length: number;
  /** Tokens dropped to fit `maxLength` (0 when the text fit): show "prompt truncated". */
  truncatedTokens: number;
}

/** Built tokenizers by vocabulary file stamp (a few models' worth: T5's vocabulary is large). */
const cache = new LruCache<string, TextTokenizer>(8);
const NO_CONFIGS: TokenizerConfigs = { config: {}, specialTokens: {} };

export class TextTokenizer {
  readonly padId: number;
  /** The file the vocabulary came from. */
  readonly source: string;
  private readonly tokenizer: HfTokenizer;
  private readonly prefix: number;
  private readonly suffix: number;

  private constructor(built: BuiltTokenizer) {
    this.tokenizer = built.tokenizer;
    this.padId = built.padId;
    this.source = built.source;
    // Where the post-processor puts its special tokens: find a probe's bare ids inside its full ids.
    const probe = 'a';
    const full = this.tokenizer.encode(probe, { add_special_tokens: true }).ids;
    const bare = this.tokenizer.encode(probe, { add_special_tokens: false }).ids;
    let prefix = 0;
    while (prefix + bare.length <= full.length && !bare.every((id, i) => full[prefix + i] === id)) prefix++;
    if (prefix + bare.length > full.length) throw new EngineError('model_error', `${built.source}: the post-processor changes the text's own tokens`);
    this.prefix = prefix;
    this.suffix = full.length - prefix - bare.length;
  }

  /**
   * The tokenizer of a model's tokenizer folder (tokenizer.json, else vocab.json + merges.txt, else
   * spiece.model), built once and cached until its vocabulary file changes.
   */
  static fromFolder(dir: string): TextTokenizer {
    const resolved = path.resolve(dir);
    const file = vocabularyFile(resolved);
    const key = fileStamp(file);
    let tokenizer = cache.get(key);
    if (!tokenizer) {
      tokenizer = new TextTokenizer(loadTokenizerFolder(resolved));
      cache.set(key, tokenizer);
    }
    return tokenizer;
  }

  /** A CLIP tokenizer from a vocabulary in memory (e.g. OpenAI's BPE file, see openai-bpe.ts). */
  static fromClipVocabulary(vocabulary: ClipVocabulary, source: string, configs: TokenizerConfigs = NO_CONFIGS): TextTokenizer {
    return new TextTokenizer(buildFromClipVocabulary(vocabulary, configs, source));
  }

  /** A T5-style tokenizer from a parsed SentencePiece model (see spm-model.ts). */
  static fromSentencePiece(model: SpmModel, source: string, configs: TokenizerConfigs = NO_CONFIGS): TextTokenizer {
    return new TextTokenizer(buildFromSpmModel(model, configs, source));
  }

  /** Ids of `text` with special tokens, truncated and padded to `maxLength`. */
  encode(text: string, maxLength: number): TokenizedText {
    const specials = this.prefix + this.suffix;
    if (!Number.isInteger(maxLength) || maxLength < specials + 1) {
      throw new EngineError('invalid_params', `text length ${maxLength} is too short for this tokenizer (${this.source}), which adds ${specials} special tokens`);
    }
    let ids = this.tokenizer.encode(text, { add_special_tokens: true }).ids;
    let truncatedTokens = 0;
    if (ids.length > maxLength) {
      truncatedTokens = ids.length - maxLength;
      ids = [...ids.slice(0, maxLength - this.suffix), ...ids.slice(ids.length - this.suffix)];
    }
    const length = ids.length;
    while (ids.length < maxLength) ids.push(this.padId);
    return { ids, length, truncatedTokens };
  }

  /** Ids of `text` alone, without special tokens. */
  encodeBare(text: string): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: false }).ids;
  }

  /** How many special tokens the post-processor puts before the text (CLIP: 1, T5: 0). */
  get prefixLength(): number {
    return this.prefix;
  }

  /** How many it puts after the text (CLIP and T5: 1, the end-of-text token). */
  get suffixLength(): number {
    return this.suffix;
  }

  /**
   * Every occurrence of `phrase` in `prompt`, as [start, end) indices into `encode(prompt, n).ids`
   * (CLIP's BOS counts), left to right and non-overlapping; [] when the phrase is not in the prompt.
   * Indices refer to the untruncated prompt: a span with `end > encode(prompt, n).length - suffixLength`
   * was cut by truncation.
   */
  tokenSpans(prompt: string, phrase: string): TokenSpan[] {
    return phraseSpans(prompt, phrase, (text) => this.encodeBare(text)).map((span) => ({ start: span.start + this.prefix, end: span.end + this.prefix }));
  }

  /** The tokens of the characters [from, to) of `prompt`, as indices into `encode(prompt, n).ids` (see tokenSpans). */
  rangeSpan(prompt: string, from: number, to: number): TokenSpan {
    const span = rangeSpan(prompt, from, to, (text) => this.encodeBare(text));
    return { start: span.start + this.prefix, end: span.end + this.prefix };
  }

  /** The first occurrence of `phrase` in `prompt` (see tokenSpans), or null. */
  tokenSpan(prompt: string, phrase: string): TokenSpan | null {
    return this.tokenSpans(prompt, phrase)[0] ?? null;
  }

  /** Forgets every cached tokenizer (tests; a model folder rewritten in place is noticed anyway). */
  static clearCache(): void {
    cache.clear();
  }
}
