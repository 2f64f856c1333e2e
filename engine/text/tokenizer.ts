/**
 * Text tokenization for the models' text encoders, on @huggingface/tokenizers (pure JS, offline):
 * loads a folder's tokenizer.json (+ tokenizer_config.json), and adds what that library leaves out,
 * padding and truncation to the encoder's fixed length. Truncation keeps the special tokens the
 * post-processor added (CLIP's BOS/EOS, T5's EOS), as the reference tokenizers do.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { EngineError, messageOf } from '../errors.js';

export interface TokenizedText {
  /** Exactly `maxLength` ids (padded). */
  ids: number[];
  /** How many ids are real tokens (the rest are padding). */
  length: number;
  /** Tokens dropped to fit `maxLength` (0 when the text fit). */
  truncatedTokens: number;
}

function readJson(file: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    throw new EngineError('model_error', `${file}: cannot read tokenizer file (${messageOf(error)})`);
  }
}

function tokenText(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && 'content' in value && typeof value.content === 'string') return value.content;
  return null;
}

export class TextTokenizer {
  readonly padId: number;
  /** Ids the post-processor adds at the end (EOS), kept when truncating. */
  private readonly suffix: number;
  private readonly prefix: number;

  private constructor(
    private readonly tokenizer: Tokenizer,
    readonly source: string,
    padId: number,
  ) {
    this.padId = padId;
    const bare = tokenizer.encode('', { add_special_tokens: false }).ids.length;
    const withSpecial = tokenizer.encode('', { add_special_tokens: true }).ids;
    // For an empty text every id is a special token; find how many come first and last.
    const probe = tokenizer.encode('a', { add_special_tokens: true }).ids;
    const probeBare = tokenizer.encode('a', { add_special_tokens: false }).ids;
    let prefix = 0;
    while (prefix < probe.length && probe[prefix] !== probeBare[0]) prefix++;
    this.prefix = Math.min(prefix, withSpecial.length - bare);
    this.suffix = withSpecial.length - bare - this.prefix;
  }

  /** Loads `dir/tokenizer.json` and, when present, `dir/tokenizer_config.json`. */
  static fromFolder(dir: string): TextTokenizer {
    const file = path.join(dir, 'tokenizer.json');
    if (!existsSync(file)) throw new EngineError('model_error', `${file}: tokenizer.json not found`);
    const json = readJson(file);
    const configFile = path.join(dir, 'tokenizer_config.json');
    const config = existsSync(configFile) ? readJson(configFile) : {};
    let tokenizer: Tokenizer;
    try {
      tokenizer = new Tokenizer(json, config);
    } catch (error) {
      throw new EngineError('model_error', `${file}: not a tokenizer this engine can load (${messageOf(error)})`);
    }
    return new TextTokenizer(tokenizer, file, resolvePadId(tokenizer, json, config, file));
  }

  /** Ids of `text` with special tokens, truncated and padded to `maxLength`. */
  encode(text: string, maxLength: number): TokenizedText {
    let ids = this.tokenizer.encode(text, { add_special_tokens: true }).ids;
    let truncatedTokens = 0;
    if (ids.length > maxLength) {
      truncatedTokens = ids.length - maxLength;
      const keepBody = maxLength - this.suffix;
      ids = [...ids.slice(0, keepBody), ...ids.slice(ids.length - this.suffix)];
    }
    const length = ids.length;
    while (ids.length < maxLength) ids.push(this.padId);
    return { ids, length, truncatedTokens };
  }

  /** Ids of `text` alone, without special tokens (to find a phrase inside a prompt). */
  encodeBare(text: string): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: false }).ids;
  }

  /** How many special tokens the post-processor puts before the text (CLIP: 1, T5: 0). */
  get prefixLength(): number {
    return this.prefix;
  }
}

function resolvePadId(tokenizer: Tokenizer, json: Record<string, unknown>, config: Record<string, unknown>, file: string): number {
  const padding = json.padding as { pad_id?: unknown } | null | undefined;
  if (padding && typeof padding.pad_id === 'number') return padding.pad_id;
  const candidates = [tokenText(config.pad_token), '<pad>', tokenText(config.eos_token), '<|endoftext|>', '</s>'];
  for (const candidate of candidates) {
    if (!candidate) continue;
    const id = tokenizer.token_to_id(candidate);
    if (id !== undefined) return id;
  }
  throw new EngineError('model_error', `${file}: no padding token (no pad_token in tokenizer_config.json, no <pad> or end-of-text token)`);
}
