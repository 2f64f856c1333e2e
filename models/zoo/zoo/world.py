"""The shapes world: scenes, rendering, captions and multi-part edit instructions.

A scene is structured data (JSON-serialisable):
    {"background": "white",
     "objects": [{"shape": "circle", "color": "red", "size": "large", "cell": 0,
                  "jitter": [dx, dy]}, ...]}
`cell` indexes a 3x3 grid in row-major order (0 = top left, 4 = center, 8 = bottom right);
`jitter` is a small pixel offset of the shape centre inside its cell. One or two objects,
at most one per cell, and two objects always have different shape types, so "the circle"
names exactly one object.
"""
from __future__ import annotations

import copy
import numpy as np

IMAGE_SIZE = 64
SHAPES = ["circle", "square", "triangle", "cross"]
COLORS = {
    "red": (215, 35, 35),
    "orange": (250, 135, 20),
    "yellow": (245, 220, 50),
    "green": (40, 165, 65),
    "blue": (40, 90, 225),
    "purple": (140, 55, 190),
}
BACKGROUNDS = {
    "white": (240, 240, 240),
    "gray": (128, 128, 128),
    "black": (22, 22, 22),
    "beige": (225, 205, 168),
}
SIZES = {"small": 10.0, "large": 17.0}          # extent of the shape in pixels
CELL_NAMES = ["top left", "top", "top right", "left", "center", "right",
              "bottom left", "bottom", "bottom right"]
CELL_PHRASES = ["at the top left", "at the top", "at the top right",
                "on the left", "in the center", "on the right",
                "at the bottom left", "at the bottom", "at the bottom right"]
JITTER = 1.5                                     # max |offset| in pixels (multiples of 0.25)
MOVES = {"left": (0, -1), "right": (0, 1), "up": (-1, 0), "down": (1, 0)}
MOVE_PHRASES = {"left": "to the left", "right": "to the right", "up": "up", "down": "down"}
EDIT_KINDS = ["color", "shape", "size", "position"]   # per object; plus "background"
COLOR_NAMES = list(COLORS)
BG_NAMES = list(BACKGROUNDS)
SIZE_NAMES = list(SIZES)

# every word a caption or instruction can use (the closed vocabulary of the tokenizers)
VOCAB_WORDS = sorted(set(
    "a an the and on at in of to into it make turn move change background bigger smaller "
    "left right up down top bottom center".split()
    + SHAPES + COLOR_NAMES + BG_NAMES + SIZE_NAMES))


def cell_center(cell: int) -> tuple[float, float]:
    r, c = divmod(cell, 3)
    s = IMAGE_SIZE / 3.0
    return (c + 0.5) * s, (r + 0.5) * s       # (x, y)


# ---------------------------------------------------------------- rendering
def _coverage(shape: str, size: float, cx: float, cy: float, xs: np.ndarray, ys: np.ndarray):
    """Boolean inside-mask for sample points (xs, ys) (pixel coordinates, y down)."""
    h = size / 2.0
    dx, dy = xs - cx, ys - cy
    if shape == "circle":
        return dx * dx + dy * dy <= h * h
    if shape == "square":
        q = h * 0.88
        return (np.abs(dx) <= q) & (np.abs(dy) <= q)
    if shape == "triangle":        # apex up, base at the bottom
        t = (dy + h) / (2 * h)     # 0 at apex, 1 at base
        return (t >= 0) & (t <= 1) & (np.abs(dx) <= t * h)
    if shape == "cross":
        w = size * 0.18
        return ((np.abs(dx) <= h) & (np.abs(dy) <= w)) | ((np.abs(dy) <= h) & (np.abs(dx) <= w))
    raise ValueError(shape)


SS = 4   # supersampling per axis


def object_coverage(o: dict) -> tuple[slice, slice, np.ndarray]:
    """An object's anti-aliased coverage in [0, 1] (4x4 supersampling) over its bounding box:
    (rows, cols, coverage (h, w)); zero everywhere outside the box."""
    cx, cy = cell_center(o["cell"])
    cx += o["jitter"][0]
    cy += o["jitter"][1]
    size = SIZES[o["size"]]
    x0 = max(int(np.floor(cx - size / 2 - 1)), 0)
    x1 = min(int(np.ceil(cx + size / 2 + 1)), IMAGE_SIZE)
    y0 = max(int(np.floor(cy - size / 2 - 1)), 0)
    y1 = min(int(np.ceil(cy + size / 2 + 1)), IMAGE_SIZE)
    sub = (np.arange(SS) + 0.5) / SS
    xs = (np.arange(x0, x1)[:, None] + sub[None, :]).reshape(-1)
    ys = (np.arange(y0, y1)[:, None] + sub[None, :]).reshape(-1)
    m = _coverage(o["shape"], size, cx, cy, xs[None, :], ys[:, None])
    return slice(y0, y1), slice(x0, x1), m.reshape(y1 - y0, SS, x1 - x0, SS).mean(axis=(1, 3))


