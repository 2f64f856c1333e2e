"""Measure the tiny Kontext model and the judge; write models/tiny/report.json and REPORT.md.

    /usr/bin/python3 -m zoo.evaluate [--smoke] [--limit N] [--guidance G]

Follows the procedure the TypeScript engine re-implements (zoo.pipeline): per-item Philox noise
from the item's seed, steps/guidance from the manifest defaults (true CFG with the empty prompt, as
the manifest's guidance_mode says), Euler flow matching on the
shifted schedule, VAE decode, uint8 RGB, judge. Then runs the exported ONNX files in
onnxruntime-node (node/ortcheck.mjs) on a few items to check parity and to time one image.
"""
from __future__ import annotations

import json
import time

import numpy as np
import torch

from . import world as W
from .common import Logger, base_parser, load_ckpt, paths_from_args, read_json, run_node_json, set_threads, write_json
from .png import read_png


def load_judge(P):
    from .judge import Judge
    ck = load_ckpt(P.ckpt / "judge_final.pt")
    if ck is None:
        raise SystemExit("no judge: run python3 -m zoo.judge first")
    j = Judge()
    j.load_state_dict(ck["model"])
    j.eval()
    return j, ck.get("accuracy", {})


@torch.no_grad()
def judge_images(judge, imgs_u8: np.ndarray) -> list[dict]:
    x = torch.from_numpy(imgs_u8).permute(0, 3, 1, 2).float() / 255.0
    bg, s, c, z = (o.numpy() for o in judge(x))
    return [W.judged_scene(bg[i], s[i], c[i], z[i]) for i in range(len(imgs_u8))]


def t2i_correct(judged: dict, gt: dict) -> bool:
    key = lambda sc: sorted((o["cell"], o["shape"], o["color"], o["size"]) for o in sc["objects"])
    return judged["background"] == gt["background"] and key(judged) == key(gt)


def edit_score(judged: dict, item: dict):
    """-> (applied, preserved, failures list)"""
    tgt = item["target_scene"]
    J = {o["cell"]: o for o in judged["objects"]}
    req = {(r["object"], r["attribute"]) for r in item["requested"]}
    applied = preserved = True
    fails = []
    for i, o in enumerate(tgt["objects"]):
        j = J.get(o["cell"])
        for attr in ("shape", "color", "size", "position"):
            ok = j is not None and (attr == "position" or j[attr] == o[attr])
            r = (i, attr) in req
            if not ok:
                fails.append(("requested " if r else "kept ") + attr)
            if r:
                applied &= ok
            else:
                preserved &= ok
    ok = judged["background"] == tgt["background"]
    if not ok:
        fails.append(("requested " if (None, "background") in req else "kept ") + "background")
    if (None, "background") in req:
        applied &= ok
    else:
        preserved &= ok
    if set(J) - {o["cell"] for o in tgt["objects"]}:
        preserved = False
        fails.append("extra shape")
    return applied, preserved, fails


def defaults(P):
    m = P.kontext / "atelier.json"
    d = read_json(m)["defaults"] if m.exists() else {"steps": 20, "guidance": 1.0}
    return int(d["steps"]), float(d["guidance"])


def run_eval(P, model, limit=None, log=None, steps=None, guidance=None, bs=100, keep=False, img_cfg=None,
             edit_start=None):
    from .kontext import make_sampler
    judge, _ = load_judge(P)
    sampler = make_sampler(model, P)
    d_steps, d_g = defaults(P)
    steps = steps or d_steps
    guidance = d_g if guidance is None else guidance
    t2i = read_json(P.eval / "t2i.json")["items"][:limit]
    edit = read_json(P.eval / "edit.json")["items"][:limit]
    res = {"steps": steps, "guidance": guidance, "true_cfg": sampler.true_cfg,
           **({"edit_start": edit_start} if edit_start is not None else {})}
    ok, by_n, images = [], {}, {}
    for i in range(0, len(t2i), bs):
        b = t2i[i:i + bs]
        z = sampler.sample([it["prompt"] for it in b], [it["seed"] for it in b], steps, guidance)
        imgs = sampler.decode(z)
        for it, js, im in zip(b, judge_images(judge, imgs), imgs):
            c = t2i_correct(js, it["scene"])
            ok.append(c)
            by_n.setdefault(it["n_objects"], []).append(c)
            if keep:
                images[it["id"]] = im
    res["t2i_all_correct"] = float(np.mean(ok)) if ok else 0.0
    res["t2i_n"] = len(ok)
    res["t2i_by_objects"] = {str(k): float(np.mean(v)) for k, v in sorted(by_n.items())}
    app, pres, by_p, fails = [], [], {}, {}
    for i in range(0, len(edit), bs):
        b = edit[i:i + bs]
        src = np.stack([read_png(P.eval / it["source"]) for it in b])
        ctx = sampler.encode_images(src)
        z = sampler.sample([it["instruction"] for it in b], [it["seed"] for it in b], steps, guidance, context=ctx,
                           img_cfg=img_cfg, edit_start=edit_start)
        imgs = sampler.decode(z)
        for it, js, im in zip(b, judge_images(judge, imgs), imgs):
            a, p, f = edit_score(js, it)
            app.append(a)
            pres.append(p)
            by_p.setdefault(it["n_parts"], []).append((a, p))
            for x in f:
                fails[x] = fails.get(x, 0) + 1
            if keep:
                images[it["id"]] = im
    res["edit_applied"] = float(np.mean(app)) if app else 0.0
    res["edit_preserved"] = float(np.mean(pres)) if pres else 0.0
    res["edit_n"] = len(app)
    res["edit_by_parts"] = {str(k): {"applied": float(np.mean([a for a, _ in v])),
                                     "preserved": float(np.mean([p for _, p in v])), "n": len(v)}
                            for k, v in sorted(by_p.items())}
    res["edit_failures"] = dict(sorted(fails.items(), key=lambda kv: -kv[1]))
    if keep:
        res["_images"] = images
    return res


