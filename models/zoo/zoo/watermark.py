"""LoRA watermark for the tiny VAE decoder (EW-LoRA, DESIGN.md section 1; files: docs/zoo-contract.md).

    /usr/bin/python3 -m zoo.watermark train [--steps N]                  # phase 1 (resumable)
    /usr/bin/python3 -m zoo.watermark readout [--steps N] [--gen-steps N]  # phase 1b (read-out, host cancellation)
    /usr/bin/python3 -m zoo.watermark generator [--write-steps N] [--read-steps N]  # phase 1c (in-app keys)
    /usr/bin/python3 -m zoo.watermark key --bits HEX12 [--name NAME] --out DIR [--write-steps N] [--read-steps N]
    /usr/bin/python3 -m zoo.watermark export [--generator-only]          # models/tiny/watermark/
    /usr/bin/python3 -m zoo.watermark [--smoke]                          # train + export

Phase 1 trains, jointly, a 48-bit extractor and a key-conditioned LoRA generator (key bits -> rank-4
LoRA factors of two decoder convs, see wm_model.py) through the frozen tiny VAE decoder, with a new
random key per sample every step. Loss = w_img * (MSE + MSE of image gradients) against the clean
decoder output + BCE on the bits read back after the noise layer (every step: the uint8 image
itself plus two attacks drawn for the batch from JPEG q50, resize 0.5-0.9 and back, crop of up to
15% area and back, blur sigma 0.5-1.5, Gaussian noise; wm_noise.py). w_img follows the PSNR: it
grows while the batch PSNR is under a target and shrinks above it; the target is PSNR_WARM (20 dB)
while the extractor learns to read bits at all, then rises to PSNR_TRAIN (32 dB) over RAMP steps. Unwatermarked images are pushed to logits near 0 (small weight), so that on
them the bits carry no key.

Phase 1b (`readout`) fixes what limited phase 1's read-out: host interference. Measured on the 256
held-out scenes: a key's exact template pattern added at 31 dB to the clean image reads back at only
0.85 through the templates alone, because each scene's own block means project onto the templates
too (spread-spectrum's host interference). With the templates frozen (so every key's pattern stays
what it was), the conv branch is trained to read the bits of clean + pattern (random keys, scaled
0.6-1.1, plus a smooth residual of up to 30% of its power standing in for what a LoRA writes
imperfectly) after the attacks: it learns to subtract the scene's projection, and reads such images
at 0.9998 on held-out scenes. Then the key-to-LoRA generator is fine-tuned against the new frozen
extractor (BCE after the attacks, image loss held at the PSNR target), so in-app keys follow it.

Phase 1c (`generator`) replaces the three-conv generator for keys made in the app: KeyToLoraLinear,
rank 48 on every decoder conv, linear in the bits (dW = B diag(M s) A), first regressed onto random
keys' template patterns, then trained on the bits read back after the attacks through the frozen
phase-1b extractor. export writes it as key_to_lora.onnx when it is done.

Phase 2 (`key`) trains one key's own LoRA, rank 4 on every decoder conv (27 layers; why all of
them: wm_model.decoder_convs), against the frozen extractor: first a regression of the watermark
onto the key's pattern (the smallest block pattern the extractor's template read-out maps to the
key), then EW-LoRA's dynamic loss weighting on the bits read back after the attacks. It writes
<name>.peft.safetensors (peft, `vae.` keys) and <name>.key.json.

Data: VAE posterior means of random shapes-world scenes (zoo.vae.random_batch); the frozen decoder
part before the first target runs once per scene and is cached (.cache/data/watermark_pool_*.pt).
Checkpoints: .cache/ckpt/watermark.pt (every few minutes), watermark_final.pt; log:
.cache/logs/watermark.log.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import wm_noise as N
from .common import (OPSET, Logger, check_onnx, load_ckpt, paths_from_args, run_node_json, save_ckpt,
                     seed_all, set_threads, write_json)
from .wm_model import (ALPHA, BITS, RANK, TARGETS, Extractor, KeyToLora, KeyToLoraExport, KeyToLoraLinear,
                       decoder_convs, decoder_prefix, decoder_tail, get_module, install_lora, peft_name, set_lora)

SEED = 7007
TRAIN_POOL, HELDOUT_POOL = 1024, 256
HELDOUT_SEED = 7777
STEPS = 1300               # about 45 min on one shared core (2.1-2.3 s/step measured)
BATCH = 12
PSNR_TRAIN = 32.0          # phase 1 aims a little above the 30 dB goal
PSNR_GOAL = 30.0
PSNR_WARM = 20.0           # while the extractor learns to read the bits at all
RAMP = 500
EXT_FROZEN = 0             # steps with the extractor held at its initial templates
TRAIN_ATTACKS = ["jpeg", "resize", "crop", "blur", "noise"]
DEMO_BITS = "a5c3961e0f7b"
READOUT_STEPS = 3000      # phase 1b, extractor read-out (~0.22 s/step)
READOUT_GEN_STEPS = 400    # phase 1b, the generator against the new extractor (~2 s/step)
READOUT_RESIDUAL = 0.3     # the write residual's largest power, relative to the pattern's
KEY_WRITE_STEPS = 1200     # per-key stage 1: regression onto the key's pattern (~0.9 s/step, batch 8)
KEY_READ_STEPS = 200       # per-key stage 2: EW-LoRA through the extractor and the attacks
KEY_PATTERN_DB = 31.0      # the pattern's own PSNR (its fit error costs some of the margin to 30 dB)
GEN_RANK = 48              # phase 1c: one signed direction per bit
GEN_WRITE_STEPS = 2201     # phase 1c stage 1: regression onto random keys' patterns (~1 s/step, batch 8)
GEN_READ_STEPS = 5000      # phase 1c stage 2: the bit loss through the extractor and the attacks (~0.8 s/step)
GEN_PSNR = 32.0            # phase 1c stage 2: the image loss weight's PSNR target ...
GEN_MIN_W_IMG = 1.0        # ... and its floor, with the gradient norm clipped to 1 at lr 1e-4: without them
                           # (lr 3e-4, floor 0.01) the image term fell to nothing and the PSNR collapsed
                           # to 23 dB at about 1,200 steps
CKPT_EVERY_S = 150


# ---------------------------------------------------------------- bits
def bits_from_hex(h: str) -> torch.Tensor:
    if not re.fullmatch(r"[0-9a-fA-F]{12}", h):
        raise SystemExit(f"--bits must be 12 hex digits (48 bits), got {h!r}")
    v = int(h, 16)
    return torch.tensor([(v >> (BITS - 1 - i)) & 1 for i in range(BITS)], dtype=torch.float32)


def hex_from_bits(b: torch.Tensor) -> str:
    v = 0
    for x in b.tolist():
        v = (v << 1) | int(x > 0.5)
    return f"{v:012x}"


# ---------------------------------------------------------------- data pool
def load_frozen_vae(P):
    from .export import load_vae
    vae, stats, cfg = load_vae(P)
    for p in vae.parameters():
        p.requires_grad_(False)
    return vae


def latent_channels(vae) -> int:
    conv_in = vae.decoder.conv_in
    return getattr(conv_in, "base", conv_in).in_channels    # the conv itself, or under its LoRA wrapper


@torch.no_grad()
def pool(P, vae, n: int, seed: int, log) -> dict:
    """n scenes -> posterior means, cached prefix features (float16) and the clean decoder output
    computed from exactly those features."""
    path = P.data / f"watermark_pool_{seed}_{n}.pt"
    if path.exists():
        d = torch.load(path)
        expect = decoder_prefix(vae, torch.zeros(1, latent_channels(vae), 8, 8)).shape[1:]
        if d["feat"].shape[1:] == expect:
            return d
        log(f"{path.name} was cut at another layer: rebuilding it")
    from .vae import random_batch, to_tensor
    t0 = time.time()
    rng = np.random.default_rng(seed)
    means, feats, cleans = [], [], []
    for i in range(0, n, 64):
        x = to_tensor(random_batch(rng, min(64, n - i)))
        m, _ = vae.encode(x)
        f = decoder_prefix(vae, m).half()
        means.append(m)
        feats.append(f)
        cleans.append(decoder_tail(vae, f.float()).half())
    d = {"mean": torch.cat(means), "feat": torch.cat(feats), "clean": torch.cat(cleans)}
    torch.save(d, path)
    log(f"pool {path.name}: {n} scenes in {time.time() - t0:.0f}s")
    return d


def target_shapes(vae) -> dict:
    shape = lambda m: tuple((m.base if hasattr(m, "base") else m).weight.shape)
    return {p: shape(get_module(vae, p)) for p in TARGETS}


# ---------------------------------------------------------------- losses / metrics
def image_loss(x, ref):
    gx = lambda a: a[..., :, 1:] - a[..., :, :-1]
    gy = lambda a: a[..., 1:, :] - a[..., :-1, :]
    return F.mse_loss(x, ref) + F.mse_loss(gx(x), gx(ref)) + F.mse_loss(gy(x), gy(ref))


def psnr(x, ref) -> float:
    """PSNR of the uint8 images (range 2 in [-1, 1] units = 255)."""
    mse = (N.to_uint8_grid(x) - N.to_uint8_grid(ref)).pow(2).mean().item()
    return 10 * math.log10(4.0 / max(mse, 1e-12))


def attacked(wm_q, names, gen):
    return torch.cat([N.attack(wm_q, a, gen) for a in names])


def attack_names(gen: torch.Generator) -> list[str]:
    """The batch's attacks: identity plus two training attacks drawn at random."""
    pick = torch.randperm(len(TRAIN_ATTACKS), generator=gen)[:2].tolist()
    return ["identity"] + [TRAIN_ATTACKS[i] for i in pick]


