"""The attribute judge: train, export, measure.   /usr/bin/python3 -m zoo.judge [--smoke]

A small CNN over a 64x64 RGB image (float, [0, 1], NCHW) with softmax outputs:
  background (B, 4), shape (B, 9, 5) [empty + 4 shapes per grid cell], color (B, 9, 6),
  size (B, 9, 2). Cells are the 3x3 grid in row-major order. color/size are meaningful where
  the cell holds a shape. Trained on rendered ground truth only (independent of every generative
  model, so it can judge any of them), with augmentation that imitates decoded / generated
  images: Gaussian blur, down-up resampling, small shifts, noise, contrast/brightness jitter.
  Its held-out accuracy is also reported on VAE reconstructions.
  Writes models/tiny/judge/{model.onnx,labels.json}.
"""
from __future__ import annotations

import math
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import world as W
from .common import (OPSET, Logger, base_parser, check_onnx, load_ckpt, paths_from_args, read_json,
                     rng_state, save_ckpt, seed_all, set_rng_state, set_threads, write_json)

SEED = 3003


def cell_pool_matrix(fs=8, size=64):
    """(fs*fs, 9): averaging weights of each feature-map pixel for each 3x3 grid cell."""
    m = np.zeros((fs * fs, 9), np.float32)
    px = size / fs
    cs = size / 3
    for fy in range(fs):
        for fx in range(fs):
            for cell in range(9):
                r, c = divmod(cell, 3)
                ox = max(0.0, min((fx + 1) * px, (c + 1) * cs) - max(fx * px, c * cs))
                oy = max(0.0, min((fy + 1) * px, (r + 1) * cs) - max(fy * px, r * cs))
                m[fy * fs + fx, cell] = ox * oy
    return m / m.sum(0, keepdims=True)


def conv_bn(cin, cout, stride):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class Judge(nn.Module):
    def __init__(self, width=32):
        super().__init__()
        w = width
        self.features = nn.Sequential(conv_bn(3, w, 1), conv_bn(w, w, 2), conv_bn(w, 2 * w, 1), conv_bn(2 * w, 2 * w, 2),
                                      conv_bn(2 * w, 4 * w, 1), conv_bn(4 * w, 4 * w, 2), conv_bn(4 * w, 4 * w, 1))
        d = 4 * w
        self.register_buffer("pool", torch.from_numpy(cell_pool_matrix()))
        self.cell_embed = nn.Parameter(torch.zeros(9, d))
        self.cell_mlp = nn.Sequential(nn.Linear(2 * d, 128), nn.ReLU(inplace=True), nn.Linear(128, 128), nn.ReLU(inplace=True))
        self.shape_head = nn.Linear(128, len(W.JUDGE_SHAPES))
        self.color_head = nn.Linear(128, len(W.COLOR_NAMES))
        self.size_head = nn.Linear(128, len(W.SIZE_NAMES))
        self.background_head = nn.Sequential(nn.Linear(d, 64), nn.ReLU(inplace=True), nn.Linear(64, len(W.BG_NAMES)))

    def logits(self, image):
        f = self.features(image * 2.0 - 1.0)                # (B, d, 8, 8)
        b, d = f.shape[:2]
        flat = f.reshape(b, d, 64)
        cells = (flat @ self.pool).transpose(1, 2) + self.cell_embed      # (B, 9, d)
        g = flat.mean(-1)                                                  # (B, d)
        h = self.cell_mlp(torch.cat([cells, g[:, None, :].expand(b, 9, d)], -1))
        return self.background_head(g), self.shape_head(h), self.color_head(h), self.size_head(h)

    def forward(self, image):
        bg, s, c, z = self.logits(image)
        return (torch.softmax(bg, -1), torch.softmax(s, -1), torch.softmax(c, -1), torch.softmax(z, -1))


OUTPUTS = ["background", "shape", "color", "size"]


def targets(scenes):
    t = [W.judge_targets(s) for s in scenes]
    return (torch.tensor([x[0] for x in t]), torch.from_numpy(np.stack([x[1] for x in t])),
            torch.from_numpy(np.stack([x[2] for x in t])), torch.from_numpy(np.stack([x[3] for x in t])))


def loss_fn(logits, tg):
    bg, s, c, z = logits
    tb, ts, tc, tz = tg
    return (F.cross_entropy(bg, tb) + F.cross_entropy(s.reshape(-1, s.shape[-1]), ts.reshape(-1))
            + F.cross_entropy(c.reshape(-1, c.shape[-1]), tc.reshape(-1), ignore_index=-1)
            + F.cross_entropy(z.reshape(-1, z.shape[-1]), tz.reshape(-1), ignore_index=-1))


