"""Hand-built tokenizers for the closed shapes-world vocabulary.

- CLIP-like: byte-level BPE with "</w>" end-of-word suffix, lowercase normalizer,
  <|startoftext|> / <|endoftext|> as the two highest ids, padded to max length with
  <|endoftext|> (as CLIP/FLUX do), so the EOS position is argmax(input_ids).
- T5-like: Unigram with WhitespaceSplit + Metaspace pre-tokenizer, <pad>=0, </s>=1, <unk>=2,
  TemplateProcessing "$A </s>", padded with <pad>.

Both write a tokenizer.json that @huggingface/tokenizers loads; the Python encoders below
reproduce its ids (checked by zoo.evalsets against the JS library, fixtures in
models/tiny/eval/tokenizer_fixtures.json). Words outside the vocabulary fall back to
characters (BPE) / single-character pieces (Unigram), never to a crash.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from .world import VOCAB_WORDS

CLIP_MAX_LENGTH = 32
T5_MAX_LENGTH = 32
EXTRA_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789,.!?'-"


def bytes_to_unicode() -> dict[int, str]:
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


BYTE_ENC = bytes_to_unicode()
CLIP_SPLIT = re.compile(r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[^\W\d_]+|\d|(?:[^\s\w]|_)+""",
                        re.IGNORECASE)
CLIP_SPLIT_JSON = r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""


# ------------------------------------------------------------------ CLIP-like BPE
def _bpe(token_syms: tuple, ranks: dict) -> tuple:
    word = token_syms
    if len(word) < 2:
        return word
    while True:
        pairs = {(word[i], word[i + 1]) for i in range(len(word) - 1)}
        bigram = min(pairs, key=lambda p: ranks.get(p, float("inf")))
        if bigram not in ranks:
            break
        first, second = bigram
        new, i = [], 0
        while i < len(word):
            if i < len(word) - 1 and word[i] == first and word[i + 1] == second:
                new.append(first + second)
                i += 2
            else:
                new.append(word[i])
                i += 1
        word = tuple(new)
        if len(word) == 1:
            break
    return word


def _word_syms(w: str) -> tuple:
    chars = [BYTE_ENC[b] for b in w.encode("utf-8")]
    return tuple(chars[:-1]) + (chars[-1] + "</w>",)


class ClipTokenizer:
    def __init__(self, words=VOCAB_WORDS, max_length: int = CLIP_MAX_LENGTH):
        base = list(BYTE_ENC.values())
        vocab = base + [c + "</w>" for c in base]
        merges: list[tuple[str, str]] = []
        ranks: dict = {}
        changed = True
        while changed:                      # greedy: add merges until every word is one token
            changed = False
            for w in words:
                syms = _bpe(_word_syms(w), ranks)
                while len(syms) > 1:
                    m = (syms[0], syms[1])
                    ranks[m] = len(merges)
                    merges.append(m)
                    syms = _bpe(_word_syms(w), ranks)
                    changed = True
        for a, b in merges:
            if a + b not in vocab:
                vocab.append(a + b)
        self.vocab = {t: i for i, t in enumerate(vocab)}
        self.bos = "<|startoftext|>"
        self.eos = "<|endoftext|>"
        self.vocab[self.bos] = len(self.vocab)
        self.vocab[self.eos] = len(self.vocab)
        self.bos_id, self.eos_id = self.vocab[self.bos], self.vocab[self.eos]
        self.merges = merges
        self.ranks = {m: i for i, m in enumerate(merges)}
        self.max_length = max_length

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def tokenize(self, text: str) -> list[int]:
        """ids without specials or padding (what the JS library gives with add_special_tokens false)."""
        text = re.sub(r"\s+", " ", text).lower()
        ids = []
        for piece in CLIP_SPLIT.findall(text):
            syms = _bpe(_word_syms(piece), self.ranks)
            ids.extend(self.vocab.get(s, self.eos_id) for s in syms)
        return ids

    def encode(self, text: str, pad: bool = True) -> list[int]:
        ids = [self.bos_id] + self.tokenize(text)[: self.max_length - 2] + [self.eos_id]
        if pad:
            ids += [self.eos_id] * (self.max_length - len(ids))
        return ids

    def tokenizer_json(self) -> dict:
        def added(i, c):
            return {"id": i, "content": c, "single_word": False, "lstrip": False, "rstrip": False,
                    "normalized": True, "special": True}
        return {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": [added(self.bos_id, self.bos), added(self.eos_id, self.eos)],
            "normalizer": {"type": "Sequence", "normalizers": [
                {"type": "NFC"},
                {"type": "Replace", "pattern": {"Regex": "\\s+"}, "content": " "},
                {"type": "Lowercase"}]},
            "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": CLIP_SPLIT_JSON}, "behavior": "Removed", "invert": True},
                {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
            "post_processor": {"type": "RobertaProcessing", "sep": [self.eos, self.eos_id],
                               "cls": [self.bos, self.bos_id], "trim_offsets": False, "add_prefix_space": False},
            "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
            "model": {"type": "BPE", "dropout": None, "unk_token": self.eos, "continuing_subword_prefix": "",
                      "end_of_word_suffix": "</w>", "fuse_unk": False, "byte_fallback": False,
                      "ignore_merges": False,
                      "vocab": self.vocab, "merges": [f"{a} {b}" for a, b in self.merges]},
        }

    def write(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "tokenizer.json").write_text(json.dumps(self.tokenizer_json(), ensure_ascii=False) + "\n")
        (folder / "vocab.json").write_text(json.dumps(self.vocab, ensure_ascii=False) + "\n")
        (folder / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in self.merges))
        cfg = {"tokenizer_class": "CLIPTokenizer", "model_max_length": self.max_length,
               "bos_token": self.bos, "eos_token": self.eos, "unk_token": self.eos, "pad_token": self.eos,
               "do_lower_case": True, "clean_up_tokenization_spaces": True,
               "add_prefix_space": False, "errors": "replace"}
        (folder / "tokenizer_config.json").write_text(json.dumps(cfg, indent=1) + "\n")
        (folder / "special_tokens_map.json").write_text(json.dumps(
            {"bos_token": self.bos, "eos_token": self.eos, "unk_token": self.eos, "pad_token": self.eos}, indent=1) + "\n")


