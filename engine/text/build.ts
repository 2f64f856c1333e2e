/**
 * Turns tokenizer sources (a tokenizer.json object, a CLIP vocabulary, a SentencePiece model) plus the
 * folder's tokenizer_config.json / special_tokens_map.json into a ready @huggingface/tokenizers
 * Tokenizer with the exact replacements of lib-patches.ts, and resolves the padding id.
 */
import { EngineError, messageOf } from '../errors.js';
import { PrecompiledCharsmap } from './charsmap.js';
import { clipTokenizerJson, type ClipVocabulary } from './clip-json.js';
import { lib, type HfTokenizer, type JsonObject } from './hf.js';
import { patchNormalizers, useExactUnigram, useSentencePieceNormalization } from './lib-patches.js';
import { spmTokenizerJson } from './spm-json.js';
import type { SpmModel } from './spm-model.js';
import { SpmNormalizer } from './spm-normalize.js';
import { UnigramEncoder, type UnigramPiece } from './unigram.js';

/** tokenizer_config.json and special_tokens_map.json of a folder (empty objects when absent). */
export interface TokenizerConfigs {
  config: JsonObject;
  specialTokens: JsonObject;
}

export interface BuiltTokenizer {
  tokenizer: HfTokenizer;
  padId: number;
  /** The file the vocabulary came from (named in errors). */
  source: string;
}

/** The text of a token setting: a string, or an AddedToken object's `content`. */
export function tokenText(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && 'content' in value && typeof value.content === 'string') return value.content;
  return null;
}

function setting(configs: TokenizerConfigs, key: string): string | null {
  return tokenText(configs.config[key]) ?? tokenText(configs.specialTokens[key]);
}

function construct(json: JsonObject, source: string): HfTokenizer {
  try {
    const tokenizer = new lib.Tokenizer(json, {});
    patchNormalizers(tokenizer);
    return tokenizer;
  } catch (error) {
    throw new EngineError('model_error', `${source}: not a tokenizer this engine can load (${messageOf(error)})`);
  }
}

/**
 * The padding id: the configured pad_token (an error when it is not in the vocabulary), else the
 * first fallback that is.
 */
function resolvePad(tokenizer: HfTokenizer, configs: TokenizerConfigs, fallbacks: (string | number | null | undefined)[], source: string): number {
  const configured = setting(configs, 'pad_token');
  if (configured) {
    const id = tokenizer.token_to_id(configured);
    if (id === undefined) throw new EngineError('model_error', `${source}: the configured pad_token ${JSON.stringify(configured)} is not in the vocabulary`);
    return id;
  }
  for (const candidate of fallbacks) {
    if (typeof candidate === 'number') return candidate;
    if (!candidate) continue;
    const id = tokenizer.token_to_id(candidate);
    if (id !== undefined) return id;
  }
  const named = fallbacks.filter((c) => typeof c === 'string' && c).map((c) => JSON.stringify(c)).join(', ');
  throw new EngineError('model_error', `${source}: no padding token in the vocabulary (tried ${named || 'none'})`);
}

/** A folder's own tokenizer.json. */
export function buildFromTokenizerJson(json: JsonObject, configs: TokenizerConfigs, source: string): BuiltTokenizer {
  const tokenizer = construct(json, source);
  const model = json.model as JsonObject | undefined;
  if (model?.type === 'Unigram' || Array.isArray(model?.vocab)) {
    if (model.byte_fallback === true) throw new EngineError('model_error', `${source}: Unigram byte fallback is not supported`);
    if (typeof model.unk_id !== 'number') throw new EngineError('model_error', `${source}: the Unigram model has no unk_id`);
    const added = new Set(((json.added_tokens ?? []) as JsonObject[]).map((token) => token.id));
    const pieces = (model.vocab as unknown[]).map((entry, id): UnigramPiece => {
      if (!Array.isArray(entry) || typeof entry[0] !== 'string' || typeof entry[1] !== 'number') {
        throw new EngineError('model_error', `${source}: Unigram vocabulary entry ${id} is not [piece, score]`);
      }
      return { piece: entry[0], score: entry[1], kind: added.has(id) || id === model.unk_id ? 'never' : 'normal' };
    });
    useExactUnigram(tokenizer, new UnigramEncoder(pieces, model.unk_id));
  }
  const padding = json.padding as JsonObject | null | undefined;
  const jsonPad = typeof padding?.pad_id === 'number' ? padding.pad_id : undefined;
  return { tokenizer, source, padId: resolvePad(tokenizer, configs, [jsonPad, '<pad>', setting(configs, 'eos_token'), '<|endoftext|>', '</s>'], source) };
}

