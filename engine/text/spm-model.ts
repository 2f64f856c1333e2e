/**
 * Reads a SentencePiece model file (`spiece.model`, a serialized `sentencepiece.ModelProto`) with
 * @bufbuild/protobuf's wire reader: the pieces with their scores and types, the trainer settings the
 * encoder needs (model type, special ids) and the normalizer spec (precompiled charsmap and the
 * whitespace rules). Field numbers follow google/sentencepiece src/sentencepiece_model.proto.
 */
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import { EngineError, messageOf } from '../errors.js';

/** sentencepiece.ModelProto.SentencePiece.Type */
export type PieceType = 'normal' | 'unknown' | 'control' | 'user_defined' | 'unused' | 'byte';

export interface SpmPiece {
  piece: string;
  score: number;
  type: PieceType;
}

export interface SpmNormalizerSpec {
  name: string;
  /** Darts double-array trie + replacement strings; null when the model normalizes nothing. */
  precompiledCharsmap: Uint8Array | null;
  addDummyPrefix: boolean;
  removeExtraWhitespaces: boolean;
  escapeWhitespaces: boolean;
}

export interface SpmTrainerSpec {
  /** 1 = Unigram, 2 = BPE, 3 = word, 4 = char. */
  modelType: number;
  unkId: number;
  bosId: number;
  eosId: number;
  padId: number;
  treatWhitespaceAsSuffix: boolean;
  byteFallback: boolean;
}

export interface SpmModel {
  pieces: SpmPiece[];
  trainer: SpmTrainerSpec;
  normalizer: SpmNormalizerSpec;
}

const PIECE_TYPES: Record<number, PieceType> = { 1: 'normal', 2: 'unknown', 3: 'control', 4: 'user_defined', 5: 'unused', 6: 'byte' };

function readPiece(bytes: Uint8Array): SpmPiece {
  const reader = new BinaryReader(bytes);
  const out: SpmPiece = { piece: '', score: 0, type: 'normal' };
  while (reader.pos < reader.len) {
    const [field, wire] = reader.tag();
    if (field === 1 && wire === WireType.LengthDelimited) out.piece = reader.string();
    else if (field === 2 && wire === WireType.Bit32) out.score = reader.float();
    else if (field === 3 && wire === WireType.Varint) {
      const code = reader.int32();
      const type = PIECE_TYPES[code];
      if (!type) throw new Error(`piece type ${code} is not a SentencePiece piece type`);
      out.type = type;
    } else reader.skip(wire, field);
  }
  return out;
}

function readTrainer(bytes: Uint8Array): SpmTrainerSpec {
  const reader = new BinaryReader(bytes);
  // Defaults from sentencepiece_model.proto.
  const out: SpmTrainerSpec = { modelType: 1, unkId: 0, bosId: 1, eosId: 2, padId: -1, treatWhitespaceAsSuffix: false, byteFallback: false };
  while (reader.pos < reader.len) {
    const [field, wire] = reader.tag();
    if (wire !== WireType.Varint) {
      reader.skip(wire, field);
      continue;
    }
    switch (field) {
      case 3: out.modelType = reader.int32(); break;
      case 24: out.treatWhitespaceAsSuffix = reader.bool(); break;
      case 35: out.byteFallback = reader.bool(); break;
      case 40: out.unkId = reader.int32(); break;
      case 41: out.bosId = reader.int32(); break;
      case 42: out.eosId = reader.int32(); break;
      case 43: out.padId = reader.int32(); break;
      default: reader.skip(wire, field);
    }
  }
  return out;
}

function readNormalizer(bytes: Uint8Array | null): SpmNormalizerSpec {
  const out: SpmNormalizerSpec = { name: '', precompiledCharsmap: null, addDummyPrefix: true, removeExtraWhitespaces: true, escapeWhitespaces: true };
  if (!bytes) return out;
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [field, wire] = reader.tag();
    if (field === 1 && wire === WireType.LengthDelimited) out.name = reader.string();
    else if (field === 2 && wire === WireType.LengthDelimited) {
      const charsmap = reader.bytes();
      out.precompiledCharsmap = charsmap.length > 0 ? charsmap.slice() : null;
    } else if (field === 3 && wire === WireType.Varint) out.addDummyPrefix = reader.bool();
    else if (field === 4 && wire === WireType.Varint) out.removeExtraWhitespaces = reader.bool();
    else if (field === 5 && wire === WireType.Varint) out.escapeWhitespaces = reader.bool();
    else reader.skip(wire, field);
  }
  return out;
}

/** Parses a ModelProto; `file` only names the source in errors. */
export function parseSpmModel(bytes: Uint8Array, file: string): SpmModel {
  const pieces: SpmPiece[] = [];
  let trainer: Uint8Array | null = null;
  let normalizer: Uint8Array | null = null;
  try {
    const reader = new BinaryReader(bytes);
    while (reader.pos < reader.len) {
      const [field, wire] = reader.tag();
      if (field === 1 && wire === WireType.LengthDelimited) pieces.push(readPiece(reader.bytes()));
      else if (field === 2 && wire === WireType.LengthDelimited) trainer = reader.bytes();
      else if (field === 3 && wire === WireType.LengthDelimited) normalizer = reader.bytes();
      else reader.skip(wire, field);
    }
    const model: SpmModel = { pieces, trainer: trainer ? readTrainer(trainer) : readTrainer(new Uint8Array()), normalizer: readNormalizer(normalizer) };
    checkModel(model);
    return model;
  } catch (error) {
    if (error instanceof EngineError) throw new EngineError('model_error', `${file}: ${error.message}`);
    throw new EngineError('model_error', `${file}: not a SentencePiece model (${messageOf(error)})`);
  }
}

function checkModel(model: SpmModel): void {
  if (model.pieces.length === 0) throw new EngineError('model_error', 'the SentencePiece model has no pieces');
  if (model.trainer.modelType !== 1) {
    const kinds: Record<number, string> = { 2: 'BPE', 3: 'word', 4: 'char' };
    throw new EngineError('model_error', `a ${kinds[model.trainer.modelType] ?? `type ${model.trainer.modelType}`} SentencePiece model; only Unigram models (T5) are supported`);
  }
  const unk = model.pieces[model.trainer.unkId];
  if (!unk || unk.type !== 'unknown') throw new EngineError('model_error', `unk_id ${model.trainer.unkId} is not an <unk> piece`);
}
