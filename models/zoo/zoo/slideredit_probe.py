"""A diagnostic of SliderEdit's leakage: does the committed STLoRA leak where its training target
does, or does it add leaks of its own?

    /usr/bin/python3 -m zoo.slideredit_probe [--items 32] [--modes stlora,teacher,switch] [--stlora CKPT]
                                             [--out FILE]

The first N held-out multi-part edits (models/tiny/eval/edit.json, as the engine's `eval
slideredit` takes them), each part swept over the engine's nine strengths (alpha = 1 - strength
on that part, the other parts at strength 1), with the manifest's steps, guidance (true CFG, the
negative pass plain) and the items' seeds, rendered by mode:
- stlora: the committed STLoRA (slideredit_final.pt) with alpha on the part's T5 tokens, on the
  prompt pass only, as the engine runs it;
- teacher: no adapter; the prompt pass's velocity is the frozen model's
  v_full + alpha (v_without - v_full), where v_without is its velocity for the instruction with
  the part removed (the remaining parts joined by " and "). That is exactly what the linear
  objective trains the STLoRA to produce (zoo.slideredit), applied at every sampling step;
- switch: no adapter; for 0 <= alpha <= 1 the prompt pass follows the instruction without the part
  for the first round(alpha * steps) sampling steps and the full instruction after (prompt
  switching, no blend of the two velocities in any step); alpha < 0 extrapolates as the teacher.
Leakage is judged as engine/eval/slideredit.ts judges it (judged_attribute below ports its
judgedAttribute): a sweep leaks when some other part's judged attribute, in some frame, differs
from the frame with every strength at 1 (the plain edit). The STLoRA mode reproduces the engine's
figure (9 of 80 sweeps on the step-61,000 model, the same sweeps), which checks the port.

Writes the per-mode leakage and where each leaking sweep leaks (item, part, strengths) to --out
(default .cache/logs/slideredit_probe.json). About 5 minutes per mode for 32 items on one core
(teacher and switch run three transformer passes per step, the STLoRA two). --stlora sweeps
another STLoRA checkpoint in the stlora mode.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from . import world as W
from .common import Logger, base_parser, load_ckpt, paths_from_args, read_json, set_threads, write_json
from .evaluate import defaults, load_judge
from .lora import Adapter
from .slideredit import (ALPHA, RANK, SEED, Frozen, load_adapter_state, part_spans, st_targets, switch_weights,
                         token_scales)

STRENGTHS = [0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2]   # engine/eval/slideredit.ts
MODES = ("stlora", "teacher", "switch")
BATCH = 96


def judged_attribute(probs, item: dict, part: dict) -> str:
    """A part's attribute as the engine's eval judges it: the argmax in the object's cell, that
    cell being whichever of the object's source and target cells is more occupied (a move: whether
    that is the target cell)."""
    bg, shape, color, size = probs
    if part["kind"] == "background":
        return W.BG_NAMES[int(np.argmax(bg))]
    o = part["object"]
    src, dst = item["source_scene"]["objects"][o]["cell"], item["target_scene"]["objects"][o]["cell"]
    occupancy = lambda c: 1.0 - shape[c][0]        # JUDGE_SHAPES[0] is "empty"
    cell = dst if occupancy(dst) >= occupancy(src) else src
    if part["kind"] == "position":
        return "moved" if cell == dst else "stayed"
    if part["kind"] == "color":
        return W.COLOR_NAMES[int(np.argmax(color[cell]))]
    if part["kind"] == "shape":
        return W.JUDGE_SHAPES[int(np.argmax(shape[cell]))]
    if part["kind"] == "size":
        return W.SIZE_NAMES[int(np.argmax(size[cell]))]
    raise ValueError(f"{item['id']}: unknown part kind {part['kind']!r}")


def without_part(item: dict, i: int) -> str:
    """The instruction with part i removed, as zoo.slideredit's PPS target phrases it."""
    return " and ".join(p["text"] for j, p in enumerate(item["parts"]) if j != i)


@torch.no_grad()
def render(sampler, stlora: Adapter, items, spans, src, chunk, mode: str, steps: int, guidance: float):
    """uint8 images for the chunk's (item, part, strength) frames in one mode."""
    T = sampler.t5_tok.max_length
    alphas = torch.tensor([1.0 - s for _, _, s in chunk])
    texts = [items[n]["instruction"] for n, _, _ in chunk]
    seeds = [items[n]["seed"] for n, _, _ in chunk]
    context = src[[n for n, _, _ in chunk]]
    if mode == "stlora":
        scales = torch.zeros(len(chunk), T, 1)
        for b, (n, i, s) in enumerate(chunk):
            scales[b, :, 0] = token_scales(T, [spans[n][i]], [1.0 - s])
        on_pass = lambda which: stlora.set_scale(scales if which == "prompt" else 0.0)
        z = sampler.sample(texts, seeds, steps, guidance, context=context, on_pass=on_pass)
        stlora.set_scale(0.0)
    elif mode in ("teacher", "switch"):
        # v_full + w (v_without - v_full) at every step: w = alpha (teacher), or the switch
        # objective's weight at the step's unshifted time u = 1 - k / steps (zoo.slideredit)
        full = sampler.encode_text(texts)
        without = sampler.encode_text([without_part(items[n], i) for n, i, _ in chunk])
        step = iter(range(steps))

        def combine(call):
            u = torch.full_like(alphas, 1.0 - next(step) / steps)
            w = alphas if mode == "teacher" else switch_weights(alphas, u)
            v_full = call(*full)
            return v_full + w[:, None, None] * (call(*without) - v_full)
        z = sampler.sample(texts, seeds, steps, guidance, context=context, text_emb=full, prompt_velocity=combine)
    else:
        raise ValueError(f"unknown mode {mode!r}")
    return sampler.decode(z)