def ort_check(P, model, log, n=4, repeats=5):
    """Run n t2i + n edit items through the ONNX files in onnxruntime-node; compare with torch."""
    from .kontext import make_sampler
    from .philox import philox_noise
    from .pipeline import sigma_schedule
    sampler = make_sampler(model, P)
    steps, g = defaults(P)
    t2i = read_json(P.eval / "t2i.json")["items"][:n]
    edit = read_json(P.eval / "edit.json")["items"][:n]
    items, py = [], []
    for it in t2i + edit:
        text = it.get("prompt") or it["instruction"]
        src = None
        ctx = None
        if "source" in it:
            u8 = read_png(P.eval / it["source"])
            src = (torch.from_numpy(u8).permute(2, 0, 1).float() / 127.5 - 1.0).reshape(-1).tolist()
            ctx = sampler.encode_images(u8[None])
        items.append({"clip_ids": sampler.clip_tok.encode(text), "t5_ids": sampler.t5_tok.encode(text),
                      "noise": philox_noise(it["seed"], (1, 16, 8, 8)).reshape(-1).tolist(), "source": src})
        py.append(sampler.decode(sampler.sample([text], [it["seed"]], steps, g, context=ctx))[0])
    sig = [float(np.float32(s)) for s in sigma_schedule(steps, 16)]
    cfg = sampler.cfg_scale(g)
    req = {"model_dir": str(P.kontext), "steps": steps, "guidance": 1.0 if cfg else g, "cfg": cfg, "sigmas": sig,
           "repeats": repeats, "shift": sampler.shift, "scale": sampler.scale, "items": items,
           "negative": {"clip_ids": sampler.clip_tok.encode(""), "t5_ids": sampler.t5_tok.encode("")}}
    res = run_node_json("ortcheck.mjs", req, 900, log, "onnxruntime-node check")
    if res is None:
        return None
    diffs = [int(np.abs(np.array(o["image"], np.int32).reshape(64, 64, 3) - p.astype(np.int32)).max())
             for o, p in zip(res["items"], py)]
    out = {"max_abs_uint8_diff": max(diffs), "mean_max_diff": float(np.mean(diffs)), "items": len(diffs),
           "seconds_t2i": res["seconds_t2i"], "seconds_edit": res["seconds_edit"]}
    log("onnxruntime-node check", out)
    return out


def file_sizes(P) -> dict:
    out = {}
    for sub in ("kontext", "judge", "eval"):
        d = P.tiny / sub
        if d.exists():
            out[sub] = sum(f.stat().st_size for f in d.rglob("*") if f.is_file())
    out["total_bytes"] = sum(out.values())
    return out


def details(P, model, judge) -> dict:
    """Parameter counts, file sizes and training time of each committed model."""
    def mb(*rel):
        return round(sum((P.tiny / r).stat().st_size for r in rel if (P.tiny / r).exists()) / 1e6, 2)

    def trained(name):
        ck = load_ckpt(P.ckpt / f"{name}_final.pt") or {}
        s = ck.get("train_seconds")
        steps = ck.get("steps")
        extra = f" + {ck['distill_steps']} distillation" if ck.get("distill_steps") else ""
        return (f"{steps}{extra} steps, {s / 3600:.1f} h" if s else f"{steps}{extra} steps") if steps else "-"

    from .judge import load_vae_for_aug
    vae, _ = load_vae_for_aug(P)
    n = lambda m: f"{sum(p.numel() for p in m.parameters()) / 1e6:.2f}M"
    rows = [
        {"name": "VAE encoder / decoder", "params": f"{n(vae.encoder)} / {n(vae.decoder)}" if vae else "-",
         "mb": mb("kontext/vae_encoder/model.onnx", "kontext/vae_decoder/model.onnx"), "training": trained("vae")},
        {"name": "text encoder (CLIP-like)", "params": n(model.clip), "mb": mb("kontext/text_encoder/model.onnx"),
         "training": "jointly with the transformer"},
        {"name": "text encoder 2 (T5-like)", "params": n(model.t5), "mb": mb("kontext/text_encoder_2/model.onnx"),
         "training": "jointly with the transformer"},
        {"name": "transformer (MMDiT)", "params": n(model.transformer), "mb": mb("kontext/transformer/model.onnx"),
         "training": trained("kontext")},
        {"name": "judge", "params": n(judge), "mb": mb("judge/model.onnx"), "training": trained("judge")},
    ]
    return {"models": rows}