def blur(x, sigma):
    """Separable Gaussian blur, per-sample sigma (B,) tensor; x (B, 3, H, W)."""
    k = torch.arange(-3, 4, dtype=torch.float32)
    w = torch.exp(-(k[None] ** 2) / (2 * sigma[:, None].clamp(min=1e-3) ** 2))
    w = w / w.sum(1, keepdim=True)
    b, c, h, wd = x.shape
    y = x.reshape(1, b * c, h, wd)
    wk = w.repeat_interleave(c, 0)
    y = F.conv2d(F.pad(y, (3, 3, 0, 0), mode="replicate"), wk[:, None, None, :], groups=b * c)
    y = F.conv2d(F.pad(y, (0, 0, 3, 3), mode="replicate"), wk[:, None, :, None], groups=b * c)
    return y.reshape(b, c, h, wd)


def augment(x, gen: torch.Generator):
    """x in [0, 1]. Random shift, blur or down-up resampling, contrast/brightness jitter, noise;
    then 8-bit quantisation."""
    b = x.shape[0]
    r = lambda *s: torch.rand(*s, generator=gen)
    sh = torch.randint(-2, 3, (2,), generator=gen).tolist()
    xp = F.pad(x, (2, 2, 2, 2), mode="replicate")
    x = xp[:, :, 2 + sh[0]:66 + sh[0], 2 + sh[1]:66 + sh[1]]
    sig = 0.3 + r(b) * 1.2
    use = r(b) < 0.5
    x = torch.where(use[:, None, None, None], blur(x, sig), x)
    du = F.interpolate(F.interpolate(x, scale_factor=0.5, mode="bilinear", align_corners=False),
                       scale_factor=2.0, mode="bilinear", align_corners=False)
    x = torch.where((r(b) < 0.25)[:, None, None, None], du, x)
    x = (x - 0.5) * (1 + (r(b, 1, 1, 1) - 0.5) * 0.12) + 0.5 + (r(b, 3, 1, 1) - 0.5) * 0.06
    x = x + torch.randn(x.shape, generator=gen) * (r(b, 1, 1, 1) * 0.03)
    return torch.round(x.clamp(0, 1) * 255) / 255


def load_vae_for_aug(P):
    """The finished VAE (only to report the judge's accuracy on reconstructions), or None."""
    ck = load_ckpt(P.ckpt / "vae_final.pt")
    if ck is None:
        return None, None
    from .vae_model import AutoencoderKL
    v = AutoencoderKL(ck["config"])
    v.load_state_dict(ck["model"])
    v.eval()
    return v, ck["stats"]


@torch.no_grad()
def vae_recon(vae, stats, imgs_u8: np.ndarray, noise: torch.Tensor) -> torch.Tensor:
    """uint8 (B,H,W,3) -> VAE reconstruction in [0,1], with noise (B,) added to the normalised latent."""
    from .vae import to_tensor
    x = to_tensor(imgs_u8)
    m, _ = vae.encode(x)
    s, sh = stats["scaling_factor"], stats["shift_factor"]
    z = (m - sh) * s
    z = z + torch.randn_like(z) * noise[:, None, None, None]
    y = vae.decode(z / s + sh)
    return torch.round(((y + 1) / 2).clamp(0, 1) * 255) / 255


