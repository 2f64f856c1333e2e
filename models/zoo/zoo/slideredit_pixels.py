"""Where SliderEdit's Spearman figure is capped: measured in the rendered pixels, without the judge.

    /usr/bin/python3 -m zoo.slideredit_pixels [--per-kind 30] [--kinds color,background,...]
                                              [--out FILE] [--frames DIR]

`eval slideredit` correlates a slider's strength with the judge's progress of its attribute. The
judge reads discrete values (a colour, a size class, a cell), so a sweep it judges is a step. This
asks whether the step is the judge's or the image's: it sweeps parts through the app itself (the
CLI's `edit --sweep`, the engine's SliderEdit session, the model's default steps and guidance, the
item's seed, the engine eval's nine strengths) and measures each frame's progress from pixels,
with the world's geometry (zoo.world) as the ruler:
- the reference scenes: `without` = the source scene with every other part applied (what strength
  0 should show), `target` = every part applied (strength 1);
- each frame gets one number for the part's attribute (`PartRuler.measurement`): a colour or background, the
  mean RGB of its region projected on the line from the `without` value to the target's; a size,
  the object's area; a move, the object's centroid along the move; a shape, the share of the
  pixels between the two outlines that look as in the target;
- progress places that number between the same measurement of the world's own renders of the two
  scenes (0 = `without`, 1 = target), so the ruler reads ground truth exactly and goes past 1 where
  a frame goes past the target (a larger object, a longer move, a colour further along its line).
Per kind: the mean Spearman of strength against this progress (ties kept, as the engine computes
it), the median share of the sweep's whole change that happens between two neighbouring strengths
(`largest_step_share`: 1/8 is an even sweep, 1 a single jump), the median progress at strengths 0
and 1, and the median overshoot (the most progress above strength 1 minus the progress at 1).

Needs node and a built checkout (`npm run build` at the repository root) with the committed tiny
model. Writes the per-sweep rows and the summary to --out (default .cache/logs/slideredit_pixels.json);
--frames keeps the PNG frames. About 2.6 s per sweep on two cores. --smoke (zoo.build's smoke run)
checks the ruler on the world's own renders (a scene half way between `without` and the target,
for every kind but shape, reads 0.5: check_ruler) and sweeps one colour part through the CLI,
writing nothing.
"""
from __future__ import annotations

import copy
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from . import world as W
from .common import CACHE_DIR, REPO_DIR, TINY_DIR, Logger, read_json, write_json
from .png import read_png

STRENGTHS = [0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2]
KINDS = ("color", "background", "shape", "size", "position")


def coverage_maps(scene: dict) -> list[np.ndarray]:
    """Each object's coverage of every pixel (H, W) in [0, 1], as world.render draws it."""
    maps = []
    for o in scene["objects"]:
        full = np.zeros((W.IMAGE_SIZE, W.IMAGE_SIZE))
        rows, cols, cover = W.object_coverage(o)
        full[rows, cols] = cover
        maps.append(full)
    return maps


def object_likeness(frame: np.ndarray, colour, background) -> np.ndarray:
    """Per pixel, where it lies between the background's colour (0) and the object's (1), clipped:
    an anti-aliased edge pixel counts by its share, as world.render blends it."""
    c, b = np.asarray(colour, float), np.asarray(background, float)
    d = c - b
    return np.clip(((frame - b) @ d) / np.dot(d, d), 0.0, 1.0)


