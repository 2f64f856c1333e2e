"""Train the tiny VAE (resumable).   /usr/bin/python3 -m zoo.vae [--smoke] [--steps N]

Scenes are rendered on the fly from a per-step seed, so a resumed run sees the same data.
Training scenes hold 0-6 shapes (more shape pixels per image than the world's 1-2); loss: L1 + MSE
weighted 5x on shape pixels and their border + L1 on image gradients (sharp edges) + a small KL. The finished model
(models/zoo/.cache/ckpt/vae_final.pt) carries the latent statistics used as the manifest's
shift_factor / scaling_factor: z = (mean - shift) * scale has zero mean and unit variance.
"""
from __future__ import annotations

import math
import time

import numpy as np
import torch
import torch.nn.functional as F

from . import world as W
from .common import (Logger, base_parser, load_ckpt, paths_from_args, rng_state, save_ckpt,
                     seed_all, set_rng_state, set_threads)
from .vae_model import AutoencoderKL, VAE_CONFIG

SEED = 1001
KL_WEIGHT = 2e-5
FG_WEIGHT = 4.0


def to_tensor(imgs: np.ndarray) -> torch.Tensor:
    """uint8 (B, H, W, 3) -> float (B, 3, H, W) in [-1, 1]"""
    return torch.from_numpy(imgs).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """float (B, 3, H, W) in [-1, 1] -> uint8 (B, H, W, 3): clamp((x+1)/2, 0, 1) * 255, rounded."""
    y = ((x.detach().float() + 1.0) / 2.0).clamp(0.0, 1.0) * 255.0
    return torch.round(y).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def random_batch(rng: np.random.Generator, n: int) -> np.ndarray:
    imgs = []
    for _ in range(n):
        s = W.sample_scene(rng)
        if rng.random() < 0.03:
            s["objects"] = []
        imgs.append(W.render(s))
    return np.stack(imgs)


def busy_scene(rng: np.random.Generator) -> dict:
    """VAE training scenes: 0-6 shapes in distinct cells, types may repeat (more shape pixels per
    image than the world's 1-2, so small shapes get more of the loss)."""
    n = int(rng.integers(0, 7))
    cells = rng.permutation(9)[:n]
    objs = [W.sample_object(rng, int(c), W.SHAPES[rng.integers(len(W.SHAPES))]) for c in cells]
    return {"background": W.BG_NAMES[rng.integers(len(W.BG_NAMES))], "objects": objs}


def train_batch(rng: np.random.Generator, n: int):
    """-> images uint8 (n, H, W, 3) and a loss weight map (n, 1, H, W): 1 + FG_WEIGHT on shape
    pixels and their 1-pixel border."""
    imgs, ws = [], []
    for _ in range(n):
        s = busy_scene(rng)
        img = W.render(s)
        fg = (img != np.array(W.BACKGROUNDS[s["background"]], np.uint8)).any(-1)
        d = fg.copy()
        d[1:] |= fg[:-1]
        d[:-1] |= fg[1:]
        d[:, 1:] |= fg[:, :-1]
        d[:, :-1] |= fg[:, 1:]
        imgs.append(img)
        ws.append(1.0 + FG_WEIGHT * d.astype(np.float32))
    return np.stack(imgs), torch.from_numpy(np.stack(ws))[:, None]


def grad_l1(a, b):
    dxa, dxb = a[..., :, 1:] - a[..., :, :-1], b[..., :, 1:] - b[..., :, :-1]
    dya, dyb = a[..., 1:, :] - a[..., :-1, :], b[..., 1:, :] - b[..., :-1, :]
    return (dxa - dxb).abs().mean() + (dya - dyb).abs().mean()


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = ((a - b) / 2).pow(2).mean().item()
    return 10 * math.log10(1.0 / max(mse, 1e-12))


