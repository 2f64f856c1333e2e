"""Tiny tokenizer folders in the real on-disk formats of each layout.

- CLIP (SD 1.5 / SDXL / FLUX `tokenizer/`, SDXL `tokenizer_2/`): the slow CLIPTokenizer files that
  `CLIPTokenizer.save_pretrained` writes: vocab.json, merges.txt ("#version: 0.2" header),
  tokenizer_config.json, special_tokens_map.json. Vocabulary layout as in openai/clip-vit-large-patch14:
  256 byte symbols, the same 256 with "</w>", then one token per merge, then <|startoftext|> and
  <|endoftext|> as the two highest ids. Tiny: ~90 merges instead of 48894.
- T5 (FLUX `tokenizer_2/`, T5TokenizerFast.save_pretrained): spiece.model (SentencePiece Unigram
  ModelProto), tokenizer.json (Unigram, Metaspace, "$A </s>"), tokenizer_config.json,
  special_tokens_map.json, with <pad>=0, </s>=1, <unk>=2 and 100 <extra_id_N> tokens appended in
  reverse (<extra_id_0> is the highest id), as google/t5-v1_1-xxl. Tiny: ~200 pieces instead of 32000.
"""
import json
import struct
from collections import Counter
from pathlib import Path

CORPUS = (
    "a photo of a red circle on a blue background . a small green square in the top left corner , "
    "a large yellow triangle at the bottom right . make the circle blue and move it left . "
    "turn the square into a star . an orange hexagon next to a purple diamond on a white background . "
    "the cat sits on the mat with a dog . painting of a house by the river at sunset , highly detailed , "
    "sharp focus , digital art , trending on artstation . change the color of the background to black ."
)


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def learn_bpe(words, n_merges):
    b2u = bytes_to_unicode()
    counts = Counter(words)
    seqs = {w: [b2u[b] for b in w.encode("utf-8")] for w in counts}
    for w in seqs:
        seqs[w][-1] += "</w>"
    merges = []
    for _ in range(n_merges):
        pairs = Counter()
        for w, s in seqs.items():
            for a, b in zip(s, s[1:]):
                pairs[(a, b)] += counts[w]
        if not pairs:
            break
        best = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))[0]  # deterministic tie-break
        merges.append(best)
        for w, s in seqs.items():
            out, i = [], 0
            while i < len(s):
                if i + 1 < len(s) and (s[i], s[i + 1]) == best:
                    out.append(s[i] + s[i + 1])
                    i += 2
                else:
                    out.append(s[i])
                    i += 1
            seqs[w] = out
    return merges


def clip_vocab(n_merges=90):
    base = list(bytes_to_unicode().values())
    vocab = base + [c + "</w>" for c in base]
    merges = learn_bpe([w for w in CORPUS.lower().split()], n_merges)
    for a, b in merges:
        tok = a + b
        if tok not in vocab:
            vocab.append(tok)
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    return {t: i for i, t in enumerate(vocab)}, merges


def _added(content):
    return {"__type": "AddedToken", "content": content, "lstrip": False, "normalized": True,
            "rstrip": False, "single_word": False}