class PartRuler:
    """One part's progress in frames. The geometry of `without` (the scene without the part) and
    `target`, and the calibration on the world's own renders of the two, are worked out once."""

    def __init__(self, kind: str, obj: int | None, without: dict, target: dict):
        self.kind, self.obj, self.without, self.target = kind, obj, without, target
        self.cover_w, self.cover_t = coverage_maps(without), coverage_maps(target)
        self.zero = self.measurement(W.render(without).astype(float))
        self.one = self.measurement(W.render(target).astype(float))

    def measurement(self, frame: np.ndarray) -> float:
        """The part's attribute in `frame` (H, W, 3 float) as one number: color / background, the
        region's mean RGB projected on the line from the `without` value to the target's; size, the
        object's area (object_likeness summed over the pixels no other object covers in either
        scene); position, its centroid (weighted the same way) along the move; shape, the share of
        the pixels wholly inside one of the two outlines and wholly outside the other that look as
        in the target."""
        kind, obj, without, target = self.kind, self.obj, self.without, self.target
        cover_w, cover_t = self.cover_w, self.cover_t
        if kind in ("color", "background"):
            if kind == "color":
                region = cover_t[obj] == 1
                start, end = W.COLORS[without["objects"][obj]["color"]], W.COLORS[target["objects"][obj]["color"]]
            else:
                region = np.all([c == 0 for c in cover_w + cover_t], axis=0)
                start, end = W.BACKGROUNDS[without["background"]], W.BACKGROUNDS[target["background"]]
            a, b = np.asarray(start, float), np.asarray(end, float)
            return float(np.dot(frame[region].mean(0) - a, b - a))
        likeness = object_likeness(frame, W.COLORS[target["objects"][obj]["color"]], W.BACKGROUNDS[target["background"]])
        if kind == "shape":
            only_t = (cover_t[obj] == 1) & (cover_w[obj] == 0)
            only_w = (cover_w[obj] == 1) & (cover_t[obj] == 0)
            return float(np.concatenate([likeness[only_t] > 0.5, likeness[only_w] <= 0.5]).mean())
        others = [c for i, c in enumerate(cover_w) if i != obj] + [c for i, c in enumerate(cover_t) if i != obj]
        weight = np.where(np.any([c > 0 for c in others], axis=0), 0.0, likeness) if others else likeness
        if kind == "size":
            return float(weight.sum())
        ys, xs = np.mgrid[0:W.IMAGE_SIZE, 0:W.IMAGE_SIZE] + 0.5
        centroid = np.array([(weight * xs).sum(), (weight * ys).sum()]) / max(float(weight.sum()), 1e-9)
        move = np.subtract(W.cell_center(target["objects"][obj]["cell"]), W.cell_center(without["objects"][obj]["cell"]))
        return float(centroid @ move)

    def progress(self, frame: np.ndarray) -> float:
        """How far `frame` is from `without` (0) toward `target` (1): its measurement placed between
        those of the two scenes' renders, so the ruler reads them as exactly 0 and 1 and goes past 1
        where the frame goes past the target (a larger object, a longer move, a colour further along
        its line); nan when the two scenes measure the same."""
        if self.one == self.zero:
            return float("nan")
        return (self.measurement(frame) - self.zero) / (self.one - self.zero)


def ranks(values: np.ndarray) -> np.ndarray:
    return np.array([(values < v).sum() + ((values == v).sum() - 1) / 2 for v in values], float)


def spearman(x, y) -> float:
    """Spearman with ties averaged; 0 when y is constant (the engine's convention for a sweep without change)."""
    rx, ry = ranks(np.asarray(x, float)), ranks(np.asarray(y, float))
    return 0.0 if ry.std() == 0 else float(np.corrcoef(rx, ry)[0, 1])


def pick_sweeps(items: list[dict], kinds: tuple[str, ...], per_kind: int) -> list[tuple[dict, int]]:
    """Parts of the multi-part items, in the eval set's order, up to per_kind of each kind."""
    counts = {k: 0 for k in kinds}
    picked = []
    for item in items:
        if item["n_parts"] < 2:
            continue
        for i, part in enumerate(item["parts"]):
            if part["kind"] in counts and counts[part["kind"]] < per_kind:
                counts[part["kind"]] += 1
                picked.append((item, i))
    return picked


