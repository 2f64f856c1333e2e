/**
 * Unigram segmentation exactly as sentencepiece's Model::EncodeOptimized does it (google/sentencepiece
 * src/unigram_model.cc, v0.1.97): Viterbi over the normalized string with per-end-position best paths
 * stored in float32 and candidates summed in double, ties going to the earliest start; unknown
 * characters cost min(normal scores) - 10; user-defined pieces get sentencepiece's length bonus;
 * control, unknown and unused pieces never match text; runs of unknown characters fuse into one <unk>.
 * (@huggingface/tokenizers sums in float64 and may break near-ties differently.)
 */

export type UnigramPieceKind = 'normal' | 'user_defined' | 'never';

export interface UnigramPiece {
  piece: string;
  score: number;
  kind: UnigramPieceKind;
}

export interface UnigramToken {
  id: number;
  /** The piece, or the unknown piece's text for <unk>. */
  piece: string;
}

interface TrieNode {
  next: Map<string, TrieNode>;
  id: number;
}

const FLT_MIN = 1.1754943508222875e-38;
const UNK_PENALTY = 10;

export class UnigramEncoder {
  private readonly root: TrieNode = { next: new Map(), id: -1 };
  private readonly scores: Float64Array;
  private readonly userDefined: Uint8Array;
  private readonly maxScore: number;
  private readonly unkScore: number;
  private readonly byteLengths = new Map<string, number>();

  constructor(
    private readonly pieces: readonly UnigramPiece[],
    readonly unkId: number,
  ) {
    this.scores = new Float64Array(pieces.length);
    this.userDefined = new Uint8Array(pieces.length);
    let minScore = Number.MAX_VALUE;
    let maxScore = FLT_MIN;
    pieces.forEach((entry, id) => {
      this.scores[id] = Math.fround(entry.score);
      if (entry.kind === 'normal') {
        minScore = Math.min(minScore, Math.fround(entry.score));
        maxScore = Math.max(maxScore, Math.fround(entry.score));
      }
      if (entry.kind === 'never' || entry.piece.length === 0) return;
      if (entry.kind === 'user_defined') this.userDefined[id] = 1;
      let node = this.root;
      for (const char of entry.piece) {
        let child = node.next.get(char);
        if (!child) {
          child = { next: new Map(), id: -1 };
          node.next.set(char, child);
        }
        node = child;
      }
      if (node.id === -1) node.id = id;
    });
    if (minScore === Number.MAX_VALUE) minScore = 0;
    this.maxScore = maxScore;
    this.unkScore = Math.fround(Math.fround(minScore) - UNK_PENALTY);
  }

  /** Segments an already normalized string (with its "▁" markers). */
  encode(normalized: string): UnigramToken[] {
    const chars = Array.from(normalized);
    const size = chars.length;
    if (size === 0) return [];
    const bestScore = new Float64Array(size + 1);
    const startsAt = new Int32Array(size + 1).fill(-1);
    const bestId = new Int32Array(size + 1).fill(-1);
    const byteLength = (char: string): number => {
      let length = this.byteLengths.get(char);
      if (length === undefined) {
        const code = char.codePointAt(0)!;
        length = code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
        this.byteLengths.set(char, length);
      }
      return length;
    };
    for (let start = 0; start < size; start++) {
      const tillHere = bestScore[start]!;
      let node: TrieNode | undefined = this.root;
      let hasSingle = false;
      let bytes = 0;
      for (let end = start; end < size; end++) {
        node = node.next.get(chars[end]!);
        if (!node) break;
        bytes += byteLength(chars[end]!);
        if (node.id < 0) continue;
        const id = node.id;
        // sentencepiece: `score` is a double (the user-defined branch is double), the sum is double,
        // the stored best path score is a float.
        const score = this.userDefined[id] ? Math.fround(bytes * this.maxScore) - 0.1 : this.scores[id]!;
        const candidate = score + tillHere;
        const target = end + 1;
        if (startsAt[target] === -1 || candidate > bestScore[target]!) {
          bestScore[target] = Math.fround(candidate);
          startsAt[target] = start;
          bestId[target] = id;
        }
        if (end === start) hasSingle = true;
      }
      if (!hasSingle) {
        const target = start + 1;
        const candidate = Math.fround(this.unkScore + tillHere);
        if (startsAt[target] === -1 || candidate > bestScore[target]!) {
          bestScore[target] = candidate;
          startsAt[target] = start;
          bestId[target] = this.unkId;
        }
      }
    }
    const reversed: UnigramToken[] = [];
    for (let end = size; end > 0; ) {
      const start = startsAt[end]!;
      const id = bestId[end]!;
      reversed.push({ id, piece: id === this.unkId ? chars.slice(start, end).join('') : this.pieces[id]!.piece });
      end = start;
    }
    const tokens: UnigramToken[] = [];
    for (let i = reversed.length - 1; i >= 0; i--) {
      const token = reversed[i]!;
      const last = tokens[tokens.length - 1];
      if (last && token.id === this.unkId && last.id === this.unkId) last.piece += token.piece;
      else tokens.push({ ...token });
    }
    return tokens;
  }
}