# ------------------------------------------------------------------ T5-like Unigram
META = "\u2581"


class T5Tokenizer:
    def __init__(self, words=VOCAB_WORDS, max_length: int = T5_MAX_LENGTH):
        pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), (META, -6.0)]
        for k, w in enumerate(words):
            pieces.append((META + w, -5.0 - 0.001 * k))        # distinct scores: no ties
        for k, c in enumerate(EXTRA_CHARS):
            pieces.append((c, -9.0 - 0.001 * k))
        self.pieces = pieces
        self.vocab = {p: i for i, (p, _) in enumerate(pieces)}
        self.scores = {p: s for p, s in pieces[3:]}
        self.maxlen_piece = max(len(p) for p, _ in pieces[3:])
        self.pad_id, self.eos_id, self.unk_id = 0, 1, 2
        self.max_length = max_length

    @property
    def vocab_size(self) -> int:
        return len(self.pieces)

    def _viterbi(self, s: str) -> list[int]:
        n = len(s)
        best = [(-float("inf"), -1, None)] * (n + 1)
        best[0] = (0.0, -1, None)
        unk_score = min(self.scores.values()) - 10.0
        for i in range(n):
            if best[i][0] == -float("inf"):
                continue
            found = False
            for j in range(i + 1, min(n, i + self.maxlen_piece) + 1):
                p = s[i:j]
                if p in self.scores:
                    found = found or j == i + 1
                    sc = best[i][0] + self.scores[p]
                    if sc > best[j][0]:
                        best[j] = (sc, i, p)
            if not found:            # unknown character: one <unk> token
                sc = best[i][0] + unk_score
                if sc > best[i + 1][0]:
                    best[i + 1] = (sc, i, None)
        out, j = [], n
        while j > 0:
            _, i, p = best[j]
            out.append(self.vocab[p] if p is not None else self.unk_id)
            j = i
        return out[::-1]

    def tokenize(self, text: str) -> list[int]:
        ids = []
        for w in text.lower().split():
            ids.extend(self._viterbi(META + w))
        return ids

    def encode(self, text: str, pad: bool = True) -> list[int]:
        ids = self.tokenize(text)[: self.max_length - 1] + [self.eos_id]
        if pad:
            ids += [self.pad_id] * (self.max_length - len(ids))
        return ids

    def tokenizer_json(self) -> dict:
        def added(i, c):
            return {"id": i, "content": c, "single_word": False, "lstrip": False, "rstrip": False,
                    "normalized": False, "special": True}
        return {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": [added(0, "<pad>"), added(1, "</s>"), added(2, "<unk>")],
            "normalizer": {"type": "Sequence", "normalizers": [{"type": "Lowercase"}]},
            "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                {"type": "WhitespaceSplit"},
                {"type": "Metaspace", "replacement": META, "prepend_scheme": "always", "split": True}]},
            "post_processor": {
                "type": "TemplateProcessing",
                "single": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}],
                "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}},
                         {"Sequence": {"id": "B", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}],
                "special_tokens": {"</s>": {"id": "</s>", "ids": [1], "tokens": ["</s>"]}}},
            "decoder": {"type": "Metaspace", "replacement": META, "prepend_scheme": "always", "split": True},
            "model": {"type": "Unigram", "unk_id": 2, "vocab": [[p, s] for p, s in self.pieces],
                      "byte_fallback": False},
        }

    def write(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "tokenizer.json").write_text(json.dumps(self.tokenizer_json(), ensure_ascii=False) + "\n")
        cfg = {"tokenizer_class": "T5TokenizerFast", "model_max_length": self.max_length,
               "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>", "extra_ids": 0,
               "legacy": True, "clean_up_tokenization_spaces": True, "add_prefix_space": True}
        (folder / "tokenizer_config.json").write_text(json.dumps(cfg, indent=1) + "\n")
        (folder / "special_tokens_map.json").write_text(json.dumps(
            {"eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}, indent=1) + "\n")


_CLIP = None
_T5 = None


def clip_tokenizer() -> ClipTokenizer:
    global _CLIP
    if _CLIP is None:
        _CLIP = ClipTokenizer()
    return _CLIP


def t5_tokenizer() -> T5Tokenizer:
    global _T5
    if _T5 is None:
        _T5 = T5Tokenizer()
    return _T5