@torch.no_grad()
def latent_stats(vae, n=2048, seed=SEED + 7, bs=128):
    rng = np.random.default_rng(seed)
    ms = []
    for i in range(0, n, bs):
        m, _ = vae.encode(to_tensor(random_batch(rng, min(bs, n - i))))
        ms.append(m)
    m = torch.cat(ms)
    shift = m.mean().item()
    std = (m - shift).std().item()
    return {"shift_factor": round(shift, 6), "scaling_factor": round(1.0 / std, 6),
            "channel_mean": m.mean(dim=(0, 2, 3)).tolist(), "channel_std": m.std(dim=(0, 2, 3)).tolist()}


def train(P, steps: int, bs: int, log) -> AutoencoderKL:
    seed_all(SEED)
    vae = AutoencoderKL(VAE_CONFIG)
    opt = torch.optim.AdamW(vae.parameters(), lr=3e-4, weight_decay=0.0, betas=(0.9, 0.99))
    ck_path = P.ckpt / "vae.pt"
    step, spent = 0, 0.0
    ck = load_ckpt(ck_path)
    if ck is not None:
        vae.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step, spent = ck["step"], ck.get("train_seconds", 0.0)
        set_rng_state(ck["rng"])
        log(f"resumed from {ck_path} at step {step}")
    val = to_tensor(random_batch(np.random.default_rng(SEED + 99), 64))
    warm = min(200, max(1, steps // 10))
    last_ck = t_start = time.time()
    t0, n_log = time.time(), 0
    while step < steps:
        lr = 3e-4 * min(1.0, (step + 1) / warm) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        for g in opt.param_groups:
            g["lr"] = lr
        imgs, w = train_batch(np.random.default_rng([SEED, step]), bs)
        x = to_tensor(imgs)
        mean, logvar = vae.encode(x)
        z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
        y = vae.decode(z)
        e = y - x
        rec = ((e.abs() + e.pow(2)) * w).mean() / w.mean() + 0.5 * grad_l1(y, x)
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).mean()
        loss = rec + KL_WEIGHT * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        step += 1
        n_log += 1
        if step % 50 == 0 or step == steps:
            log(f"step {step}/{steps} loss {loss.item():.4f} rec {rec.item():.4f} kl {kl.item():.2f} "
                f"lr {lr:.2e} {(time.time() - t0) / n_log:.2f}s/step")
            t0, n_log = time.time(), 0
        if step % 500 == 0 or step == steps:
            with torch.no_grad():
                m, _ = vae.encode(val)
                log(f"  val psnr {psnr(vae.decode(m), val):.2f} dB")
        if time.time() - last_ck > 180 or step == steps:
            save_ckpt(ck_path, {"model": vae.state_dict(), "opt": opt.state_dict(), "step": step, "rng": rng_state(),
                                "train_seconds": spent + time.time() - t_start})
            last_ck = time.time()
    vae.train_seconds = spent + time.time() - t_start
    return vae


def main(argv=None):
    ap = base_parser(__doc__)
    ap.add_argument("--steps", type=int, default=4300)  # val PSNR 38.9 dB at 4000; plateaued
    ap.add_argument("--batch", type=int, default=32)
    args = ap.parse_args(argv)
    set_threads()
    P = paths_from_args(args)
    steps, bs = (args.steps, args.batch) if not args.smoke else (3, 4)
    log = Logger(P.logs / "vae.log")
    final = P.ckpt / "vae_final.pt"
    ck = load_ckpt(final)
    if ck is not None and ck.get("steps") == steps:
        log(f"{final} is complete ({steps} steps); nothing to do")
    else:
        vae = train(P, steps, bs, log)
        vae.eval()
        stats = latent_stats(vae, n=2048 if not args.smoke else 16)
        log("latent stats", stats["shift_factor"], stats["scaling_factor"])
        save_ckpt(final, {"model": vae.state_dict(), "config": VAE_CONFIG, "stats": stats, "steps": steps,
                          "train_seconds": getattr(vae, "train_seconds", None)})
    if args.smoke:
        from .export import export_vae
        export_vae(P, log)


if __name__ == "__main__":
    main()