def render_sweep(item: dict, part_index: int, folder: Path) -> list[np.ndarray]:
    """The app's own sweep of one part (other parts at strength 1) as float frames; the CLI's data
    folder (history, keys) is a fresh one inside `folder`, so the user's is never touched."""
    out = folder / "row.png"
    cmd = ["node", str(REPO_DIR / "bin" / "atelier.js"), "edit",
           "--image", str(TINY_DIR / "eval" / item["source"]), "--instruction", item["instruction"],
           "--sweep", item["parts"][part_index]["text"], "--sweep-values", ",".join(f"{s:g}" for s in STRENGTHS),
           "--seed", str(item["seed"]), "--out", str(out), "--data-dir", str(folder / "data"), "--quiet"]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_DIR)
    if r.returncode != 0:
        raise SystemExit(f"zoo.slideredit_pixels: the CLI failed on {item['id']} ({item['parts'][part_index]['text']!r}): "
                         f"{(r.stderr or r.stdout).strip()[-1000:]} (is the checkout built? npm run build)")
    return [read_png(folder / f"row-{k}-{s:g}.png").astype(float) for k, s in enumerate(STRENGTHS)]


def measure(item: dict, part_index: int, frames: list[np.ndarray]) -> dict:
    part = item["parts"][part_index]
    ruler = PartRuler(part["kind"], part["object"], W.scene_without_part(item, part_index), item["target_scene"])
    progress = np.array([ruler.progress(f) for f in frames])
    row = {"item": item["id"], "part": part["text"], "kind": part["kind"]}
    if np.isnan(progress).any():     # nothing to measure: e.g. a small circle and square whose outlines
        return {**row, "progress": None, "unmeasurable": "the two scenes measure the same"}   # differ in no whole pixel
    steps = np.abs(np.diff(progress))
    return {**row, "progress": [round(float(p), 4) for p in progress],
            "spearman": spearman(STRENGTHS, progress),
            "largest_step_share": float(steps.max() / steps.sum()) if steps.sum() > 0 else None,
            "overshoot": float(progress[5:].max() - progress[4])}


def summarize(rows: list[dict]) -> dict:
    out = {}
    for kind in KINDS:
        rs = [r for r in rows if r["kind"] == kind and r["progress"] is not None]
        if not rs:
            continue
        shares = [r["largest_step_share"] for r in rs if r["largest_step_share"] is not None]
        out[kind] = {"sweeps": len(rs), "unmeasurable": sum(1 for r in rows if r["kind"] == kind and r["progress"] is None),
                     "spearman": round(float(np.mean([r["spearman"] for r in rs])), 3),
                     "largest_step_share_median": round(float(np.median(shares)), 3) if shares else None,
                     "progress_at_0_median": round(float(np.median([r["progress"][0] for r in rs])), 3),
                     "progress_at_1_median": round(float(np.median([r["progress"][4] for r in rs])), 3),
                     "overshoot_median": round(float(np.median([r["overshoot"] for r in rs])), 3)}
    return out


def halfway_scene(kind: str, obj: int | None, without: dict, target: dict) -> tuple[dict, float] | None:
    """The `without` scene moved half way to the target in the part's attribute, with the progress
    the ruler must read there (None for a shape, which has no half way). The half-way colour or size
    is added to the world's palette under a "halfway" name; the caller removes it."""
    scene = copy.deepcopy(without)
    if kind == "background":
        W.BACKGROUNDS["halfway"] = tuple((np.add(W.BACKGROUNDS[without["background"]], W.BACKGROUNDS[target["background"]]) / 2).tolist())
        scene["background"] = "halfway"
        return scene, 0.5
    if kind == "shape":
        return None
    o, t = scene["objects"][obj], target["objects"][obj]
    if kind == "color":
        W.COLORS["halfway"] = tuple((np.add(W.COLORS[o["color"]], W.COLORS[t["color"]]) / 2).tolist())
        o["color"] = "halfway"
        return scene, 0.5
    if kind == "size":      # the area half way between the two: the size whose square is the mean square
        W.SIZES["halfway"] = float(np.sqrt((W.SIZES[o["size"]] ** 2 + W.SIZES[t["size"]] ** 2) / 2))
        o["size"] = "halfway"
        return scene, 0.5
    shift = np.subtract(W.cell_center(t["cell"]), W.cell_center(o["cell"])) / 2
    o["jitter"] = [o["jitter"][0] + float(shift[0]), o["jitter"][1] + float(shift[1])]
    return scene, 0.5


