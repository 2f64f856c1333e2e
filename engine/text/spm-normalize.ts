/**
 * SentencePiece's whole-string normalization, as sentencepiece's Normalizer::Normalize does it
 * (google/sentencepiece src/normalizer.cc, v0.1.97): user-defined symbols pass verbatim, everything
 * else goes through the precompiled charsmap (longest rule), leading whitespace is dropped, runs of
 * spaces collapse, trailing spaces go, spaces become "▁" and a "▁" dummy prefix is added. The result
 * is what the Unigram lattice runs on.
 */
import { ByteBuffer, decoder, encoder, utf8Length, type PrecompiledCharsmap } from './charsmap.js';

export interface SpmNormalizeOptions {
  charsmap: PrecompiledCharsmap | null;
  addDummyPrefix: boolean;
  removeExtraWhitespaces: boolean;
  escapeWhitespaces: boolean;
  treatWhitespaceAsSuffix: boolean;
  /** Pieces of type USER_DEFINED: matched verbatim before normalization. */
  userDefined: readonly string[];
}

const SPACE = 0x20;
const SPACE_SYMBOL = encoder.encode('\u2581');
const ONE_SPACE = Uint8Array.of(SPACE);

export class SpmNormalizer {
  private readonly userDefined: Uint8Array[];

  constructor(private readonly options: SpmNormalizeOptions) {
    this.userDefined = options.userDefined.map((symbol) => encoder.encode(symbol)).sort((a, b) => b.length - a.length);
  }

  normalize(text: string): string {
    const input = encoder.encode(text);
    const { removeExtraWhitespaces, escapeWhitespaces, addDummyPrefix, treatWhitespaceAsSuffix } = this.options;
    let pos = 0;
    if (removeExtraWhitespaces) {
      while (pos < input.length) {
        const prefix = this.prefix(input, pos);
        if (!isOneSpace(prefix.out)) break;
        pos += prefix.length;
      }
    }
    if (pos >= input.length) return '';
    const out = new ByteBuffer(input.length * 3);
    const addSpace = (): void => out.push(escapeWhitespaces ? SPACE_SYMBOL : ONE_SPACE);
    if (!treatWhitespaceAsSuffix && addDummyPrefix) addSpace();
    let prevSpace = removeExtraWhitespaces;
    while (pos < input.length) {
      const prefix = this.prefix(input, pos);
      let piece = prefix.out;
      if (prevSpace) {
        let skip = 0;
        while (skip < piece.length && piece[skip] === SPACE) skip++;
        piece = piece.subarray(skip);
      }
      if (piece.length > 0) {
        for (const byte of piece) {
          if (escapeWhitespaces && byte === SPACE) out.push(SPACE_SYMBOL);
          else out.pushByte(byte);
        }
        prevSpace = piece[piece.length - 1] === SPACE;
      }
      pos += prefix.length;
      if (!removeExtraWhitespaces) prevSpace = false;
    }
    if (removeExtraWhitespaces) {
      const space = escapeWhitespaces ? SPACE_SYMBOL : ONE_SPACE;
      while (out.endsWith(space)) out.truncate(out.length - space.length);
    }
    if (treatWhitespaceAsSuffix && addDummyPrefix) addSpace();
    return decoder.decode(out.view());
  }

  /** What the input at `pos` normalizes to, and how many input bytes that consumes. */
  private prefix(input: Uint8Array, pos: number): { out: Uint8Array; length: number } {
    for (const symbol of this.userDefined) {
      if (startsWith(input, pos, symbol)) return { out: symbol, length: symbol.length };
    }
    const match = this.options.charsmap?.longestMatch(input, pos);
    if (match) return { out: match.replacement, length: match.length };
    const length = utf8Length(input, pos);
    return { out: input.subarray(pos, pos + length), length };
  }
}

function isOneSpace(bytes: Uint8Array): boolean {
  return bytes.length === 1 && bytes[0] === SPACE;
}

function startsWith(input: Uint8Array, pos: number, symbol: Uint8Array): boolean {
  if (pos + symbol.length > input.length) return false;
  for (let i = 0; i < symbol.length; i++) if (input[pos + i] !== symbol[i]) return false;
  return true;
}
