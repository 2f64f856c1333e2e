"""models/tiny/REPORT.md from report.json (numbers) + the fixed description of the recipe."""
from __future__ import annotations

import json


def _f(x, d=4):
    return "-" if x is None else (f"{x:.{d}f}" if isinstance(x, float) else str(x))


def write_report_md(P, r: dict) -> None:
    ja, jv, n = r["judge_accuracy"], r.get("judge_accuracy_vae_reconstructed") or {}, r["n"]
    L = ["# Tiny model zoo: quality report", "",
         "Measured by `cd models/zoo && /usr/bin/python3 -m zoo.evaluate` (numbers: `report.json`).", "",
         "| metric | value | bar | n |", "| --- | --- | --- | --- |"]
    tr = r.get("training") or {}
    if tr.get("status") == "interim":
        br = tr.get("branch")
        branch = (f", the end of a {br['end'] - br['start']:,}-step LR decay branched from the main run at step "
                  f"{br['start']:,}" if br else "")
        L[4:4] = [f"**Interim model:** these figures are for an export of the Kontext training at step "
                  f"{tr.get('steps')}{branch} ({(tr.get('train_seconds') or 0) / 3600:.1f} h of CPU training so far), not the "
                  "finished run; the bars below are not met yet. Training resumes from its checkpoint with "
                  "`python3 -m zoo.build all` (or `zoo.kontext`), then `zoo.export` and `zoo.evaluate`.", ""]
    for k in ("shape", "color", "size", "position", "background"):
        L.append(f"| judge held-out accuracy: {k} | {_f(ja.get(k))} (VAE-reconstructed: {_f(jv.get(k))}) "
                 f"| >= 0.98 | {n.get('judge_images')} images, {n.get('judge_objects')} shapes |")
    L += [f"| text-to-image: all requested attributes correct | {_f(r['t2i_all_correct'])} | >= 0.90 | {n['t2i']} prompts |",
          f"| edits: every requested change applied | {_f(r['edit_applied'])} | >= 0.85 | {n['edit']} edits |",
          f"| edits: every unrequested attribute preserved | {_f(r['edit_preserved'])} | >= 0.90 | {n['edit']} edits |",
          f"| seconds per 64x64 image, 20 steps, onnxruntime-node CPU | {_f(r.get('seconds_per_image_20_steps'), 3)} "
          f"| <= 1.0 | t2i {_f(r.get('seconds_t2i_20_steps'), 3)}, edit {_f(r.get('seconds_edit_20_steps'), 3)} |",
          "", f"Sampling: {r['steps']} Euler steps, "
          + (f"true classifier-free guidance {r['guidance']} with the empty prompt (two transformer passes a step)."
             if r.get("true_cfg") and r["guidance"] > 1 else f"guidance input {r['guidance']} (one pass a step)."), ""]
    L += ["## Breakdown", "",
          "Text-to-image by number of shapes: " + ", ".join(f"{k}: {_f(v, 3)}" for k, v in r["t2i_by_objects"].items()),
          "", "| parts | applied | preserved | n |", "| --- | --- | --- | --- |"]
    for k, v in r["edit_by_parts"].items():
        L.append(f"| {k} | {_f(v['applied'], 3)} | {_f(v['preserved'], 3)} | {v['n']} |")
    L += ["", "Failed checks over all edits (one edit can fail several): "
          + (", ".join(f"{k} {v}" for k, v in r["edit_failures"].items()) or "none"), ""]
    par = r.get("onnx_parity")
    if par:
        L += [f"ONNX parity: the exported graphs run in onnxruntime-node give the same uint8 images as the "
              f"PyTorch modules the evaluation runs, up to {par['max_abs_uint8_diff']} (max abs difference over "
              f"{par['items']} items).", ""]
    extra = r.get("details") or {}
    if extra:
        L += ["## Models, sizes and training time", "", "| part | parameters | file MB | training |",
              "| --- | --- | --- | --- |"]
        for row in extra.get("models", []):
            L.append(f"| {row['name']} | {row['params']} | {row['mb']} | {row['training']} |")
        L.append("")
        L.append(f"Committed files: kontext {r['sizes_bytes'].get('kontext', 0) / 1e6:.1f} MB, judge "
                 f"{r['sizes_bytes'].get('judge', 0) / 1e6:.1f} MB, eval {r['sizes_bytes'].get('eval', 0) / 1e6:.1f} MB, "
                 f"total {r['sizes_bytes']['total_bytes'] / 1e6:.1f} MB.")
        L.append("")
    L += [METHOD]
    (P.tiny / "REPORT.md").write_text("\n".join(L) + "\n")


METHOD = """## What is measured, exactly

- Held-out sets (`models/tiny/eval/`): 600 text-to-image prompts (300 with one shape, 300 with
  two) and 600 edits (200 each of 1, 2 and 3 parts, half on one-shape scenes), drawn from a
  fixed seed. No training sample of any model uses them: the latent data rejects every pair
  whose source or target caption is an eval prompt or whose (source caption, instruction) is
  an eval edit; the judge never trains on a scene equal (up to jitter) to any eval scene.
- Procedure per item (the engine re-implements it; `docs/zoo-contract.md`): Philox noise from
  the item's seed, steps and guidance from the manifest defaults (guidance_mode true_cfg: each
  step also runs the empty prompt, v_neg + g (v - v_neg)), Euler flow matching on the shifted
  schedule, VAE decode, uint8 = round(clamp((x + 1) / 2, 0, 1) * 255), judge on
  uint8 / 255. Edit sources are read from the PNG files and encoded with the VAE encoder.
- Judge decoding: a cell holds a shape when its most likely shape class is not "empty"; the
  shape's color and size are the argmaxes of that cell; background is the argmax.
- `t2i_all_correct`: the judged scene equals the prompt's scene: same background, the same
  set of occupied cells, and in each the requested shape, color and size (an extra shape fails).
- `edit_applied`: every requested change holds: each target object is looked up at its target
  cell; a requested color/shape/size must be judged there, a requested move means the target
  cell is occupied; a requested background must be judged.
- `edit_preserved`: every unrequested attribute holds: at each object's target cell the
  unrequested shape, color and size equal the source's (position: occupied), the background
  is unchanged unless requested, and no shape is judged in a cell the target leaves empty.
- Judge accuracy (per attribute, on ground-truth renders of all eval scenes: t2i scenes, edit
  sources and targets): shape/color/size over shapes at their cell; position = the set of
  occupied cells equals the truth (per image); background per image. The same on the images'
  VAE reconstructions is shown in brackets.
"""