def render(scene: dict) -> np.ndarray:
    """Render a scene to uint8 (H, W, 3), anti-aliased by 4x4 supersampling."""
    img = np.empty((IMAGE_SIZE, IMAGE_SIZE, 3), np.float64)
    img[:] = BACKGROUNDS[scene["background"]]
    for o in scene["objects"]:
        rows, cols, cover = object_coverage(o)
        a = cover[..., None]
        col = np.array(COLORS[o["color"]], np.float64)
        img[rows, cols] = img[rows, cols] * (1 - a) + col * a
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------- sampling
def sample_object(rng: np.random.Generator, cell: int, shape: str) -> dict:
    j = lambda: float(rng.integers(-int(JITTER * 4), int(JITTER * 4) + 1)) / 4.0
    return {"shape": shape, "color": COLOR_NAMES[rng.integers(len(COLORS))],
            "size": SIZE_NAMES[rng.integers(len(SIZES))], "cell": int(cell), "jitter": [j(), j()]}


def sample_scene(rng: np.random.Generator, n_objects: int | None = None) -> dict:
    n = int(n_objects) if n_objects else int(rng.integers(1, 3))
    cells = rng.permutation(9)[:n]
    shapes = rng.permutation(len(SHAPES))[:n]
    objs = [sample_object(rng, int(c), SHAPES[s]) for c, s in zip(cells, shapes)]
    return {"background": BG_NAMES[rng.integers(len(BACKGROUNDS))], "objects": objs}


def describe_object(o: dict) -> str:
    return f"a {o['size']} {o['color']} {o['shape']} {CELL_PHRASES[o['cell']]}"


def caption(scene: dict) -> str:
    objs = " and ".join(describe_object(o) for o in scene["objects"])
    return f"{objs} on a {scene['background']} background"


def strip_jitter(scene: dict) -> dict:
    return {"background": scene["background"],
            "objects": [{k: o[k] for k in ("shape", "color", "size", "cell")} for o in scene["objects"]]}


def scene_key(scene: dict) -> str:
    """Canonical key of a scene up to jitter and object order."""
    objs = sorted(f"{o['cell']}:{o['shape']}:{o['color']}:{o['size']}" for o in scene["objects"])
    return scene["background"] + "|" + ",".join(objs)


def valid_scene(scene: dict) -> bool:
    cells = [o["cell"] for o in scene["objects"]]
    shapes = [o["shape"] for o in scene["objects"]]
    return len(set(cells)) == len(cells) and len(set(shapes)) == len(shapes) \
        and all(0 <= c < 9 for c in cells)


# ---------------------------------------------------------------- edits
def _part_text(kind: str, ref: str, value: str) -> str:
    if kind == "color":
        return f"make {ref} {value}"
    if kind == "shape":
        return f"turn {ref} into a {value}"
    if kind == "size":
        return f"make {ref} {value}"                 # bigger / smaller
    if kind == "position":
        return f"move {ref} {MOVE_PHRASES[value]}"
    if kind == "background":
        return f"change the background to {value}"
    raise ValueError(kind)


def apply_part(scene: dict, part: dict) -> None:
    k, v = part["kind"], part["value"]
    if k == "background":
        scene["background"] = v
        return
    o = scene["objects"][part["object"]]
    if k == "color":
        o["color"] = v
    elif k == "shape":
        o["shape"] = v
    elif k == "size":
        o["size"] = "large" if v == "bigger" else "small"
    elif k == "position":
        r, c = divmod(o["cell"], 3)
        dr, dc = MOVES[v]
        r, c = r + dr, c + dc
        o["cell"] = r * 3 + c if (0 <= r < 3 and 0 <= c < 3) else -1


def scene_without_part(item: dict, skip: int) -> dict:
    """An edit item's source scene with every part applied but `skip` (what suppressing that part
    alone should give); not checked with valid_scene."""
    scene = copy.deepcopy(item["source_scene"])
    for j, part in enumerate(item["parts"]):
        if j != skip:
            apply_part(scene, part)
    return scene


