/**
 * The tokenizer.json of a CLIP tokenizer, built in memory from the slow tokenizer's files
 * (vocab.json + merges.txt, as SD 1.5 / SDXL / FLUX repos ship them) the way transformers'
 * convert_slow_tokenizer.CLIPConverter builds CLIPTokenizerFast: BPE with the "</w>" end-of-word
 * suffix and <|endoftext|> as unknown token; NFC + whitespace collapse + lowercase; the CLIP split
 * regex then byte-level mapping; BOS/EOS added RobertaProcessing-style; BOS and EOS as special
 * added tokens (normalized, as in openai/clip-vit-large-patch14's files).
 */
import { readFileSync } from 'node:fs';
import { EngineError, messageOf } from '../errors.js';
import type { JsonObject } from './hf.js';

export interface ClipVocabulary {
  vocab: Record<string, number>;
  merges: [string, string][];
}

export interface ClipSpecialTokens {
  bos: string;
  eos: string;
  unk: string;
}

/** The pre-tokenizer regex of CLIP (OpenAI's simple_tokenizer without its two marker alternatives). */
export const CLIP_SPLIT_REGEX = "'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+";

/** CLIPTokenizer keeps at most this many merges (49152 - 256 - 2), after dropping merges.txt's first line. */
const MAX_MERGES = 49152 - 256 - 2;

function idOf(vocab: Record<string, number>, token: string, what: string, file: string): number {
  const id = Object.hasOwn(vocab, token) ? vocab[token] : undefined;
  if (typeof id !== 'number') throw new EngineError('model_error', `${file}: the ${what} token ${JSON.stringify(token)} is not in the vocabulary`);
  return id;
}

export function clipTokenizerJson(vocabulary: ClipVocabulary, special: ClipSpecialTokens, file: string): JsonObject {
  const bosId = idOf(vocabulary.vocab, special.bos, 'start-of-text', file);
  const eosId = idOf(vocabulary.vocab, special.eos, 'end-of-text', file);
  idOf(vocabulary.vocab, special.unk, 'unknown', file);
  const added = (id: number, content: string): JsonObject => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: bosId === eosId ? [added(bosId, special.bos)] : [added(bosId, special.bos), added(eosId, special.eos)].sort((a, b) => Number(a.id) - Number(b.id)),
    normalizer: {
      type: 'Sequence',
      normalizers: [{ type: 'NFC' }, { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' }, { type: 'Lowercase' }],
    },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: CLIP_SPLIT_REGEX }, behavior: 'Removed', invert: true },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
      ],
    },
    post_processor: { type: 'RobertaProcessing', sep: [special.eos, eosId], cls: [special.bos, bosId], trim_offsets: false, add_prefix_space: false },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: special.unk,
      continuing_subword_prefix: '',
      end_of_word_suffix: '</w>',
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: vocabulary.vocab,
      merges: vocabulary.merges,
    },
  };
}

/** Reads vocab.json + merges.txt as transformers' slow CLIPTokenizer does. */
export function readClipVocabulary(vocabFile: string, mergesFile: string): ClipVocabulary {
  let vocab: unknown;
  let mergesText: string;
  try {
    vocab = JSON.parse(readFileSync(vocabFile, 'utf8'));
  } catch (error) {
    throw new EngineError('model_error', `${vocabFile}: cannot read the CLIP vocabulary (${messageOf(error)})`);
  }
  if (!vocab || typeof vocab !== 'object' || Array.isArray(vocab) || !Object.values(vocab).every((id) => Number.isInteger(id))) {
    throw new EngineError('model_error', `${vocabFile}: not a vocabulary (expected an object of token -> integer id)`);
  }
  try {
    mergesText = readFileSync(mergesFile, 'utf8');
  } catch (error) {
    throw new EngineError('model_error', `${mergesFile}: cannot read the CLIP merges (${messageOf(error)})`);
  }
  // CLIPTokenizer: merges_handle.read().strip().split("\n")[1 : 49152 - 256 - 2 + 1], each line split on whitespace.
  const lines = mergesText.trim().split('\n').slice(1, MAX_MERGES + 1);
  const merges = lines.map((line, index): [string, string] => {
    const parts = line.trim().split(/\s+/);
    if (parts.length !== 2) throw new EngineError('model_error', `${mergesFile}: line ${index + 2} is not a merge ("left right"): ${JSON.stringify(line)}`);
    return [parts[0]!, parts[1]!];
  });
  return { vocab: vocab as Record<string, number>, merges };
}
