/**
 * CLIP's vocabulary from OpenAI's BPE merges file (bpe_simple_vocab_16e6.txt.gz, one merge per line
 * after a header), built as OpenAI's clip/simple_tokenizer.py builds it: the 256 byte symbols of the
 * byte-level alphabet, the same with "</w>", one token per merge (merges 1..48894), then
 * <|startoftext|> (49406) and <|endoftext|> (49407). The result is what vocab.json/merges.txt hold.
 */
import { gunzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { EngineError, messageOf } from '../errors.js';
import type { ClipVocabulary } from './clip-json.js';

const MERGE_COUNT = 49152 - 256 - 2;

/** The byte-level alphabet in OpenAI/GPT-2 order: printable bytes first, then the rest shifted past U+00FF. */
export function byteSymbols(): string[] {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const symbols = printable.map((b) => String.fromCodePoint(b));
  let shifted = 0;
  for (let b = 0; b < 256; b++) {
    if (!printable.includes(b)) symbols.push(String.fromCodePoint(256 + shifted++));
  }
  return symbols;
}

export function clipVocabularyFromMerges(text: string, source: string): ClipVocabulary {
  const lines = text.split('\n').slice(1, MERGE_COUNT + 1);
  const merges = lines.map((line, index): [string, string] => {
    const parts = line.trim().split(/\s+/);
    if (parts.length !== 2) throw new EngineError('model_error', `${source}: line ${index + 2} is not a merge: ${JSON.stringify(line)}`);
    return [parts[0]!, parts[1]!];
  });
  const tokens = byteSymbols();
  tokens.push(...tokens.map((symbol) => `${symbol}</w>`));
  for (const [left, right] of merges) tokens.push(left + right);
  tokens.push('<|startoftext|>', '<|endoftext|>');
  const vocab: Record<string, number> = {};
  tokens.forEach((token, id) => {
    vocab[token] = id;
  });
  return { vocab, merges };
}

/** Reads a gzipped (or plain) OpenAI BPE merges file. */
export function readOpenAiBpe(file: string): ClipVocabulary {
  let text: string;
  try {
    const bytes = readFileSync(file);
    text = (file.endsWith('.gz') ? gunzipSync(bytes) : bytes).toString('utf8');
  } catch (error) {
    throw new EngineError('model_error', `${file}: cannot read the BPE merges file (${messageOf(error)})`);
  }
  return clipVocabularyFromMerges(text, file);
}
