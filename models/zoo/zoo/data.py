"""Latent training data for the tiny Kontext model (resumable, chunked).

    /usr/bin/python3 -m zoo.data [--smoke] [--chunks N]

Each chunk holds K edit pairs (source scene, instruction of 1-3 parts, target scene) rendered,
encoded with the finished VAE (posterior mean, normalised: z = (mean - shift) * scale, float16)
and tokenized with both tokenizers. Source and target captions double as text-to-image
samples. Pairs whose source or target caption is an eval text-to-image prompt, or whose
(source caption, instruction) is an eval edit, are rejected (HeldOut). Chunks are files in
models/zoo/.cache/data/latents/; existing chunks are kept, so the command resumes.
"""
from __future__ import annotations

import json
import time

import numpy as np
import torch

from . import world as W
from .common import Logger, base_parser, load_ckpt, paths_from_args, read_json, set_threads
from .tokenizers import clip_tokenizer, t5_tokenizer

DATA_SEED = 5005
CHUNK = 8192
# 131,072 edit pairs (+ their captions as text-to-image samples). The first 15,000 Kontext steps ran on
# the first 8 chunks (~7 passes over them); the continuation from there (zoo.kontext --rewarm) on all 16.
N_CHUNKS = 16


class HeldOut:
    def __init__(self, P):
        self.prompts, self.edits = set(), set()
        if (P.eval / "t2i.json").exists():
            self.prompts = {it["prompt"] for it in read_json(P.eval / "t2i.json")["items"]}
            self.edits = {it["source_caption"] + " || " + it["instruction"]
                          for it in read_json(P.eval / "edit.json")["items"]}
        elif not P.smoke:
            raise SystemExit("no eval sets: run python3 -m zoo.evalsets first")

    def ok(self, src_cap, instr, tgt_cap) -> bool:
        return src_cap not in self.prompts and tgt_cap not in self.prompts \
            and (src_cap + " || " + instr) not in self.edits


def load_vae(P):
    from .vae_model import AutoencoderKL
    ck = load_ckpt(P.ckpt / "vae_final.pt")
    if ck is None:
        raise SystemExit("no finished VAE: run python3 -m zoo.vae first")
    v = AutoencoderKL(ck["config"])
    v.load_state_dict(ck["model"])
    v.eval()
    return v, ck["stats"]


@torch.no_grad()
def encode_images(vae, stats, imgs: np.ndarray, bs=256) -> np.ndarray:
    from .vae import to_tensor
    out = []
    for i in range(0, len(imgs), bs):
        m, _ = vae.encode(to_tensor(imgs[i:i + bs]))
        out.append(((m - stats["shift_factor"]) * stats["scaling_factor"]).half().numpy())
    return np.concatenate(out)


def make_chunk(c: int, n: int, held: HeldOut, vae, stats) -> dict:
    rng = np.random.default_rng([DATA_SEED, c])
    clip, t5 = clip_tokenizer(), t5_tokenizer()
    src_imgs, tgt_imgs, meta = [], [], []
    while len(meta) < n:
        src = W.sample_scene(rng)
        e = W.sample_edit(src, rng, int(rng.integers(1, 4)))
        if e is None:
            continue
        sc, tc = W.caption(src), W.caption(e["target"])
        if not held.ok(sc, e["instruction"], tc):
            continue
        src_imgs.append(W.render(src))
        tgt_imgs.append(W.render(e["target"]))
        meta.append({"src": sc, "tgt": tc, "instr": e["instruction"], "parts": [p["text"] for p in e["parts"]],
                     "kinds": [p["kind"] for p in e["parts"]], "n_objects": len(src["objects"])})
    texts = lambda key: [m[key] for m in meta]
    arr = lambda enc, key: np.array([enc.encode(t) for t in texts(key)], np.int16)
    return {
        "src": encode_images(vae, stats, np.stack(src_imgs)),
        "tgt": encode_images(vae, stats, np.stack(tgt_imgs)),
        "clip_src": arr(clip, "src"), "clip_tgt": arr(clip, "tgt"), "clip_instr": arr(clip, "instr"),
        "t5_src": arr(t5, "src"), "t5_tgt": arr(t5, "tgt"), "t5_instr": arr(t5, "instr"),
        "meta": np.array(json.dumps(meta)),
    }


def chunk_path(P, c):
    return P.data / "latents" / f"chunk_{c:03d}.npz"


def build(P, n_chunks, chunk, log, part=(0, 1)):
    (P.data / "latents").mkdir(parents=True, exist_ok=True)
    held = HeldOut(P)
    vae, stats = load_vae(P)
    for c in range(part[0], n_chunks, part[1]):
        p = chunk_path(P, c)
        if p.exists():
            continue
        t = time.time()
        d = make_chunk(c, chunk, held, vae, stats)
        tmp = p.with_name(p.stem + ".tmp.npz")
        np.savez(tmp, **d)
        tmp.rename(p)
        log(f"chunk {c + 1}/{n_chunks}: {chunk} pairs in {time.time() - t:.0f}s")


def load_all(P, n_chunks=None):
    """Concatenate every available chunk (in order) -> dict of arrays (+ list of meta)."""
    files = sorted((P.data / "latents").glob("chunk_*.npz"))
    files = [f for f in files if ".tmp" not in f.name]
    n_chunks = n_chunks or (N_CHUNKS if not P.smoke else 1)
    if len(files) < n_chunks:
        raise SystemExit(f"only {len(files)} of {n_chunks} data chunks: run python3 -m zoo.data first")
    files = files[:n_chunks]
    if not files:
        raise SystemExit("no latent data: run python3 -m zoo.data first")
    parts = [dict(np.load(f)) for f in files]
    out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0] if k != "meta"}
    out["meta"] = [m for p in parts for m in json.loads(str(p["meta"]))]
    return out


def main(argv=None):
    ap = base_parser(__doc__)
    ap.add_argument("--chunks", type=int, default=N_CHUNKS)
    ap.add_argument("--part", default="0/1", help="i/n: build chunks i, i+n, ... (parallel processes)")
    args = ap.parse_args(argv)
    set_threads()
    P = paths_from_args(args)
    log = Logger(P.logs / "data.log")
    if args.smoke:
        build(P, 1, 64, log)
    else:
        i, n = (int(x) for x in args.part.split("/"))
        build(P, args.chunks, CHUNK, log, (i, n))


if __name__ == "__main__":
    main()
