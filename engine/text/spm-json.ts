/**
 * The tokenizer.json of a T5-style tokenizer, built in memory from a SentencePiece Unigram model the
 * way transformers' T5Converter (SpmConverter) builds T5TokenizerFast: Unigram over the pieces and
 * scores (plus T5's <extra_id_N> tokens appended in reverse), the precompiled charsmap normalizer and
 * space collapsing, WhitespaceSplit + Metaspace("▁", prepend always), "</s>" appended by a template,
 * control/unknown/user-defined pieces as added tokens. At run time the loader replaces the normalizer
 * and pre-tokenizer by sentencepiece's own normalization (lib-patches.ts), which this JSON describes
 * only approximately for models whose charsmap keeps tabs and newlines.
 */
import { EngineError } from '../errors.js';
import type { JsonObject } from './hf.js';
import type { SpmModel } from './spm-model.js';

export interface SpmTokenizerOptions {
  /** How many <extra_id_N> tokens follow the pieces (T5: 100). */
  extraIds: number;
  /** The end-of-sequence token appended after the text (T5: "</s>"); null for none. */
  eos: string | null;
}

export function spmTokenizerJson(model: SpmModel, options: SpmTokenizerOptions, file: string): JsonObject {
  const vocab: [string, number][] = model.pieces.map((piece) => [piece.piece, piece.score]);
  const extra: string[] = [];
  for (let i = options.extraIds - 1; i >= 0; i--) extra.push(`<extra_id_${i}>`);
  for (const token of extra) vocab.push([token, 0]);
  const addedTokens: JsonObject[] = [];
  model.pieces.forEach((piece, id) => {
    if (piece.type === 'control' || piece.type === 'unknown' || piece.type === 'user_defined') {
      addedTokens.push(addedToken(id, piece.piece, piece.type !== 'user_defined'));
    }
  });
  extra.forEach((token, i) => addedTokens.push(addedToken(model.pieces.length + i, token, true)));
  let postProcessor: JsonObject | null = null;
  if (options.eos !== null) {
    if (!vocab.some(([piece]) => piece === options.eos)) throw new EngineError('model_error', `${file}: the end-of-sequence token ${JSON.stringify(options.eos)} is not a piece of the model`);
    const eosId = vocab.findIndex(([piece]) => piece === options.eos);
    postProcessor = {
      type: 'TemplateProcessing',
      single: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: options.eos, type_id: 0 } }],
      pair: [
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: options.eos, type_id: 0 } },
        { Sequence: { id: 'B', type_id: 0 } },
        { SpecialToken: { id: options.eos, type_id: 0 } },
      ],
      special_tokens: { [options.eos]: { id: options.eos, ids: [eosId], tokens: [options.eos] } },
    };
  }
  const normalizers: JsonObject[] = [{ type: 'Replace', pattern: { Regex: ' {2,}' }, content: ' ' }];
  const charsmap = model.normalizer.precompiledCharsmap;
  if (charsmap) normalizers.unshift({ type: 'Precompiled', precompiled_charsmap: Buffer.from(charsmap).toString('base64') });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: { type: 'Sequence', normalizers },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [{ type: 'WhitespaceSplit' }, { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: true }],
    },
    post_processor: postProcessor,
    decoder: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: true },
    model: { type: 'Unigram', unk_id: model.trainer.unkId, vocab, byte_fallback: false },
  };
}

function addedToken(id: number, content: string, special: boolean): JsonObject {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special };
}