def generated_watermark(vae, layers: dict, gen_net, feat: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
    """The decoder tail from cached features, each sample with the generator's LoRA for its key."""
    set_lora(layers, gen_net(bits))
    try:
        return decoder_tail(vae, feat)
    finally:
        set_lora(layers, None)


def next_w_img(w_img: float, psnr_target: float, p: float) -> float:
    """The image loss weight's rule (phases 1 and 1b): it grows while the batch PSNR is under the
    target and shrinks above it, by at most 5% a step."""
    gap = max(-1.0, min(1.0, psnr_target - p))
    return float(min(1e4, max(0.01, w_img * math.exp(0.05 * gap))))


# ---------------------------------------------------------------- phase 1
def train(P, log, steps: int, smoke: bool):
    final = P.ckpt / "watermark_final.pt"
    if final.exists():
        log(f"{final} exists: phase 1 is done")
        return
    seed_all(SEED)
    vae = load_frozen_vae(P)
    layers = install_lora(vae)
    data = pool(P, vae, 16 if smoke else TRAIN_POOL, SEED, log)
    gen_net, ext = KeyToLora(target_shapes(vae)), Extractor()
    opt = torch.optim.Adam([{"params": list(gen_net.parameters())}, {"params": list(ext.parameters())}], lr=1e-3)
    state = {"step": 0, "w_img": 0.5, "seconds": 0.0}
    ck = load_ckpt(P.ckpt / "watermark.pt")
    if ck is not None:
        if ck["steps"] != steps:
            log(f"checkpoint was for {ck['steps']} steps, continuing it with {steps}")
        gen_net.load_state_dict(ck["gen"])
        ext.load_state_dict(ck["ext"])
        opt.load_state_dict(ck["opt"])
        state = ck["state"]
        log(f"resumed at step {state['step']}")
    n_pool = data["feat"].shape[0]
    batch = 4 if smoke else BATCH
    t_last, t_start, sec0, step0 = time.time(), time.time(), state["seconds"], state["step"]
    run = {"n": 0}

    def save(path):
        save_ckpt(path, {"gen": gen_net.state_dict(), "ext": ext.state_dict(), "opt": opt.state_dict(),
                         "state": dict(state, seconds=sec0 + time.time() - t_start), "steps": steps,
                         "shapes": gen_net.shapes, "targets": TARGETS})

    while state["step"] < steps:
        step = state["step"]
        g = torch.Generator().manual_seed(SEED * 100003 + step)
        lr = 1e-3 * min(1.0, (step + 1) / 100) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        opt.param_groups[0]["lr"] = lr
        opt.param_groups[1]["lr"] = lr if step >= EXT_FROZEN else 0.0   # first the generator learns to write
        idx = torch.randint(0, n_pool, (batch,), generator=g)
        feat, clean = data["feat"][idx].float(), data["clean"][idx].float()
        bits = torch.randint(0, 2, (batch, BITS), generator=g).float()
        wm = generated_watermark(vae, layers, gen_net, feat, bits)
        l_img = image_loss(wm, clean)
        wm_q = N.to_uint8_grid(wm)
        names = attack_names(g)
        neg_name = TRAIN_ATTACKS[int(torch.randint(0, len(TRAIN_ATTACKS), (1,), generator=g))]
        x = torch.cat([attacked(wm_q, names, g), N.attack(N.to_uint8_grid(clean[: batch // 2]), neg_name, g)])
        logits = ext(x)
        pos = logits[: batch * len(names)]
        l_bit = F.binary_cross_entropy_with_logits(pos, bits.repeat(len(names), 1))
        l_neg = logits[batch * len(names):].pow(2).mean()
        loss = state["w_img"] * l_img + l_bit + 0.05 * l_neg
        opt.zero_grad()
        loss.backward()
        opt.step()
        p = psnr(wm.detach(), clean)
        # PSNR target: PSNR_WARM until the clean bits are read (identity accuracy >= 0.85), then
        # rising to PSNR_TRAIN over RAMP steps
        if state.get("learned") is None and (run.get("identity", 0) >= 0.85 or step >= 0.4 * steps):
            state["learned"] = step
        ramp = 0.0 if state.get("learned") is None else min(1.0, (step - state["learned"]) / RAMP)
        p_target = PSNR_WARM + (PSNR_TRAIN - PSNR_WARM) * ramp
        state["w_img"] = next_w_img(state["w_img"], p_target, p)
        with torch.no_grad():
            acc = ((pos > 0).float() == bits.repeat(len(names), 1)).float().view(len(names), -1).mean(1)
        for a, v in zip(names, acc.tolist()):
            run[a] = 0.9 * run.get(a, v) + 0.1 * v
        run["psnr"] = 0.9 * run.get("psnr", p) + 0.1 * p
        run["bit"] = 0.9 * run.get("bit", l_bit.item()) + 0.1 * l_bit.item()
        state["step"] = step + 1
        if step % 25 == 0 or state["step"] == steps:
            el = time.time() - t_start
            accs = " ".join(f"{a} {run[a]:.3f}" for a in ["identity"] + TRAIN_ATTACKS if a in run)
            log(f"step {state['step']}/{steps} bce {run['bit']:.4f} img {l_img.item():.5f} psnr {run['psnr']:.1f} "
                f"(target {p_target:.1f}) w_img {state['w_img']:.2f} lr {lr:.2e} | acc {accs} | {el / max(1, state['step'] - step0):.2f}s/step")
        if time.time() - t_last > CKPT_EVERY_S:
            save(P.ckpt / "watermark.pt")
            t_last = time.time()
    save(final)
    log(f"phase 1 done: {final}")


def load_trained(P, phase: str = "latest"):
    """(generator, extractor, checkpoint), frozen. phase "latest": the extractor of phase 1b when it
    is done (the read-out the keys are written for), else phase 1's, and phase 1c's generator when it
    is done, else that phase's; "1b": phase 1b's (or 1's) extractor and generator; "1": phase 1's."""
    ck = load_ckpt(P.ckpt / "watermark_readout.pt") if phase in ("latest", "1b") else None
    if ck is not None and not ck["state"].get("done"):
        ck = None
    if ck is None:
        ck = load_ckpt(P.ckpt / "watermark_final.pt")
    if ck is None and os.environ.get("ZOO_WM_PARTIAL"):   # export a run still in progress (its step count is recorded)
        ck = load_ckpt(P.ckpt / "watermark.pt")
    if ck is None:
        raise SystemExit(f"no finished watermark model in {P.ckpt}: run python3 -m zoo.watermark train first")
    gen_net, ext = KeyToLora(ck["shapes"]), Extractor()
    gen_net.load_state_dict(ck["gen"])
    ext.load_state_dict(ck["ext"])
    gc = load_ckpt(P.ckpt / "watermark_generator.pt") if phase == "latest" else None
    if gc is not None and gc["state"].get("done"):      # phase 1c's generator replaces the three-conv one
        gen_net = KeyToLoraLinear(gc["shapes"], rank=gc["rank"])
        gen_net.load_state_dict(gc["gen"])
        ck = dict(ck, generator=gc["state"])
    gen_net.eval(), ext.eval()
    for p in list(gen_net.parameters()) + list(ext.parameters()):
        p.requires_grad_(False)
    return gen_net, ext, ck


# ---------------------------------------------------------------- phase 1b
def smooth_residual(n: int, power: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """(n, 3, 64, 64) smooth random fields (from 4x4 to 32x32 noise, bilinear) of the given mean
    power per image: a stand-in for the part of a key's pattern a LoRA writes wrong."""
    out = []
    for i in range(n):
        res = [4, 8, 16, 32][int(torch.randint(0, 4, (1,), generator=gen))]
        f = F.interpolate(torch.randn(1, 3, res, res, generator=gen), size=64, mode="bilinear", align_corners=False)
        out.append(f * (power[i] / f.pow(2).mean()).sqrt())
    return torch.cat(out)


def readout(P, log, steps: int, gen_steps: int, smoke: bool):
    """Phase 1b: the extractor's conv branch learns to cancel host interference (templates frozen),
    then the generator is fine-tuned against the new extractor. -> .cache/ckpt/watermark_readout.pt"""
    path = P.ckpt / "watermark_readout.pt"
    seed_all(SEED + 5)
    gen_net, ext0, base = load_trained(P, phase="1")
    ck = load_ckpt(path)
    if ck is not None and ck["state"].get("done") and ck["readout"] == [steps, gen_steps]:
        log(f"{path} is complete ({steps} + {gen_steps} steps)")
        return
    ext = Extractor()
    ext.load_state_dict(ck["ext"] if ck is not None else base["ext"])
    if ck is not None:
        gen_net.load_state_dict(ck["gen"])
    state = ck["state"] if ck is not None else {"ext_step": 0, "gen_step": 0, "w_img": 1.0, "seconds": 0.0}
    vae = load_frozen_vae(P)
    layers = install_lora(vae)
    data = pool(P, vae, 16 if smoke else TRAIN_POOL, SEED, log)
    clean_all = data["clean"].float()
    n_pool, t0, t_last, sec0 = len(clean_all), time.time(), time.time(), state["seconds"]
    batch = 4 if smoke else 24

    def save(done=False):
        state["seconds"] = sec0 + time.time() - t0
        save_ckpt(path, {"gen": gen_net.state_dict(), "ext": ext.state_dict(), "state": dict(state, done=done),
                         "readout": [steps, gen_steps], "shapes": gen_net.shapes, "targets": TARGETS,
                         "phase1": {"steps": int(base["state"]["step"]), "seconds": round(base["state"]["seconds"])}})

    # stage a: the conv branch and head read clean + pattern; the templates stay as they are
    train_params = list(ext.features.parameters()) + list(ext.head.parameters())
    opt = torch.optim.Adam(train_params, lr=1e-3)
    ext.templates.weight.requires_grad_(False)
    run = {}
    while state["ext_step"] < steps:
        step = state["ext_step"]
        ext.train()
        g = torch.Generator().manual_seed(SEED * 13 + step)
        opt.param_groups[0]["lr"] = 1e-3 * min(1.0, (step + 1) / 100) * 0.5 * (1 + math.cos(math.pi * step / steps))
        idx = torch.randint(0, n_pool, (batch,), generator=g)
        bits = torch.randint(0, 2, (batch, BITS), generator=g).float()
        with torch.no_grad():
            pats = key_pattern(ext0, bits, KEY_PATTERN_DB)
            scale = 0.6 + 0.5 * torch.rand(batch, 1, 1, 1, generator=g)
            power = pats.pow(2).mean() * READOUT_RESIDUAL * torch.rand(batch, generator=g)
            x = N.to_uint8_grid((clean_all[idx] + scale * pats + smooth_residual(batch, power, g)).clamp(-1, 1))
            names = attack_names(g)
            xa = attacked(x, names, g)
            xn = N.attack(N.to_uint8_grid(clean_all[torch.randint(0, n_pool, (batch // 2,), generator=g)]), names[1], g)
        logits = ext(torch.cat([xa, xn]))
        pos = logits[: len(xa)]
        l_bit = F.binary_cross_entropy_with_logits(pos, bits.repeat(len(names), 1))
        loss = l_bit + 0.05 * logits[len(xa):].pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        acc = ((pos > 0).float() == bits.repeat(len(names), 1)).float().mean().item()
        for k, v in (("bce", l_bit.item()), ("acc", acc)):
            run[k] = v if k not in run else 0.95 * run[k] + 0.05 * v
        state["ext_step"] = step + 1
        if step % 100 == 0 or state["ext_step"] == steps:
            log(f"readout {state['ext_step']}/{steps} bce {run['bce']:.4f} acc {run['acc']:.3f} ({time.time() - t0:.0f}s)")
        if time.time() - t_last > CKPT_EVERY_S:
            save()
            t_last = time.time()
    ext.eval()
    for p in ext.parameters():
        p.requires_grad_(False)
    save()

    # stage b: the generator writes for the new read-out (phase 1's loss, extractor frozen)
    opt = torch.optim.Adam(gen_net.parameters(), lr=3e-4)
    for p in gen_net.parameters():
        p.requires_grad_(True)
    gen_net.train()
    batch, run = (4 if smoke else BATCH), {}
    while state["gen_step"] < gen_steps:
        step = state["gen_step"]
        g = torch.Generator().manual_seed(SEED * 17 + step)
        idx = torch.randint(0, n_pool, (batch,), generator=g)
        feat, clean = data["feat"][idx].float(), clean_all[idx]
        bits = torch.randint(0, 2, (batch, BITS), generator=g).float()
        wm = generated_watermark(vae, layers, gen_net, feat, bits)
        l_img = image_loss(wm, clean)
        names = attack_names(g)
        pos = ext(attacked(N.to_uint8_grid(wm), names, g))
        l_bit = F.binary_cross_entropy_with_logits(pos, bits.repeat(len(names), 1))
        loss = state["w_img"] * l_img + l_bit
        opt.zero_grad()
        loss.backward()
        opt.step()
        p = psnr(wm.detach(), clean)
        state["w_img"] = next_w_img(state["w_img"], PSNR_TRAIN, p)
        acc = ((pos > 0).float() == bits.repeat(len(names), 1)).float().view(len(names), -1).mean(1)[0].item()
        for k, v in (("acc", acc), ("psnr", p)):
            run[k] = v if k not in run else 0.9 * run[k] + 0.1 * v
        state["gen_step"] = step + 1
        if step % 25 == 0 or state["gen_step"] == gen_steps:
            log(f"readout generator {state['gen_step']}/{gen_steps} clean acc {run['acc']:.3f} psnr {run['psnr']:.1f} "
                f"w_img {state['w_img']:.2f} ({time.time() - t0:.0f}s)")
        if time.time() - t_last > CKPT_EVERY_S:
            save()
            t_last = time.time()
    gen_net.eval()
    save(done=True)
    log(f"phase 1b done: {path}")


# ---------------------------------------------------------------- phase 1c
def generator(P, log, write_steps: int, read_steps: int, smoke: bool):
    """Phase 1c: the in-app key generator over every decoder conv (KeyToLoraLinear), against the
    phase-1b extractor (frozen): stage 1 regresses (watermarked - clean) onto random keys' template
    patterns, stage 2 trains on the bits read back after the attacks, with the image loss weighted by
    phase 1's rule toward GEN_PSNR. -> .cache/ckpt/watermark_generator.pt (resumable)"""
    path = P.ckpt / "watermark_generator.pt"
    _, ext, _ = load_trained(P, phase="1b")
    ck = load_ckpt(path)
    if ck is not None and ck["state"].get("done") and ck["steps"] == [write_steps, read_steps]:
        log(f"{path} is complete ({write_steps} + {read_steps} steps)")
        return
    vae = load_frozen_vae(P)
    targets = decoder_convs(vae)
    layers = install_lora(vae, targets)
    shapes = {t: tuple(get_module(vae, t).base.weight.shape) for t in targets}
    gen_net = KeyToLoraLinear(shapes, rank=GEN_RANK)
    state = {"write_step": 0, "read_step": 0, "w_img": GEN_MIN_W_IMG, "seconds": 0.0}
    opt = torch.optim.Adam(gen_net.parameters(), lr=3e-4)
    if ck is not None:
        gen_net.load_state_dict(ck["gen"])
        state = ck["state"]
        if ck.get("opt") is not None:
            opt.load_state_dict(ck["opt"])
        log(f"resumed phase 1c at {state['write_step']} + {state['read_step']}")
    data = pool(P, vae, 16 if smoke else TRAIN_POOL, SEED, log)
    mean = data["mean"].float()
    clean_all = clean_decodes(vae, layers, mean)
    batch, t0, t_last, sec0, run = (4 if smoke else 8), time.time(), time.time(), state["seconds"], None
    stage2_opt = state["read_step"] > 0      # a resumed stage 2 has its own optimizer state already

    def save(done=False):
        state["seconds"] = sec0 + time.time() - t0
        save_ckpt(path, {"gen": gen_net.state_dict(), "opt": opt.state_dict(), "state": dict(state, done=done),
                         "steps": [write_steps, read_steps], "shapes": shapes, "rank": GEN_RANK})

    while state["write_step"] + state["read_step"] < write_steps + read_steps:
        reading = state["write_step"] >= write_steps
        step = state["read_step"] if reading else state["write_step"]
        if reading and not stage2_opt:
            opt = torch.optim.Adam(gen_net.parameters(), lr=1e-4)   # stage 2 starts with a fresh optimizer
            stage2_opt, run = True, None
        g = torch.Generator().manual_seed(SEED * 13 + step)
        idx = torch.randint(0, len(mean), (batch,), generator=g)
        bits = torch.randint(0, 2, (batch, BITS), generator=g).float()
        wm = decode_full(vae, layers, mean[idx], gen_net(bits))
        if reading:
            logits = ext(attacked(N.to_uint8_grid(wm), attack_names(g), g))
            target = bits.repeat(logits.shape[0] // batch, 1)
            loss = F.binary_cross_entropy_with_logits(logits, target) + state["w_img"] * image_loss(wm, clean_all[idx])
            v = ((logits > 0).float() == target).float().mean().item()
        else:
            with torch.no_grad():
                pats = key_pattern(ext, bits, KEY_PATTERN_DB)
            loss = F.mse_loss(wm - clean_all[idx], pats)
            v = loss.item()
        opt.zero_grad()
        loss.backward()
        if reading:
            torch.nn.utils.clip_grad_norm_(gen_net.parameters(), 1.0)
        opt.step()
        if reading:
            state["w_img"] = max(GEN_MIN_W_IMG, next_w_img(state["w_img"], GEN_PSNR, psnr(wm.detach(), clean_all[idx])))
        run = v if run is None else 0.98 * run + 0.02 * v
        state["read_step" if reading else "write_step"] = step + 1
        if step % 50 == 0:
            what = f"attacked acc {run:.3f} w_img {state['w_img']:.2f}" if reading else f"pattern residual {run:.2e}"
            log(f"generator {'read' if reading else 'write'} {step + 1}/{read_steps if reading else write_steps} "
                f"{what} ({time.time() - t0:.0f}s)")
        if time.time() - t_last > CKPT_EVERY_S:
            save()
            t_last = time.time()
    save(done=True)
    log(f"phase 1c done: {path}")


# ---------------------------------------------------------------- phase 2
@torch.no_grad()
def clean_decodes(vae, layers: dict, mean: torch.Tensor) -> torch.Tensor:
    """The clean decoder output of every posterior mean (batches of 64)."""
    return torch.cat([decode_full(vae, layers, mean[i:i + 64], None) for i in range(0, len(mean), 64)])


def decode_full(vae, layers: dict, mean: torch.Tensor, factors: dict | None) -> torch.Tensor:
    """The whole decoder from posterior means, with a LoRA on any of its convs (None: clean)."""
    set_lora(layers, factors)
    try:
        return vae.decoder(mean)
    finally:
        set_lora(layers, None)


def key_pattern(ext: Extractor, bits: torch.Tensor, psnr_db: float) -> torch.Tensor:
    """The smallest image-space pattern (N, 3, 64, 64) per key (bits (48,) or (N, 48)), constant on
    8x8 blocks, whose template read-out (the extractor's linear branch: block means, colour mean
    removed) gives the key's signs, each scaled to psnr_db against a clean image."""
    t = ext.templates.weight.detach().double()                          # (48, 3*8*8)
    centre = torch.eye(64, dtype=torch.float64) - 1.0 / 64             # the read-out removes each colour's mean
    tc = t @ torch.block_diag(centre, centre, centre)
    blocks = (bits.reshape(-1, t.shape[0]).double() * 2 - 1) @ torch.linalg.pinv(tc).T
    pat = F.interpolate(blocks.view(-1, 3, 8, 8).float(), scale_factor=8, mode="nearest")
    return pat * (math.sqrt(4.0 * 10 ** (-psnr_db / 10)) / pat.pow(2).mean(dim=(1, 2, 3), keepdim=True).sqrt())


def finetune_key(P, log, bits: torch.Tensor, steps: tuple[int, int], smoke: bool) -> tuple[dict, dict]:
    """One key's LoRA over every decoder conv (decoder_convs), in two stages:
    1. write: regression of (watermarked - clean) onto the key's pattern (key_pattern), which gives
       the deltas, spread over the whole decoder, one scene-independent target to compose;
    2. read: EW-LoRA's dynamic loss weighting, BCE on the bits the frozen extractor reads from the
       watermarked image and two attacked copies, against the image loss.
    -> ({path: (A, B)}, history)"""
    write_steps, read_steps = steps
    seed_all(SEED + 2)
    vae = load_frozen_vae(P)
    targets = decoder_convs(vae)
    layers = install_lora(vae, targets)
    _, ext, _ = load_trained(P)
    data = pool(P, vae, 16 if smoke else TRAIN_POOL, SEED, log)
    mean = data["mean"].float()
    clean_all = clean_decodes(vae, layers, mean)
    g0 = torch.Generator().manual_seed(SEED + 3)
    params = {}
    for t in targets:
        o, i, kh, kw = get_module(vae, t).base.weight.shape
        params[t] = (torch.randn(RANK, i, kh, kw, generator=g0) / math.sqrt(i * kh * kw), torch.zeros(o, RANK))
        for x in params[t]:
            x.requires_grad_(True)
    pat = key_pattern(ext, bits, KEY_PATTERN_DB)
    n_pool, t0, hist = len(mean), time.time(), {}
    opt = torch.optim.Adam([t for ab in params.values() for t in ab], lr=3e-3)
    run = None
    for step in range(write_steps):
        g = torch.Generator().manual_seed(SEED * 7 + step)
        idx = torch.randint(0, n_pool, (4 if smoke else 8,), generator=g)
        wm = decode_full(vae, layers, mean[idx], params)
        loss = F.mse_loss(wm - clean_all[idx], pat.expand(len(idx), -1, -1, -1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        run = loss.item() if run is None else 0.95 * run + 0.05 * loss.item()
        if step % 100 == 0 or step == write_steps - 1:
            log(f"key {hex_from_bits(bits)} write {step + 1}/{write_steps} pattern residual {run:.2e} "
                f"(pattern power {pat.pow(2).mean().item():.2e}) ({time.time() - t0:.0f}s)")
    hist["write"] = {"steps": write_steps, "pattern_residual": run, "pattern_power": pat.pow(2).mean().item()}

    opt = torch.optim.Adam([t for ab in params.values() for t in ab], lr=5e-4)
    w_bit, w_img = 1.0, 20.0
    acc_t, psnr_t, succ = 0.80, PSNR_GOAL + 0.5, 0
    best, best_score, ema = None, -1.0, {}
    for step in range(read_steps):
        g = torch.Generator().manual_seed(SEED * 11 + step)
        idx = torch.randint(0, n_pool, (4 if smoke else 8,), generator=g)
        wm = decode_full(vae, layers, mean[idx], params)
        clean = clean_all[idx]
        l_img = image_loss(wm, clean)
        names = attack_names(g)
        logits = ext(attacked(N.to_uint8_grid(wm), names, g))
        target = bits[None].repeat(logits.shape[0], 1)
        l_bit = F.binary_cross_entropy_with_logits(logits, target)
        loss = w_img * l_img + w_bit * l_bit
        opt.zero_grad()
        loss.backward()
        opt.step()
        acc = ((logits > 0).float() == target).float().mean().item()
        p = psnr(wm.detach(), clean)
        # EW-LoRA: raise the bit weight while accuracy is under target, else the image weight while
        # PSNR is under target; after 5 successes in a row raise both targets. Added here: the
        # 30 dB goal is a floor checked first (with an accuracy target out of reach the rule alone
        # lets the bit weight grow without bound and the PSNR fall).
        if p < PSNR_GOAL:
            w_img *= 1.1
            succ = 0
        elif acc < acc_t:
            w_bit *= 1.1
            succ = 0
        elif p < psnr_t:
            w_img *= 1.1
            succ = 0
        else:
            succ += 1
            if succ >= 5:
                acc_t, psnr_t, succ = min(acc_t + 0.01, 0.995), min(psnr_t + 0.25, 40.0), 0
        for k, v in (("acc", acc), ("psnr", p)):
            ema[k] = v if k not in ema else 0.9 * ema[k] + 0.1 * v
        score = ema["acc"] if ema["psnr"] >= PSNR_GOAL + 0.3 else ema["psnr"] / 100.0
        if step >= read_steps // 5 and score > best_score:
            best_score = score
            best = {q: (a.detach().clone(), b.detach().clone()) for q, (a, b) in params.items()}
        if step % 25 == 0 or step == read_steps - 1:
            log(f"key {hex_from_bits(bits)} read {step + 1}/{read_steps} acc {ema['acc']:.3f} psnr {ema['psnr']:.1f} "
                f"targets ({acc_t:.2f}, {psnr_t:.2f}) w_bit {w_bit:.2f} w_img {w_img:.1f} ({time.time() - t0:.0f}s)")
    if best is None:
        best = {q: (a.detach().clone(), b.detach().clone()) for q, (a, b) in params.items()}
    hist["read"] = {"steps": read_steps, "final_targets": [round(acc_t, 3), round(psnr_t, 2)]}
    hist["seconds"] = round(time.time() - t0)
    return best, hist


def write_key(out: Path, name: str, bits: torch.Tensor, factors: dict, key_id: str | None = None) -> dict:
    from .lora import write_safetensors
    out.mkdir(parents=True, exist_ok=True)
    t = {}
    for path, (a, b) in factors.items():
        t[peft_name(path, "A")] = a.reshape(a.shape[-4:]) if a.dim() > 4 else a
        t[peft_name(path, "B")] = b.reshape(b.shape[-2], b.shape[-1], 1, 1)
    lora = f"{name}.peft.safetensors"
    write_safetensors(out / lora, t, {"lora_adapter_metadata": json.dumps({"vae.r": RANK, "vae.lora_alpha": ALPHA})})
    key = {"id": key_id or name, "name": name, "bits": hex_from_bits(bits),
           "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "lora": lora}
    write_json(out / f"{name}.key.json", key)
    return key


# ---------------------------------------------------------------- evaluation (Python side)
@torch.no_grad()
def evaluate(P, log, factors_for, n: int, smoke: bool) -> dict:
    """Bit accuracy clean and after the real attacks (Pillow), and PSNR, on n held-out scenes.
    factors_for(i) -> (bits, factors) for held-out image i."""
    vae = load_frozen_vae(P)
    layers = install_lora(vae, decoder_convs(vae))
    _, ext, _ = load_trained(P)
    data = pool(P, vae, n, HELDOUT_SEED, log)
    rng = np.random.default_rng(HELDOUT_SEED)
    from .vae import to_uint8, to_tensor
    correct = {a: 0.0 for a in N.REAL_ATTACKS}
    mse, neg_k = [], []
    for i in range(n):
        bits, factors = factors_for(i)
        mean = data["mean"][i:i + 1].float()
        clean = decode_full(vae, layers, mean, None)
        wm = decode_full(vae, layers, mean, factors)
        w8, c8 = to_uint8(wm)[0], to_uint8(clean)[0]
        mse.append(((w8.astype(np.float64) - c8) ** 2).mean())
        imgs = np.stack([N.real_attack(w8, a, rng) for a in N.REAL_ATTACKS])
        logits = ext(to_tensor(imgs))
        for a, l in zip(N.REAL_ATTACKS, logits):
            correct[a] += ((l > 0).float() == bits).float().mean().item()
        neg = ext(to_tensor(c8[None]))[0]
        neg_k.append(int(((neg > 0).float() == bits).sum()))
    res = {f"bit_acc_{a}": round(correct[a] / n, 4) for a in N.REAL_ATTACKS}
    m = float(np.mean(mse))
    res["psnr_db"] = round(10 * math.log10(255.0 ** 2 / max(m, 1e-12)), 2)
    res["psnr_db_min"] = round(min(10 * math.log10(255.0 ** 2 / max(x, 1e-12)) for x in mse), 2)
    res["unwatermarked_matching_bits_mean"] = round(float(np.mean(neg_k)), 2)
    res["unwatermarked_matching_bits_max"] = int(max(neg_k))
    res["n"] = n
    return res


@torch.no_grad()
def check_bake(P, factors: dict) -> float:
    """The peft semantics the engine bakes (W + alpha/r * B @ A) give the LoRA path's image."""
    vae = load_frozen_vae(P)
    layers = install_lora(vae, list(factors))
    mean = torch.randn(2, latent_channels(vae), 8, 8, generator=torch.Generator().manual_seed(3))
    ref = decode_full(vae, layers, mean, factors)
    for path, layer in layers.items():
        a, b = factors[path]
        layer.base.weight += (ALPHA / RANK) * (b.reshape(b.shape[-2], -1) @ a.reshape(a.shape[-4], -1)).view_as(layer.base.weight)
    return (vae.decoder(mean) - ref).abs().max().item()


@torch.no_grad()
def ort_parity(out: Path, gen_net, ext, log) -> dict | None:
    """The exported graphs in onnxruntime-node (node/wmcheck.mjs) against PyTorch on fixed inputs."""
    g = torch.Generator().manual_seed(11)
    image = torch.rand(4, 3, 64, 64, generator=g) * 2 - 1
    key = torch.randint(0, 2, (1, BITS), generator=g).float()
    res = run_node_json("wmcheck.mjs", {"dir": str(out), "n": 4, "image": image.flatten().tolist(),
                                        "key_bits": key[0].tolist()}, 300, log, "onnxruntime-node check")
    if res is None:
        return None
    diff = {"extractor": (torch.tensor(res["bit_logits"]).view(4, BITS) - ext(image)).abs().max().item()}
    ref = KeyToLoraExport(gen_net)(key)
    diff["key_to_lora"] = max((torch.tensor(res["lora"][n]).view_as(t) - t).abs().max().item()
                              for n, t in zip(KeyToLoraExport(gen_net).output_names(), ref))
    log(f"onnxruntime-node vs torch max |diff|: {diff}")
    if max(diff.values()) > 1e-3:
        raise SystemExit(f"exported watermark graphs differ from PyTorch: {diff}")
    return {k: float(f"{v:.2e}") for k, v in diff.items()}


# ---------------------------------------------------------------- export
def export_onnx(out: Path, log, net, name: str) -> None:
    """extractor.onnx or key_to_lora.onnx, checked with onnx.checker."""
    with torch.no_grad():
        if name == "extractor.onnx":
            torch.onnx.export(net, (torch.zeros(1, 3, 64, 64),), str(out / name), input_names=["image"],
                              output_names=["bit_logits"],
                              dynamic_axes={"image": {0: "batch_size"}, "bit_logits": {0: "batch_size"}},
                              opset_version=OPSET, do_constant_folding=True)
        else:
            wrap = KeyToLoraExport(net)
            torch.onnx.export(wrap, (torch.zeros(1, BITS),), str(out / name), input_names=["key_bits"],
                              output_names=wrap.output_names(), opset_version=OPSET, do_constant_folding=True)
    check_onnx(out / name)
    log(f"exported {out / name} ({(out / name).stat().st_size / 1e6:.2f} MB), onnx.checker ok")


KEY_TRAIN = {"steps": 300, "lr": 0.03, "factor_lr": 0.006, "psnr_target_db": 32.0, "min_w_img": 1.0}   # the app's recipe (README: recipes tried)


def export_key_trainer(P, out: Path, log, gen_net, smoke: bool) -> dict | None:
    """key_trainer.onnx (zoo/wm_trainer.py: one fine-tuning step of a key's LoRA as a graph, so the
    app trains the keys it makes), checked with onnx.checker and, in onnxruntime-node, against
    PyTorch's autograd. -> the manifest's key_trainer entry (None: no phase-1c generator to tune)."""
    from . import wm_trainer as T
    if not isinstance(gen_net, KeyToLoraLinear):
        log("key trainer skipped: it tunes phase 1c's generator, which is not trained")
        return None
    vae = load_frozen_vae(P)                       # fresh copies: the export rewrites modules in place
    _, ext, _ = load_trained(P)
    targets = list(gen_net.shapes)
    latents = pool(P, vae, 16 if smoke else TRAIN_POOL, SEED, log)["mean"][:T.SCENES].float()
    g = torch.Generator().manual_seed(12)
    bits = torch.randint(0, 2, (BITS,), generator=g).float()
    with torch.no_grad():
        factors = list(KeyToLoraExport(gen_net)(bits[None]))
        clean = vae.decoder(latents[:T.BATCH])
    path = out / "key_trainer.onnx"
    step = T.export_trainer(path, vae, ext, targets, latents, factors, gen_net.rank, OPSET)
    check_onnx(path)
    log(f"exported {path} ({path.stat().st_size / 1e6:.2f} MB), onnx.checker ok")
    gains = torch.ones(len(targets), gen_net.rank)
    indices = torch.arange(T.BATCH)
    ref = T.reference_step(step, gains, factors, indices, bits, clean, torch.tensor(1.0))
    ref_grad = torch.cat([ref[1].flatten(), *[g.flatten() for g in ref[4:]]])
    res = None if smoke else run_node_json("wmcheck.mjs", {
        "dir": str(out), "n": 1, "image": [0.0] * (3 * 64 * 64), "key_bits": bits.tolist(),
        "trainer": {"file": path.name, "gains": gains.flatten().tolist(), "gains_dims": list(gains.shape),
                    "indices": indices.tolist(), "clean": clean.flatten().tolist(), "w_img": 1.0}},
        300, log, "onnxruntime-node key trainer check")
    parity = None
    if res is not None:
        got = torch.tensor(res["trainer"]["grads"])
        parity = ((got - ref_grad).abs().max() / ref_grad.abs().max()).item()
        log(f"key trainer gradient, onnxruntime-node vs autograd: max |diff| {parity:.2e} of the largest")
        if parity > 0.02:      # uint8 rounding and JPEG quantization may flip a few steps, no more
            raise SystemExit(f"key_trainer.onnx's gradient differs from autograd's by {parity:.3f} of its scale")
    return {"file": path.name, "batch": T.BATCH, "scenes": int(latents.shape[0]), "views": T.VIEWS,
            "gains_shape": [len(targets), gen_net.rank], "trains": ["gains", "lora_A"], **KEY_TRAIN,
            "grad_parity_max_rel_diff": None if parity is None else float(f"{parity:.2e}")}


def generated_figures(P, log, gen_net, smoke: bool) -> dict:
    """Python-side figures of keys made by the generator: held-out scenes, a few random keys."""
    n = 8 if smoke else HELDOUT_POOL
    keys = torch.randint(0, 2, (max(1, n // 32), BITS), generator=torch.Generator().manual_seed(HELDOUT_SEED)).float()
    with torch.no_grad():
        gen_factors = [{p: (a[0], b[0]) for p, (a, b) in gen_net(k[None]).items()} for k in keys]
    res = evaluate(P, log, lambda i: (keys[i % len(keys)], gen_factors[i % len(keys)]), n, smoke)
    log(f"  generated LoRA ({len(keys)} random keys): {json.dumps(res)}")
    return res


def generator_fields(gen_net, ck) -> dict:
    """The manifest's description of the generator key_to_lora.onnx holds."""
    rank, alpha = gen_net.rank, gen_net.alpha
    gs = ck.get("generator")
    return {"rank": rank, "alpha": alpha, "targets": [f"vae.{p}" for p in gen_net.shapes],
            "generator": ({"kind": "linear in the bits over every decoder conv (phase 1c)", "rank": rank,
                           "write_steps": int(gs["write_step"]), "read_steps": int(gs["read_step"]),
                           "seconds": round(gs["seconds"])} if gs else
                          {"kind": "MLP on the bits over three convs (phase 1, fine-tuned in phase 1b)", "rank": rank})}


def export_generator(P, log, smoke: bool):
    """Only the key-to-LoRA generator, into an existing models/tiny/watermark (after phase 1c):
    key_to_lora.onnx, the parity check, generated keys' figures and the manifest's generator fields.
    The extractor and the demo key stay exactly as they are."""
    out = P.tiny / "watermark"
    man = json.loads((out / "watermark.json").read_text())
    gen_net, ext, ck = load_trained(P)
    export_onnx(out, log, gen_net, "key_to_lora.onnx")
    parity = None if smoke else ort_parity(out, gen_net, ext, log)
    trainer = export_key_trainer(P, out, log, gen_net, smoke)
    fields = generator_fields(gen_net, ck)
    man.update({k: fields[k] for k in ("rank", "alpha", "targets")})
    man.pop("key_trainer", None)
    if trainer:
        man["key_trainer"] = trainer
    man["trained"]["generator"] = fields["generator"]
    man["ort_parity_max_abs_diff"] = parity
    man["python_eval"]["generated"] = generated_figures(P, log, gen_net, smoke)
    write_json(out / "watermark.json", man)
    log(f"wrote {out / 'key_to_lora.onnx'} and {out / 'watermark.json'}")


def export(P, log, smoke: bool, key_steps: tuple[int, int]):
    out = P.tiny / "watermark"
    out.mkdir(parents=True, exist_ok=True)
    gen_net, ext, ck = load_trained(P)
    export_onnx(out, log, ext, "extractor.onnx")
    export_onnx(out, log, gen_net, "key_to_lora.onnx")
    parity = None if smoke else ort_parity(out, gen_net, ext, log)
    trainer = export_key_trainer(P, out, log, gen_net, smoke)

    bits = bits_from_hex(DEMO_BITS)
    factors, hist = finetune_key(P, log, bits, key_steps, smoke)
    write_key(out, "demo", bits, factors, key_id="demo")
    err = check_bake(P, factors)
    log(f"bake check: baked weights vs LoRA path max |diff| {err:.2e}")
    if err > 1e-4:
        raise SystemExit(f"baked watermark LoRA differs from the LoRA path by {err}")

    log(f"python-side figures (Pillow attacks) on {8 if smoke else HELDOUT_POOL} held-out scenes:")
    generated = generated_figures(P, log, gen_net, smoke)
    finetuned = evaluate(P, log, lambda i: (bits, factors), 8 if smoke else HELDOUT_POOL, smoke)
    log(f"  fine-tuned demo LoRA: {json.dumps(finetuned)}")
    st = ck["state"]
    phase1 = ck.get("phase1") or {"steps": int(st["step"]), "seconds": round(st["seconds"])}
    phase1b = ({"extractor_steps": int(st["ext_step"]), "generator_steps": int(st["gen_step"]),
                "seconds": round(st["seconds"])} if "ext_step" in st else None)
    fields = generator_fields(gen_net, ck)
    write_json(out / "watermark.json", {
        "format": "atelier-watermark/1", "bits": BITS, "image_size": [64, 64], "input_range": [-1, 1],
        "extractor": "extractor.onnx", "key_to_lora": "key_to_lora.onnx",
        **{k: fields[k] for k in ("rank", "alpha", "targets")},
        **({"key_trainer": trainer} if trainer else {}),
        "trained": {"steps": phase1["steps"], "seconds": phase1["seconds"], "batch": 4 if smoke else BATCH,
                    "attacks": ["identity"] + TRAIN_ATTACKS, "readout": phase1b, "generator": fields["generator"],
                    "demo_key": hist},
        "psnr_target_db": PSNR_GOAL,
        "ort_parity_max_abs_diff": parity,
        "python_eval": {"attacks": "Pillow: JPEG q50 4:2:0; Lanczos to 32x32, bilinear back; random 90%-area window, bilinear back; GaussianBlur(1.0)",
                        "generated": generated, "demo_finetuned": finetuned},
        "notes": "Extractor input: RGB float32 in [-1, 1] (uint8 / 127.5 - 1), 64x64; bit i = 1 when bit_logits[i] > 0. "
                 "key_to_lora: key_bits float32 [1, 48] in {0, 1}, bit 0 = most significant bit of the first hex digit; "
                 "outputs are the peft tensors (vae.<module>.lora_A.weight [r, in, kh, kw], lora_B.weight [out, r, 1, 1]), "
                 "scale alpha / r. demo.peft.safetensors: the per-key trained LoRA of demo.key.json, over every decoder conv "
                 "(pattern regression, then EW-LoRA's dynamic loss weighting; zoo.watermark key).",
        "smoke": smoke,
    })
    log(f"wrote {out}")


# ---------------------------------------------------------------- CLI
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", nargs="?", default="all", choices=["all", "train", "readout", "generator", "key", "export"])
    ap.add_argument("--smoke", action="store_true", help="a few steps into a temp dir, export, onnx.checker")
    ap.add_argument("--smoke-root", default=None)
    ap.add_argument("--steps", type=int, default=None, help=f"phase-1 steps (train; default {STEPS}) or the "
                    f"extractor's read-out steps (readout; default {READOUT_STEPS})")
    ap.add_argument("--gen-steps", type=int, default=None,
                    help=f"readout: the generator's steps against the new extractor (default {READOUT_GEN_STEPS})")
    ap.add_argument("--write-steps", type=int, default=None,
                    help=f"per-key stage 1 steps (key, export; default {KEY_WRITE_STEPS}); generator: phase 1c's "
                         f"stage 1 (default {GEN_WRITE_STEPS})")
    ap.add_argument("--read-steps", type=int, default=None,
                    help=f"per-key stage 2 steps (key, export; default {KEY_READ_STEPS}); generator: phase 1c's "
                         f"stage 2 (default {GEN_READ_STEPS})")
    ap.add_argument("--generator-only", action="store_true",
                    help="export: only key_to_lora.onnx and its figures (the extractor and demo key stay)")
    ap.add_argument("--bits", help="key: 12 hex digits (48 bits, most significant bit first)")
    ap.add_argument("--name", default=None, help="key: file name stem (default key-<bits>)")
    ap.add_argument("--out", default=None, help="key: output folder")
    args = ap.parse_args(argv)
    set_threads()
    P = paths_from_args(args)
    log = Logger(P.logs / "watermark.log")
    key_steps = (args.write_steps or (3 if args.smoke else KEY_WRITE_STEPS),
                 args.read_steps or (3 if args.smoke else KEY_READ_STEPS))
    if args.command in ("all", "train"):
        train(P, log, args.steps or (3 if args.smoke else STEPS), args.smoke)
    if args.command in ("all", "readout"):
        readout(P, log, args.steps if args.command == "readout" and args.steps else (3 if args.smoke else READOUT_STEPS),
                args.gen_steps or (3 if args.smoke else READOUT_GEN_STEPS), args.smoke)
    if args.command in ("all", "generator"):
        own = args.command == "generator"
        generator(P, log, (args.write_steps if own and args.write_steps else (3 if args.smoke else GEN_WRITE_STEPS)),
                  (args.read_steps if own and args.read_steps else (3 if args.smoke else GEN_READ_STEPS)), args.smoke)
    if args.command == "export" and args.generator_only:
        export_generator(P, log, args.smoke)
    elif args.command in ("all", "export"):
        export(P, log, args.smoke, key_steps)
    if args.command == "key":
        if not args.bits or not args.out:
            raise SystemExit("key needs --bits HEX12 and --out DIR")
        bits = bits_from_hex(args.bits)
        name = args.name or f"key-{args.bits.lower()}"
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", name):
            raise SystemExit(f"--name must be 1-64 of A-Z a-z 0-9 . _ -, got {name!r}")
        factors, _ = finetune_key(P, log, bits, key_steps, args.smoke)
        key = write_key(Path(args.out), name, bits, factors)
        log(f"wrote {Path(args.out) / key['lora']} and {name}.key.json")


if __name__ == "__main__":
    main()