def u8_to_input(imgs: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(imgs).permute(0, 3, 1, 2).float() / 255.0


def held_out_scenes(P):
    """Every ground-truth scene of the eval sets (never used in judge training)."""
    scenes = []
    t2i = P.eval / "t2i.json"
    if t2i.exists():
        scenes += [it["scene"] for it in read_json(t2i)["items"]]
        for it in read_json(P.eval / "edit.json")["items"]:
            scenes += [it["source_scene"], it["target_scene"]]
    return scenes


@torch.no_grad()
def predict(judge, x: torch.Tensor, bs=256):
    outs = [judge(x[i:i + bs]) for i in range(0, len(x), bs)]
    return [torch.cat([o[k] for o in outs]).numpy() for k in range(4)]


def accuracy(preds, scenes) -> dict:
    """Per-attribute held-out accuracy. shape/color/size: over objects, argmax in the object's cell;
    position: per image, the set of occupied cells (argmax != empty) equals the true set;
    background: per image."""
    bgp, sp, cp, zp = preds
    n_obj = ok_s = ok_c = ok_z = ok_pos = ok_bg = 0
    for i, sc in enumerate(scenes):
        ok_bg += int(np.argmax(bgp[i]) == W.BG_NAMES.index(sc["background"]))
        occ = {c for c in range(9) if np.argmax(sp[i, c]) != 0}
        ok_pos += int(occ == {o["cell"] for o in sc["objects"]})
        for o in sc["objects"]:
            n_obj += 1
            ok_s += int(W.JUDGE_SHAPES[int(np.argmax(sp[i, o["cell"]]))] == o["shape"])
            ok_c += int(W.COLOR_NAMES[int(np.argmax(cp[i, o["cell"]]))] == o["color"])
            ok_z += int(W.SIZE_NAMES[int(np.argmax(zp[i, o["cell"]]))] == o["size"])
    n = len(scenes)
    return {"shape": ok_s / n_obj, "color": ok_c / n_obj, "size": ok_z / n_obj, "position": ok_pos / n,
            "background": ok_bg / n, "n_images": n, "n_objects": n_obj}


def labels_json() -> dict:
    return {
        "format": "atelier-judge/1",
        "input": {"name": "image", "dtype": "float32", "shape": ["batch", 3, 64, 64],
                  "layout": "NCHW RGB", "range": "[0, 1] = uint8 / 255"},
        "outputs": [
            {"name": "background", "shape": ["batch", 4], "classes": W.BG_NAMES},
            {"name": "shape", "shape": ["batch", 9, len(W.JUDGE_SHAPES)], "classes": W.JUDGE_SHAPES},
            {"name": "color", "shape": ["batch", 9, len(W.COLOR_NAMES)], "classes": W.COLOR_NAMES},
            {"name": "size", "shape": ["batch", 9, len(W.SIZE_NAMES)], "classes": W.SIZE_NAMES},
        ],
        "probabilities": "every output is a softmax over its last axis",
        "cells": W.CELL_NAMES,
        "cell_order": "3x3 grid, row-major: cell = 3*row + col, row 0 at the top",
        "decode": "a cell holds a shape when argmax(shape[cell]) != 'empty'; its color and size are the argmax "
                  "of color[cell] and size[cell]; the scene's background is argmax(background)",
    }


def export(judge, P, log):
    path = P.judge / "model.onnx"
    path.parent.mkdir(parents=True, exist_ok=True)
    judge.eval()
    with torch.no_grad():
        torch.onnx.export(judge, (torch.zeros(1, 3, 64, 64),), str(path), input_names=["image"],
                          output_names=OUTPUTS, opset_version=OPSET, do_constant_folding=True,
                          dynamic_axes={"image": {0: "batch"}, **{o: {0: "batch"} for o in OUTPUTS}})
    check_onnx(path)
    write_json(P.judge / "labels.json", labels_json())
    log(f"exported {path} ({path.stat().st_size / 1e6:.2f} MB), onnx.checker ok")


def main(argv=None):
    ap = base_parser(__doc__)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args(argv)
    set_threads()
    P = paths_from_args(args)
    log = Logger(P.logs / "judge.log")
    steps, bs = (args.steps, args.batch) if not args.smoke else (3, 8)
    held = {W.scene_key(s) for s in held_out_scenes(P)}
    seed_all(SEED)
    judge = Judge()
    opt = torch.optim.AdamW(judge.parameters(), lr=2e-3, weight_decay=1e-4)
    ck_path = P.ckpt / "judge.pt"
    step, spent = 0, 0.0
    ck = load_ckpt(ck_path)
    if ck is not None:
        judge.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step, spent = ck["step"], ck.get("train_seconds", 0.0)
        set_rng_state(ck["rng"])
        log(f"resumed at step {step}")
    last = t_start = time.time()
    t0, n_log = time.time(), 0
    judge.train()
    while step < steps:
        lr = 2e-3 * min(1.0, (step + 1) / 100) * 0.5 * (1 + math.cos(math.pi * step / steps))
        for g in opt.param_groups:
            g["lr"] = lr
        rng = np.random.default_rng([SEED, step])
        gen = torch.Generator().manual_seed(SEED * 100003 + step)
        scenes = []
        while len(scenes) < bs:
            s = W.sample_scene(rng)
            if W.scene_key(s) not in held:
                scenes.append(s)
        imgs = np.stack([W.render(s) for s in scenes])
        x = augment(u8_to_input(imgs), gen)
        loss = loss_fn(judge.logits(x), targets(scenes))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        n_log += 1
        if step % 50 == 0:
            log(f"step {step}/{steps} loss {loss.item():.4f} lr {lr:.2e} {(time.time() - t0) / n_log:.2f}s/step")
            t0, n_log = time.time(), 0
        if time.time() - last > 180 or step == steps:
            save_ckpt(ck_path, {"model": judge.state_dict(), "opt": opt.state_dict(), "step": step, "rng": rng_state(),
                                "train_seconds": spent + time.time() - t_start})
            last = time.time()
    judge.eval()
    vae, stats = load_vae_for_aug(P)
    acc = measure(judge, P, vae, stats, log, limit=None if not args.smoke else 8)
    save_ckpt(P.ckpt / "judge_final.pt", {"model": judge.state_dict(), "steps": steps, "accuracy": acc,
                                          "train_seconds": spent + time.time() - t_start})
    export(judge, P, log)


def measure(judge, P, vae, stats, log, limit=None):
    scenes = held_out_scenes(P)[:limit]
    if not scenes:
        log("no eval sets: run zoo.evalsets first")
        return {}
    imgs = np.stack([W.render(s) for s in scenes])
    acc = {"rendered": accuracy(predict(judge, u8_to_input(imgs)), scenes)}
    if vae is not None:
        rec = torch.cat([vae_recon(vae, stats, imgs[i:i + 128], torch.zeros(len(imgs[i:i + 128])))
                         for i in range(0, len(imgs), 128)])
        acc["vae_reconstructed"] = accuracy(predict(judge, rec), scenes)
    log("judge held-out accuracy", acc)
    return acc


if __name__ == "__main__":
    main()
