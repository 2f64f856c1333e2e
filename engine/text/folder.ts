/**
 * Finds what a tokenizer folder holds, in the order real repos are read: `tokenizer.json` when
 * present, else a CLIP slow tokenizer's `vocab.json` + `merges.txt`, else a SentencePiece
 * `spiece.model`; with `tokenizer_config.json` and `special_tokens_map.json` when present.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { EngineError, messageOf } from '../errors.js';
import { buildFromClipVocabulary, buildFromSpmModel, buildFromTokenizerJson, type BuiltTokenizer, type TokenizerConfigs } from './build.js';
import { readClipVocabulary } from './clip-json.js';
import { readJsonObject, type JsonObject } from '../files/json-object.js';
import { parseSpmModel } from './spm-model.js';

export function readConfigs(dir: string): TokenizerConfigs {
  const optional = (name: string): JsonObject => {
    const file = path.join(dir, name);
    return existsSync(file) ? readJsonObject(file, 'tokenizer file') : {};
  };
  return { config: optional('tokenizer_config.json'), specialTokens: optional('special_tokens_map.json') };
}

/** The file that defines the vocabulary of `dir` (what a cache key should watch). */
export function vocabularyFile(dir: string): string {
  for (const name of ['tokenizer.json', 'vocab.json', 'spiece.model']) {
    const file = path.join(dir, name);
    if (existsSync(file)) return file;
  }
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new EngineError('model_error', `${dir}: tokenizer folder not found`);
  throw new EngineError('model_error', `${dir}: no tokenizer.json, vocab.json + merges.txt or spiece.model in this tokenizer folder`);
}

export function loadTokenizerFolder(dir: string): BuiltTokenizer {
  const file = vocabularyFile(dir);
  const configs = readConfigs(dir);
  const name = path.basename(file);
  if (name === 'tokenizer.json') return buildFromTokenizerJson(readJsonObject(file, 'tokenizer file'), configs, file);
  if (name === 'vocab.json') {
    const merges = path.join(dir, 'merges.txt');
    if (!existsSync(merges)) throw new EngineError('model_error', `${merges}: not found (vocab.json needs merges.txt beside it)`);
    const kind = configs.config.tokenizer_class;
    if (typeof kind === 'string' && !kind.startsWith('CLIP')) {
      throw new EngineError('model_error', `${file}: a ${kind} vocabulary without tokenizer.json; only CLIP tokenizers can be built from vocab.json + merges.txt`);
    }
    return buildFromClipVocabulary(readClipVocabulary(file, merges), configs, file);
  }
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (error) {
    throw new EngineError('model_error', `${file}: cannot read (${messageOf(error)})`);
  }
  return buildFromSpmModel(parseSpmModel(bytes, file), configs, file);
}