def training_status(P) -> dict:
    """Which checkpoint the evaluated (and exported) weights come from: the finished run, or an
    interim export of a run still in progress (resume it with the same command)."""
    exp = load_ckpt(P.ckpt / "kontext_export.pt")
    if exp is not None and "step" in exp:
        return {"status": "interim", "steps": exp.get("step"), "train_seconds": exp.get("train_seconds"),
                **({"branch": exp["branch"]} if "branch" in exp else {})}
    fin = exp if exp is not None else load_ckpt(P.ckpt / "kontext_final.pt")
    if fin is not None:
        return {"status": "final", "steps": fin.get("steps"), "distill_steps": fin.get("distill_steps", 0),
                "train_seconds": fin.get("train_seconds")}
    ck = load_ckpt(P.ckpt / "kontext.pt")
    if ck is None:
        return {"status": "none"}
    return {"status": "interim", "steps": ck.get("step"), "train_seconds": ck.get("train_seconds")}


def main(argv=None):
    ap = base_parser(__doc__)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--guidance", type=float, default=None)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--img-cfg", type=float, default=None, help="experiment: image guidance scale (with --guidance > 1)")
    ap.add_argument("--edit-start", type=float, default=None,
                    help="experiment: start edits SDEdit-style at this sigma from the noised source latent")
    ap.add_argument("--no-write", action="store_true", help="print only (experiments)")
    args = ap.parse_args(argv)
    set_threads()
    P = paths_from_args(args)
    if not args.no_write:
        P.refuse_in_experiment("zoo.evaluate (without --no-write)")
    log = Logger(P.logs / "evaluate.log")
    from .kontext import load_model
    model = load_model(P)
    from .judge import load_vae_for_aug, measure
    judge, _ = load_judge(P)
    vae, stats = load_vae_for_aug(P)
    jacc = measure(judge, P, vae, stats, log, limit=None if not args.smoke else 8)
    limit = args.limit if not args.smoke else 6
    t = time.time()
    r = run_eval(P, model, limit=limit, log=log, steps=args.steps, guidance=args.guidance, img_cfg=args.img_cfg,
                 edit_start=args.edit_start)
    log(f"eval done in {time.time() - t:.0f}s:", json.dumps({k: v for k, v in r.items()}))
    if args.no_write:
        return
    ort = ort_check(P, model, log, n=2 if args.smoke else 4, repeats=1 if args.smoke else 5)
    rj = jacc.get("rendered", {})
    report = {
        "judge_accuracy": {k: rj.get(k) for k in ("shape", "color", "size", "position", "background")},
        "judge_accuracy_vae_reconstructed": {k: jacc.get("vae_reconstructed", {}).get(k)
                                             for k in ("shape", "color", "size", "position", "background")},
        "t2i_all_correct": r["t2i_all_correct"],
        "edit_applied": r["edit_applied"],
        "edit_preserved": r["edit_preserved"],
        "n": {"judge_images": rj.get("n_images"), "judge_objects": rj.get("n_objects"),
              "t2i": r["t2i_n"], "edit": r["edit_n"]},
        "steps": r["steps"], "guidance": r["guidance"], "true_cfg": r["true_cfg"],
        "t2i_by_objects": r["t2i_by_objects"], "edit_by_parts": r["edit_by_parts"],
        "edit_failures": r["edit_failures"],
        "seconds_per_image_20_steps": (max(x for x in (ort["seconds_t2i"], ort["seconds_edit"]) if x is not None)
                                       if ort else None),
        "seconds_t2i_20_steps": ort["seconds_t2i"] if ort else None,
        "seconds_edit_20_steps": ort["seconds_edit"] if ort else None,
        "onnx_parity": ({k: ort[k] for k in ("max_abs_uint8_diff", "mean_max_diff", "items")} if ort else None),
        "sizes_bytes": file_sizes(P),
        "training": training_status(P),
        "details": details(P, model, judge),
    }
    # the engine's suites file their own figures here (npm run eval|bench -- SUITE --record:
    # eval_<suite> / bench_<suite>, each with the denoiser's SHA-256 it measured); keep them, stale
    # or not, for them to replace
    old = read_json(P.tiny / "report.json") if (P.tiny / "report.json").exists() else {}
    report.update({k: v for k, v in old.items() if k.startswith(("eval_", "bench_"))})
    write_json(P.tiny / "report.json", report)
    from .report_md import write_report_md
    write_report_md(P, report)
    log("wrote", P.tiny / "report.json")


if __name__ == "__main__":
    main()