/** A CLIP vocabulary (vocab.json + merges.txt, or OpenAI's merges file). */
export function buildFromClipVocabulary(vocabulary: ClipVocabulary, configs: TokenizerConfigs, source: string): BuiltTokenizer {
  const special = {
    bos: setting(configs, 'bos_token') ?? '<|startoftext|>',
    eos: setting(configs, 'eos_token') ?? '<|endoftext|>',
    unk: setting(configs, 'unk_token') ?? '<|endoftext|>',
  };
  const tokenizer = construct(clipTokenizerJson(vocabulary, special, source), source);
  // CLIPTokenizer's default pad_token is <|endoftext|>; SD 2.x / SDXL's second tokenizer say "!".
  return { tokenizer, source, padId: resolvePad(tokenizer, configs, [special.eos], source) };
}

function extraIdCount(configs: TokenizerConfigs): number {
  const declared = configs.config.extra_ids;
  if (typeof declared === 'number' && Number.isInteger(declared) && declared >= 0) return declared;
  const names = new Set<string>();
  for (const list of [configs.config.additional_special_tokens, configs.specialTokens.additional_special_tokens]) {
    if (Array.isArray(list)) for (const item of list) names.add(tokenText(item) ?? '');
  }
  const decoder = configs.config.added_tokens_decoder;
  if (decoder && typeof decoder === 'object') for (const item of Object.values(decoder)) names.add(tokenText(item) ?? '');
  return [...names].filter((name) => /^<extra_id_\d+>$/.test(name)).length;
}

/** A SentencePiece Unigram model (T5's spiece.model), encoded exactly as sentencepiece does. */
export function buildFromSpmModel(model: SpmModel, configs: TokenizerConfigs, source: string): BuiltTokenizer {
  const { trainer, pieces } = model;
  const eosPiece = trainer.eosId >= 0 ? pieces[trainer.eosId]?.piece : undefined;
  const eos = setting(configs, 'eos_token') ?? eosPiece ?? null;
  const extraIds = extraIdCount(configs);
  const json = spmTokenizerJson(model, { extraIds, eos }, source);
  const tokenizer = construct(json, source);
  let charsmap: PrecompiledCharsmap | null = null;
  try {
    charsmap = model.normalizer.precompiledCharsmap ? new PrecompiledCharsmap(model.normalizer.precompiledCharsmap) : null;
  } catch (error) {
    throw new EngineError('model_error', `${source}: ${messageOf(error)}`);
  }
  const spec = model.normalizer;
  useSentencePieceNormalization(
    tokenizer,
    new SpmNormalizer({
      charsmap,
      addDummyPrefix: spec.addDummyPrefix,
      removeExtraWhitespaces: spec.removeExtraWhitespaces,
      escapeWhitespaces: spec.escapeWhitespaces,
      treatWhitespaceAsSuffix: trainer.treatWhitespaceAsSuffix,
      userDefined: pieces.filter((piece) => piece.type === 'user_defined').map((piece) => piece.piece),
    }),
  );
  const unigramPieces: UnigramPiece[] = pieces.map((piece) => ({
    piece: piece.piece,
    score: piece.score,
    kind: piece.type === 'normal' ? 'normal' : piece.type === 'user_defined' ? 'user_defined' : 'never',
  }));
  for (let i = 0; i < extraIds; i++) unigramPieces.push({ piece: `<extra_id_${extraIds - 1 - i}>`, score: 0, kind: 'never' });
  useExactUnigram(tokenizer, new UnigramEncoder(unigramPieces, trainer.unkId));
  const trainerPad = trainer.padId >= 0 ? pieces[trainer.padId]?.piece : undefined;
  return { tokenizer, source, padId: resolvePad(tokenizer, configs, [trainerPad, '<pad>', eos], source) };
}
