"""Held-out evaluation sets, noise test vectors and tokenizer fixtures -> models/tiny/eval/.

    /usr/bin/python3 -m zoo.evalsets [--smoke]

Writes t2i.json, edit.json, edit/NNNN.png (edit sources), noise_vectors.json and
tokenizer_fixtures.json (ids from @huggingface/tokenizers, compared with the Python encoders;
skipped with a message when node or the library is missing). Training data generators read
t2i.json / edit.json and reject every scene whose caption is an eval prompt and every
(source, instruction) pair of the edit set (zoo.data.HeldOut).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from . import world as W
from .common import Paths, ZOO_DIR, base_parser, paths_from_args, write_json, read_json
from .philox import test_vectors
from .png import write_png
from .tokenizers import clip_tokenizer, t5_tokenizer, CLIP_MAX_LENGTH, T5_MAX_LENGTH

EVAL_SEED = 777_001
N_T2I = 600
N_EDIT = 600
T2I_SEED0 = 1_000_000
EDIT_SEED0 = 2_000_000

SCORING = {
    "t2i_all_correct": "judged scene == requested scene: same background, same set of occupied cells, and "
                       "in each occupied cell the requested shape, color and size (no extra shapes)",
    "edit_applied": "every requested change is present: for each requested (object, attribute) the judged cell "
                    "at the object's target cell holds the target value (position: that cell is non-empty); "
                    "background: judged background == target background",
    "edit_preserved": "every unrequested attribute of the source is unchanged: for every object and every "
                      "attribute not requested, the judged cell at the object's target cell holds the target "
                      "(= source) value (position: the cell is non-empty), the background if not requested, "
                      "and no judged shape in a cell where the target has none",
}


def header(kind: str) -> dict:
    return {"format": "atelier-eval/1", "kind": kind, "image_size": W.IMAGE_SIZE,
            "vocabulary": {"shapes": W.SHAPES, "colors": W.COLOR_NAMES, "sizes": W.SIZE_NAMES,
                           "backgrounds": W.BG_NAMES, "cells": W.CELL_NAMES},
            "cells": "3x3 grid, row-major: cell = 3*row + col, row 0 at the top",
            "scoring": SCORING}


def make_t2i(n: int) -> list[dict]:
    rng = np.random.default_rng(EVAL_SEED)
    seen, items = set(), []
    while len(items) < n:
        i = len(items)
        scene = W.sample_scene(rng, 1 + i % 2)
        p = W.caption(scene)
        if p in seen:
            continue
        seen.add(p)
        items.append({"id": f"t2i-{i:04d}", "prompt": p, "seed": T2I_SEED0 + i,
                      "n_objects": len(scene["objects"]), "scene": scene})
    return items


def make_edit(n: int, t2i_prompts: set) -> list[dict]:
    rng = np.random.default_rng(EVAL_SEED + 1)
    seen, items = set(), []
    while len(items) < n:
        i = len(items)
        src = W.sample_scene(rng, 1 + (i // 3) % 2)
        e = W.sample_edit(src, rng, 1 + i % 3)
        if e is None:
            continue
        key = W.caption(src) + " || " + e["instruction"]
        if key in seen:
            continue
        seen.add(key)
        items.append({"id": f"edit-{i:04d}", "source": f"edit/{i:04d}.png", "instruction": e["instruction"],
                      "parts": e["parts"], "n_parts": len(e["parts"]), "seed": EDIT_SEED0 + i,
                      "source_scene": src, "target_scene": e["target"], "requested": e["requested"],
                      "source_caption": W.caption(src), "target_caption": W.caption(e["target"])})
    return items


def tokenizer_fixtures(texts: list[str], out: Path, log=print) -> bool:
    clip, t5 = clip_tokenizer(), t5_tokenizer()
    tmp = Path(tempfile.mkdtemp(prefix="zoo-tok-"))
    try:
        clip.write(tmp / "tokenizer")
        t5.write(tmp / "tokenizer_2")
        (tmp / "texts.json").write_text(json.dumps(texts))
        try:
            r = subprocess.run(["node", str(ZOO_DIR / "node" / "tokenize.mjs"), str(tmp / "tokenizer"),
                                str(tmp / "tokenizer_2"), str(tmp / "texts.json"), str(tmp / "out.json")],
                               capture_output=True, text=True, timeout=600)
        except FileNotFoundError:
            log("tokenizer fixtures: node not found; kept the existing fixture file")
            return False
        if r.returncode != 0:
            log("tokenizer fixtures skipped:", r.stderr.strip()[:500],
                "(install with: mkdir /tmp/tok && cd /tmp/tok && npm init -y && npm i @huggingface/tokenizers@0.2.0)")
            return False
        js = json.loads((tmp / "out.json").read_text())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    bad = 0
    items = []
    for s, j in zip(texts, js):
        py_c, py_t = clip.encode(s, pad=False), t5.encode(s, pad=False)
        if py_c != j["clip"] or py_t != j["t5"] or clip.tokenize(s) != j["clip_nospecial"] \
                or t5.tokenize(s) != j["t5_nospecial"]:
            bad += 1
            if bad < 5:
                log("MISMATCH", s, py_c, j["clip"], py_t, j["t5"])
        items.append({"text": s, "clip": j["clip"], "t5": j["t5"]})
    if bad:
        raise SystemExit(f"tokenizer fixtures: {bad} of {len(texts)} texts differ between Python and JS")
    write_json(out, {
        "format": "atelier-tokenizer-fixtures/1",
        "library": "@huggingface/tokenizers 0.2.0 (encode with special tokens, unpadded)",
        "clip": {"tokenizer": "kontext/tokenizer/tokenizer.json", "max_length": CLIP_MAX_LENGTH,
                 "padding": "append <|endoftext|> (id %d) up to max_length; truncate to max_length-1 then EOS"
                            % clip.eos_id, "bos_id": clip.bos_id, "eos_id": clip.eos_id},
        "t5": {"tokenizer": "kontext/tokenizer_2/tokenizer.json", "max_length": T5_MAX_LENGTH,
               "padding": "append <pad> (id 0) up to max_length; truncate to max_length-1 then </s> (id 1)",
               "eos_id": 1, "pad_id": 0},
        "python_matches": True, "n": len(items), "items": items}, indent=None)
    log(f"tokenizer fixtures: {len(items)} texts, Python == JS")
    return True


def main(argv=None):
    ap = base_parser(__doc__)
    args = ap.parse_args(argv)
    P = paths_from_args(args)
    n_t2i, n_edit = (N_T2I, N_EDIT) if not args.smoke else (12, 12)
    t2i = make_t2i(n_t2i)
    prompts = {it["prompt"] for it in t2i}
    edit = make_edit(n_edit, prompts)
    (P.eval / "edit").mkdir(parents=True, exist_ok=True)
    for it in edit:
        write_png(P.eval / it["source"], W.render(it["source_scene"]))
    write_json(P.eval / "t2i.json", {**header("t2i"), "n": len(t2i), "items": t2i}, indent=None)
    write_json(P.eval / "edit.json", {**header("edit"), "n": len(edit), "items": edit}, indent=None)
    write_json(P.eval / "noise_vectors.json", {
        "algorithm": "Philox4x32-10, key=(seed mod 2^32, floor(seed/2^32)), counter=(i,0,0,0); Box-Muller "
                     "u=((w>>8)+0.5)/2^24 float64, pairs (w0,w1),(w2,w3) -> z0=r cos, z1=r sin; C-order fill; float32",
        **test_vectors()})
    texts = sorted({it["prompt"] for it in t2i} | {it["instruction"] for it in edit}
                   | {p["text"] for it in edit for p in it["parts"]})
    if args.smoke:
        texts = texts[:20]
    ok = tokenizer_fixtures(texts, P.eval / "tokenizer_fixtures.json")
    print(f"eval sets: {len(t2i)} t2i, {len(edit)} edits -> {P.eval} (tokenizer fixtures {'ok' if ok else 'skipped'})")


if __name__ == "__main__":
    main()