def sample_edit(scene: dict, rng: np.random.Generator, n_parts: int, max_tries: int = 200):
    """Sample a valid instruction of n_parts parts for `scene`. Returns None if impossible.

    Each part touches a distinct (object, attribute) or the background. Objects are named by
    their source shape type ("the circle"); with one object the instruction may say "it"
    (first mention "the circle" or "it", later mentions "it"). A shape change of an object is
    placed after the object's other parts, and a new shape type is never one already in the
    scene, so every reference stays unambiguous when read left to right.
    """
    objs = scene["objects"]
    single = len(objs) == 1
    present = {o["shape"] for o in objs}
    slots = [(i, k) for i in range(len(objs)) for k in EDIT_KINDS] + [(None, "background")]
    for _ in range(max_tries):
        pick = rng.permutation(len(slots))[:n_parts]
        parts = []
        for si in pick:
            i, k = slots[int(si)]
            if k == "background":
                v = [b for b in BG_NAMES if b != scene["background"]][rng.integers(len(BG_NAMES) - 1)]
            elif k == "color":
                cs = [c for c in COLOR_NAMES if c != objs[i]["color"]]
                v = cs[rng.integers(len(cs))]
            elif k == "shape":
                ss = [s for s in SHAPES if s not in present]
                v = ss[rng.integers(len(ss))]
            elif k == "size":
                v = "bigger" if objs[i]["size"] == "small" else "smaller"
            else:
                r, c = divmod(objs[i]["cell"], 3)
                ds = [d for d, (dr, dc) in MOVES.items() if 0 <= r + dr < 3 and 0 <= c + dc < 3]
                v = ds[rng.integers(len(ds))]
            parts.append({"kind": k, "object": i, "value": v})
        target = copy.deepcopy(scene)
        for p in parts:
            apply_part(target, p)
        if not valid_scene(target):
            continue
        # order: shape change of an object after the object's other parts
        order = [parts[int(j)] for j in rng.permutation(len(parts))]
        if not single:
            for i in range(len(objs)):
                sp = [p for p in order if p["object"] == i and p["kind"] == "shape"]
                if sp:
                    order = [p for p in order if p is not sp[0]]
                    last = max([j for j, p in enumerate(order) if p["object"] == i], default=-1)
                    order.insert(last + 1, sp[0])
        use_it_first = single and bool(rng.integers(2))
        mentioned = False
        for p in order:
            if p["kind"] == "background":
                ref = ""
            elif single:
                ref = "it" if (mentioned or use_it_first) else f"the {objs[0]['shape']}"
                mentioned = True
            else:
                ref = f"the {objs[p['object']]['shape']}"
            p["text"] = _part_text(p["kind"], ref, p["value"])
        requested = [{"object": p["object"], "attribute": p["kind"]} for p in order]
        return {"instruction": " and ".join(p["text"] for p in order),
                "parts": order, "target": target, "requested": requested}
    return None


# ---------------------------------------------------------------- judge labels
JUDGE_SHAPES = ["empty"] + SHAPES


def judge_targets(scene: dict):
    """(background idx, shape idx per cell (0 = empty), color idx per cell, size idx per cell,
    mask per cell (1 where a shape is)); color/size are -1 on empty cells."""
    shape = np.zeros(9, np.int64)
    color = -np.ones(9, np.int64)
    size = -np.ones(9, np.int64)
    for o in scene["objects"]:
        shape[o["cell"]] = JUDGE_SHAPES.index(o["shape"])
        color[o["cell"]] = COLOR_NAMES.index(o["color"])
        size[o["cell"]] = SIZE_NAMES.index(o["size"])
    return BG_NAMES.index(scene["background"]), shape, color, size


def judged_scene(bg_probs, shape_probs, color_probs, size_probs) -> dict:
    """Decode judge outputs (numpy, one image) into a jitter-free scene."""
    objs = []
    for cell in range(9):
        s = int(np.argmax(shape_probs[cell]))
        if s == 0:
            continue
        objs.append({"shape": JUDGE_SHAPES[s], "color": COLOR_NAMES[int(np.argmax(color_probs[cell]))],
                     "size": SIZE_NAMES[int(np.argmax(size_probs[cell]))], "cell": cell})
    return {"background": BG_NAMES[int(np.argmax(bg_probs))], "objects": objs}
