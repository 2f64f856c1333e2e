"""Experiment (2026-11-29, models/zoo/README.md, "What is still missing"): a key -> LoRA
generator over ALL 27 decoder convs, dW = B diag(M s) A (s = the key's bits as +-1, rank 48,
A, B, M shared and learned), trained by regression onto the key's pattern (watermark.key_pattern);
held-out bit accuracy through the current extractor every 250 steps. Resumable
(.cache/exp/gen_diag.pt).
    cd models/zoo && /usr/bin/python3 experiments/gen_diag.py --minutes 60 --lr 3e-4"""
from __future__ import annotations
import argparse
import math
import os
import sys
import time
from pathlib import Path
os.environ.setdefault("ZOO_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import torch
import torch.nn as nn
import torch.nn.functional as F
from zoo import wm_noise as N
from zoo.common import Paths, set_threads
from zoo.watermark import (load_frozen_vae, load_trained, pool, key_pattern, decode_full, psnr, SEED, HELDOUT_SEED,
                           TRAIN_POOL, KEY_PATTERN_DB)
from zoo.wm_model import BITS, decoder_convs, get_module, install_lora

EXP = Path(__file__).resolve().parents[1] / ".cache" / "exp"
CK = EXP / "gen_diag.pt"


class DiagGen(nn.Module):
    """dW = B diag(s) A per conv (s = key bits as +-1), rank R = 48: one signed direction per bit,
    shared A and B. Linear in s, like the pattern."""
    def __init__(self, shapes, r=48):
        super().__init__()
        self.shapes, self.r = shapes, r
        self.A = nn.ParameterDict()
        self.B = nn.ParameterDict()
        self.M = nn.Parameter(torch.eye(BITS)[:r] if r <= BITS else torch.randn(r, BITS) / BITS ** 0.5)
        for p, (o, i, kh, kw) in shapes.items():
            self.A[p.replace(".", "_")] = nn.Parameter(torch.randn(r, i, kh, kw) / math.sqrt(i * kh * kw))
            self.B[p.replace(".", "_")] = nn.Parameter(torch.zeros(o, r))

    def forward(self, bits):
        s = (bits * 2 - 1) @ self.M.T                     # (n, r)
        res = {}
        for p in self.shapes:
            a = self.A[p.replace(".", "_")]
            res[p] = (s[:, :, None, None, None] * a.unsqueeze(0), self.B[p.replace(".", "_")].unsqueeze(0).expand(len(bits), -1, -1))
        return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--rank", type=int, default=48)
    a = ap.parse_args()
    set_threads()
    P = Paths()
    vae = load_frozen_vae(P)
    targets = decoder_convs(vae)
    layers = install_lora(vae, targets)
    shapes = {t: tuple(get_module(vae, t).base.weight.shape) for t in targets}
    _, ext, _ = load_trained(P)
    log = lambda *x: print(time.strftime("%H:%M:%S"), *x, flush=True)
    tr = pool(P, vae, TRAIN_POOL, SEED, log)
    ho = pool(P, vae, 256, HELDOUT_SEED, log)
    mean, hmean = tr["mean"].float(), ho["mean"].float()
    with torch.no_grad():
        clean_all = torch.cat([decode_full(vae, layers, mean[i:i + 64], None) for i in range(0, len(mean), 64)])
        hclean = torch.cat([decode_full(vae, layers, hmean[i:i + 64], None) for i in range(0, 64, 64)])
    gen = DiagGen(shapes, a.rank)
    for l in layers.values():
        l.rank, l.scale = a.rank, 1.0
    log(f"generator params {sum(p.numel() for p in gen.parameters())}")
    opt = torch.optim.Adam(gen.parameters(), lr=a.lr)
    step = 0
    if CK.exists():
        ck = torch.load(CK); gen.load_state_dict(ck["gen"]); opt.load_state_dict(ck["opt"]); step = ck["step"]
        log(f"resumed at {step}")
    pats = lambda b: key_pattern(ext, b, KEY_PATTERN_DB)
    EXP.mkdir(parents=True, exist_ok=True)
    t0, last, run = time.time(), time.time(), None
    while time.time() - t0 < a.minutes * 60:
        g = torch.Generator().manual_seed(SEED * 13 + step)
        idx = torch.randint(0, len(mean), (a.batch,), generator=g)
        bits = torch.randint(0, 2, (a.batch, BITS), generator=g).float()
        wm = decode_full(vae, layers, mean[idx], gen(bits))
        loss = F.mse_loss(wm - clean_all[idx], pats(bits))
        opt.zero_grad(); loss.backward(); opt.step()
        run = loss.item() if run is None else 0.98 * run + 0.02 * loss.item()
        step += 1
        if step % 50 == 0:
            log(f"step {step} residual {run:.2e} (pattern power 3.18e-03) {time.time() - t0:.0f}s")
        if step % 250 == 0:
            with torch.no_grad():
                gb = torch.randint(0, 2, (64, BITS), generator=torch.Generator().manual_seed(5)).float()
                wm = decode_full(vae, layers, hmean[:64], gen(gb))
                q = N.to_uint8_grid(wm)
                acc = ((ext(q) > 0).float() == gb).float().mean().item()
                res = F.mse_loss(wm - hclean, pats(gb)).item()
                log(f"[heldout@{step}] bit acc clean {acc:.3f} residual {res:.2e} psnr {psnr(wm, hclean):.1f}")
        if time.time() - last > 300:
            torch.save({"gen": gen.state_dict(), "opt": opt.state_dict(), "step": step}, CK); last = time.time()
    torch.save({"gen": gen.state_dict(), "opt": opt.state_dict(), "step": step}, CK)


if __name__ == "__main__":
    main()