def check_ruler(sweeps: list[tuple[dict, int]], tolerance: float = 0.05) -> int:
    """The ruler on the world's own renders: each part's scene half way between `without` and the
    target (halfway_scene) must read 0.5 within `tolerance` (anti-aliased edges and a shape's area
    not growing exactly with its extent make up the slack); returns the parts checked."""
    checked = 0
    for item, i in sweeps:
        part = item["parts"][i]
        without, target = W.scene_without_part(item, i), item["target_scene"]
        try:
            half = halfway_scene(part["kind"], part["object"], without, target)
            if half is None:
                continue
            read = PartRuler(part["kind"], part["object"], without, target).progress(W.render(half[0]).astype(float))
        finally:
            for palette in (W.COLORS, W.BACKGROUNDS, W.SIZES):
                palette.pop("halfway", None)
        if not abs(read - half[1]) <= tolerance:
            raise SystemExit(f"zoo.slideredit_pixels: the ruler reads {read:.3f} (not {half[1]}) on the half-way render of "
                             f"{item['id']} ({part['text']!r})")
        checked += 1
    return checked


def main(argv=None) -> None:
    import argparse
    ap = argparse.ArgumentParser(description="SliderEdit sweeps measured in pixels (see the module doc)")
    ap.add_argument("--smoke", action="store_true", help="check the ruler and sweep one part; write nothing")
    ap.add_argument("--smoke-root", default=None, help="(zoo.build's smoke chain; unused)")
    ap.add_argument("--per-kind", type=int, default=30, help="sweeps of each kind (default 30)")
    ap.add_argument("--kinds", default=",".join(KINDS), help=f"comma-separated, of {', '.join(KINDS)}")
    ap.add_argument("--out", default=str(CACHE_DIR / "logs" / "slideredit_pixels.json"))
    ap.add_argument("--frames", default=None, help="keep each sweep's PNG frames in this folder")
    args = ap.parse_args(argv)
    kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds or args.per_kind < 1:
        raise SystemExit(f"zoo.slideredit_pixels: --kinds takes {', '.join(KINDS)} (got {args.kinds!r}); --per-kind >= 1")
    log = Logger(None)
    items = read_json(TINY_DIR / "eval" / "edit.json")["items"]
    if args.smoke:
        log(f"ruler: {check_ruler(pick_sweeps(items, KINDS, 4))} parts' half-way renders read 0.5")
        if not (REPO_DIR / "dist" / "engine" / "cli" / "main.js").exists():
            log("1 sweep through the CLI skipped: the checkout is not built (npm run build; npm test builds first)")
            return
        item, i = pick_sweeps(items, ("color",), 1)[0]
        with tempfile.TemporaryDirectory() as d:
            row = measure(item, i, render_sweep(item, i, Path(d)))
        log(f"1 sweep through the CLI: {row['part']!r} progress {row['progress']}")
        return
    sweeps = pick_sweeps(items, kinds, args.per_kind)
    rows = []
    for n, (item, i) in enumerate(sweeps):
        with tempfile.TemporaryDirectory() as d:
            folder = Path(args.frames) / f"{item['id']}-{i}" if args.frames else Path(d)
            folder.mkdir(parents=True, exist_ok=True)
            rows.append(measure(item, i, render_sweep(item, i, folder)))
        if (n + 1) % 10 == 0 or n + 1 == len(sweeps):
            log(f"{n + 1}/{len(sweeps)} sweeps")
    summary = summarize(rows)
    write_json(Path(args.out), {"format": "atelier-slideredit-pixels/1", "strengths": STRENGTHS,
                                "summary": summary, "sweeps": rows})
    for kind, s in summary.items():
        log(kind, s)
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