def write_clip_tokenizer(folder: Path, pad_token="<|endoftext|>", name="openai/clip-vit-large-patch14"):
    """Writes the 4 files of a slow CLIPTokenizer; returns vocab size."""
    folder.mkdir(parents=True, exist_ok=True)
    vocab, merges = clip_vocab()
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges),
                                       encoding="utf-8")
    pad = pad_token if pad_token == "!" else _added(pad_token)
    cfg = {
        "add_prefix_space": False,
        "bos_token": _added("<|startoftext|>"),
        "do_lower_case": True,
        "eos_token": _added("<|endoftext|>"),
        "errors": "replace",
        "model_max_length": 77,
        "name_or_path": name,
        "pad_token": pad,
        "special_tokens_map_file": "./special_tokens_map.json",
        "tokenizer_class": "CLIPTokenizer",
        "unk_token": _added("<|endoftext|>"),
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    special = {
        "bos_token": {"content": "<|startoftext|>", "lstrip": False, "normalized": True, "rstrip": False, "single_word": False},
        "eos_token": {"content": "<|endoftext|>", "lstrip": False, "normalized": True, "rstrip": False, "single_word": False},
        "pad_token": pad_token if pad_token == "!" else
        {"content": pad_token, "lstrip": False, "normalized": True, "rstrip": False, "single_word": False},
        "unk_token": {"content": "<|endoftext|>", "lstrip": False, "normalized": True, "rstrip": False, "single_word": False},
    }
    (folder / "special_tokens_map.json").write_text(json.dumps(special, indent=2) + "\n")
    return len(vocab)


# --------------------------------------------------------------------------- T5 / SentencePiece

def _varint(n):
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _key(field, wire):
    return _varint((field << 3) | wire)


def _pb_int(field, v):
    return _key(field, 0) + _varint(v)


def _pb_bytes(field, b):
    if isinstance(b, str):
        b = b.encode("utf-8")
    return _key(field, 2) + _varint(len(b)) + b


def _pb_float(field, f):
    return _key(field, 5) + struct.pack("<f", f)


NORMAL, UNKNOWN, CONTROL = 1, 2, 3
EXTRA_IDS = 100


def t5_pieces():
    """(piece, score, type) for the tiny Unigram model; ids 0..2 are <pad>, </s>, <unk>."""
    pieces = [("<pad>", 0.0, CONTROL), ("</s>", 0.0, CONTROL), ("<unk>", 0.0, UNKNOWN)]
    words = sorted(set(CORPUS.lower().split()), key=lambda w: (-CORPUS.lower().split().count(w), w))
    seen = set()
    scores = []
    for i, w in enumerate(words):
        p = "\u2581" + w
        if p not in seen:
            seen.add(p)
            scores.append((p, -2.0 - 0.05 * i))
    chars = "\u2581abcdefghijklmnopqrstuvwxyz0123456789.,!?'-:;()"
    for i, c in enumerate(chars):
        for p in (c, "\u2581" + c) if c != "\u2581" else (c,):
            if p not in seen:
                seen.add(p)
                scores.append((p, -8.0 - 0.01 * len(scores)))
    pieces += [(p, s, NORMAL) for p, s in scores]
    return pieces


def spiece_model(pieces):
    """A SentencePiece ModelProto (Unigram) serialized by hand (no sentencepiece dependency)."""
    out = b""
    for p, s, t in pieces:
        body = _pb_bytes(1, p) + _pb_float(2, s) + (_pb_int(3, t) if t != NORMAL else b"")
        out += _pb_bytes(1, body)
    trainer = (_pb_int(3, 1)  # model_type UNIGRAM
               + _pb_int(4, len(pieces))  # vocab_size
               + _pb_int(40, 2) + _pb_int(41, -1) + _pb_int(42, 1) + _pb_int(43, 0)  # unk/bos/eos/pad ids
               + _pb_bytes(45, "<unk>") + _pb_bytes(46, "<s>") + _pb_bytes(47, "</s>") + _pb_bytes(48, "<pad>"))
    out += _pb_bytes(2, trainer)
    normalizer = _pb_bytes(1, "identity") + _pb_int(3, 1) + _pb_int(4, 1) + _pb_int(5, 1)
    out += _pb_bytes(3, normalizer)
    return out


def write_t5_tokenizer(folder: Path):
    """Writes spiece.model, tokenizer.json, tokenizer_config.json, special_tokens_map.json; returns vocab size."""
    folder.mkdir(parents=True, exist_ok=True)
    pieces = t5_pieces()
    (folder / "spiece.model").write_bytes(spiece_model(pieces))
    n = len(pieces)
    extras = [f"<extra_id_{i}>" for i in range(EXTRA_IDS)]
    # T5Tokenizer appends the extra ids after the sentencepiece vocab, <extra_id_0> last
    extra_ids = {tok: n + EXTRA_IDS - 1 - i for i, tok in enumerate(extras)}
    vocab = [[p, s] for p, s, _ in pieces] + [[tok, 0.0] for tok in sorted(extra_ids, key=extra_ids.get)]

    def added(i, content):
        return {"id": i, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
                "normalized": False, "special": True}

    tj = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [added(0, "<pad>"), added(1, "</s>"), added(2, "<unk>")]
        + [added(extra_ids[t], t) for t in sorted(extra_ids, key=extra_ids.get)],
        # real google/t5-v1_1-xxl: Sequence[Precompiled(nmt_nfkc charsmap), Replace(" {2,}" -> " ")];
        # the opaque precompiled charsmap is omitted in the twin
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}]},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "WhitespaceSplit"},
            {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True}]},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}],
            "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}],
            "special_tokens": {"</s>": {"id": "</s>", "ids": [1], "tokens": ["</s>"]}},
        },
        "decoder": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
        "model": {"type": "Unigram", "unk_id": 2, "vocab": vocab, "byte_fallback": False},
    }
    (folder / "tokenizer.json").write_text(json.dumps(tj, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    decoder = {str(i): {"content": c, "lstrip": False, "normalized": False, "rstrip": False,
                        "single_word": False, "special": True}
               for i, c in [(0, "<pad>"), (1, "</s>"), (2, "<unk>")] + sorted((v, k) for k, v in extra_ids.items())}
    cfg = {
        "add_prefix_space": True,
        "added_tokens_decoder": decoder,
        "additional_special_tokens": extras,
        "clean_up_tokenization_spaces": True,
        "eos_token": "</s>",
        "extra_ids": EXTRA_IDS,
        "legacy": True,
        "model_max_length": 512,
        "pad_token": "<pad>",
        "sp_model_kwargs": {},
        "tokenizer_class": "T5Tokenizer",
        "unk_token": "<unk>",
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    special = {"additional_special_tokens": extras, "eos_token": {"content": "</s>", "lstrip": False,
               "normalized": False, "rstrip": False, "single_word": False},
               "pad_token": {"content": "<pad>", "lstrip": False, "normalized": False, "rstrip": False,
                             "single_word": False},
               "unk_token": {"content": "<unk>", "lstrip": False, "normalized": False, "rstrip": False,
                             "single_word": False}}
    (folder / "special_tokens_map.json").write_text(json.dumps(special, indent=2) + "\n")
    return n + EXTRA_IDS