def sweep_leakage(items, attributes) -> dict:
    """attributes[(n, i, s)]: every part's judged attribute in that frame -> leakage and where."""
    leaks, sweeps = [], 0
    for n, it in enumerate(items):
        reference = attributes[(n, 0, 1)]       # every strength at 1: the plain edit
        for i, part in enumerate(it["parts"]):
            sweeps += 1
            bad = [s for s in STRENGTHS if any(k != i and a != reference[k] for k, a in enumerate(attributes[(n, i, s)]))]
            if bad:
                leaks.append({"item": it["id"], "part": i, "kind": part["kind"], "strengths": bad})
    return {"leakage": len(leaks) / sweeps, "leaking_sweeps": len(leaks), "sweeps": sweeps, "where": leaks}


def main(argv=None):
    ap = base_parser(__doc__)
    ap.add_argument("--items", type=int, default=32, help="held-out multi-part edits (default 32, as recorded)")
    ap.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, of {', '.join(MODES)}")
    ap.add_argument("--out", default=None, help="JSON output (default .cache/logs/slideredit_probe.json)")
    ap.add_argument("--stlora", default=None,
                    help="a checkpoint holding {'adapters': {'stlora': ...}} (default .cache/ckpt/slideredit_final.pt)")
    args = ap.parse_args(argv)
    modes = args.modes.split(",")
    if bad := [m for m in modes if m not in MODES]:
        raise SystemExit(f"--modes: unknown {', '.join(bad)} (modes: {', '.join(MODES)})")
    set_threads()
    P = paths_from_args(args)
    log = Logger(P.logs / "slideredit_probe.log")
    from .kontext import load_model, make_sampler
    from .png import read_png
    model = load_model(P)
    for p in model.parameters():
        p.requires_grad_(False)
    tr = model.transformer
    fz = Frozen(model, 1.0)
    stlora_file = Path(args.stlora) if args.stlora else P.ckpt / "slideredit_final.pt"
    fin = load_ckpt(stlora_file)
    if fin is None:
        raise SystemExit(f"no {stlora_file}: run python3 -m zoo.slideredit first")
    stlora = Adapter("stlora", tr, st_targets(len(tr.transformer_blocks)), "lora", RANK, ALPHA, SEED + 2)
    load_adapter_state(stlora, fin["adapters"]["stlora"])
    stlora.set_scale(0.0)
    judge, _ = load_judge(P)
    sampler = make_sampler(model, P)
    steps, guidance = defaults(P)
    items = [it for it in read_json(P.eval / "edit.json")["items"] if it["n_parts"] >= 2][:args.items]
    spans = [part_spans(fz.t5_tok, it["instruction"], [p["text"] for p in it["parts"]]) for it in items]
    src = torch.cat([sampler.encode_images(read_png(P.eval / it["source"])[None]) for it in items])
    frames = [(n, i, s) for n, it in enumerate(items) for i in range(it["n_parts"]) for s in STRENGTHS]
    out = {"items": len(items), "strengths": STRENGTHS, "steps": steps, "guidance": guidance, "stlora": str(stlora_file)}
    for mode in modes:
        t0 = time.time()
        images = np.concatenate([render(sampler, stlora, items, spans, src, frames[k:k + BATCH], mode, steps, guidance)
                                 for k in range(0, len(frames), BATCH)])
        with torch.no_grad():
            probs = [o.numpy() for o in judge(torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0)]
        attributes = {f: [judged_attribute(tuple(p[r] for p in probs), items[f[0]], part) for part in items[f[0]]["parts"]]
                      for r, f in enumerate(frames)}
        out[mode] = {**sweep_leakage(items, attributes), "seconds": round(time.time() - t0)}
        log(f"{mode}: leakage {out[mode]['leakage']:.4f} ({out[mode]['leaking_sweeps']} of {out[mode]['sweeps']} sweeps, "
            f"{out[mode]['seconds']} s)")
    path = args.out or str(P.logs / "slideredit_probe.json")
    write_json(Path(path), out)
    log(f"wrote {path}")


if __name__ == "__main__":
    main()
