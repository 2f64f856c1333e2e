/**
 * Where a sub-phrase sits in a tokenized prompt (SliderEdit's per-instruction token spans). First the
 * phrase is tokenized alone and looked for as a contiguous run of ids in the prompt's ids (DESIGN.md
 * section 1). When that fails (SentencePiece gives a phrase "▁" on its first word alone but not after
 * "(" or a quote; a phrase may start or end inside a token), the phrase is found in the prompt text
 * and its character range is mapped to tokens by tokenizing the text before and after it: tokens of
 * the prefix that agree with the prompt's tokens lie before the phrase, tokens of the remainder that
 * agree with the prompt's last tokens lie after it; a token cut by the phrase's edge is included.
 */

export interface TokenSpan {
  /** First token of the phrase (index into the encoded prompt, special tokens included). */
  start: number;
  /** One past its last token. */
  end: number;
}

type Encode = (text: string) => number[];

function commonPrefix(a: readonly number[], b: readonly number[]): number {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return n;
}

function commonSuffix(a: readonly number[], b: readonly number[]): number {
  let n = 0;
  while (n < a.length && n < b.length && a[a.length - 1 - n] === b[b.length - 1 - n]) n++;
  return n;
}

/** Non-overlapping occurrences of `needle` in `haystack`, left to right. */
function idRuns(haystack: readonly number[], needle: readonly number[]): TokenSpan[] {
  const spans: TokenSpan[] = [];
  if (needle.length === 0) return spans;
  for (let i = 0; i + needle.length <= haystack.length; ) {
    let match = true;
    for (let j = 0; j < needle.length; j++) {
      if (haystack[i + j] !== needle[j]) {
        match = false;
        break;
      }
    }
    if (match) {
      spans.push({ start: i, end: i + needle.length });
      i += needle.length;
    } else i++;
  }
  return spans;
}

const WORD_CHAR = /[\p{L}\p{N}\p{M}]/u;

/** Whether `index` is not inside a word: a letter, digit or mark on both sides of it is. */
export function isWordEdge(text: string, index: number): boolean {
  const before = text[index - 1];
  const after = text[index];
  return !(before && after && WORD_CHAR.test(before) && WORD_CHAR.test(after));
}

/** Character ranges of `phrase` in `prompt`: whole-word matches first, then any; exact case first. */
function textRuns(prompt: string, phrase: string): { from: number; to: number }[] {
  const attempts: [string, string][] = [[prompt, phrase]];
  const lowerPrompt = prompt.toLowerCase();
  if (lowerPrompt.length === prompt.length) attempts.push([lowerPrompt, phrase.toLowerCase()]);
  for (const wholeWords of [true, false]) {
    for (const [text, needle] of attempts) {
      const runs: { from: number; to: number }[] = [];
      for (let at = text.indexOf(needle); at >= 0; at = text.indexOf(needle, at + 1)) {
        const to = at + needle.length;
        if (wholeWords && !(isWordEdge(text, at) && isWordEdge(text, to))) continue;
        if (runs.length > 0 && at < runs[runs.length - 1]!.to) continue;
        runs.push({ from: at, to });
      }
      if (runs.length > 0) return runs;
    }
  }
  return [];
}

function spanOfRange(prompt: string, from: number, to: number, full: readonly number[], encode: Encode): TokenSpan {
  const before = encode(prompt.slice(0, from));
  const beforeAgrees = commonPrefix(before, full);
  let start = beforeAgrees;
  if (beforeAgrees !== before.length) {
    const rest = encode(prompt.slice(from));
    if (commonSuffix(rest, full) === rest.length) start = full.length - rest.length;
  }
  const upTo = encode(prompt.slice(0, to));
  const upToAgrees = commonPrefix(upTo, full);
  let end: number;
  if (upToAgrees === upTo.length) end = upToAgrees;
  else {
    const after = encode(prompt.slice(to));
    end = full.length - commonSuffix(after, full);
  }
  return { start, end: Math.max(end, start + 1) };
}

/** The tokens of the characters [from, to) of `prompt` (a token cut by an edge included), as ranges of `encode(prompt)`. */
export function rangeSpan(prompt: string, from: number, to: number, encode: Encode): TokenSpan {
  return spanOfRange(prompt, from, to, encode(prompt), encode);
}

/**
 * Every occurrence of `phrase` in `prompt` as token ranges of `encode(prompt)` (ids without special
 * tokens), in order; [] when the phrase is empty or not in the prompt.
 */
export function phraseSpans(prompt: string, phrase: string, encode: Encode): TokenSpan[] {
  const trimmed = phrase.trim();
  if (!trimmed) return [];
  const full = encode(prompt);
  const direct = idRuns(full, encode(trimmed));
  if (direct.length > 0) return direct;
  return textRuns(prompt, trimmed)
    .map(({ from, to }) => spanOfRange(prompt, from, to, full, encode))
    .filter((span) => span.start < span.end && span.end <= full.length);
}
