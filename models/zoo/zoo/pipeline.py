"""The sampling procedure the TypeScript engine re-implements (docs/zoo-contract.md).

text-to-image: noise = Philox(seed) of shape (1, 16, 8, 8) -> packed 2x2 -> Euler flow matching
over the shifted sigma schedule (scheduler_config.json) -> unpack -> z / scale + shift -> VAE
decode -> uint8 RGB = round(clamp((x + 1) / 2, 0, 1) * 255).
edit (Kontext): the source PNG -> [-1, 1] -> vae_encoder mean -> (mean - shift) * scale ->
packed context tokens appended after the noisy target tokens, ids [1, row, col] after
[0, row, col]; the velocity is sliced to the target tokens. Guidance is passed as the
`guidance` input, fed 1; with true CFG (the manifest's guidance_mode) each step also runs the empty prompt.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .mmdit import image_ids, pack, unpack
from .philox import philox_noise

SCHEDULER_CONFIG = {
    "_class_name": "FlowMatchEulerDiscreteScheduler",
    "_diffusers_version": "0.32.0",
    "base_image_seq_len": 16,
    "base_shift": 0.5,
    "invert_sigmas": False,
    "max_image_seq_len": 256,
    "max_shift": 1.15,
    "num_train_timesteps": 1000,
    "shift": 1.0,
    "shift_terminal": None,
    "stochastic_sampling": False,
    "time_shift_type": "exponential",
    "use_beta_sigmas": False,
    "use_dynamic_shifting": True,
    "use_exponential_sigmas": False,
    "use_karras_sigmas": False,
}
LATENT_C, LATENT_HW = 16, 8


def calc_mu(seq_len: int, cfg=SCHEDULER_CONFIG) -> float:
    m = (cfg["max_shift"] - cfg["base_shift"]) / (cfg["max_image_seq_len"] - cfg["base_image_seq_len"])
    b = cfg["base_shift"] - m * cfg["base_image_seq_len"]
    return seq_len * m + b


def shift_sigma(s, mu):
    return math.exp(mu) / (math.exp(mu) + (1.0 / s - 1.0))


def sigma_schedule(steps: int, seq_len: int = 16, cfg=SCHEDULER_CONFIG) -> np.ndarray:
    """float64 (steps + 1,): linspace(1, 1/N, N) shifted by mu(seq_len), then a final 0."""
    s = np.linspace(1.0, 1.0 / steps, steps)
    mu = calc_mu(seq_len, cfg)
    s = np.exp(mu) / (np.exp(mu) + (1.0 / s - 1.0))
    return np.append(s, 0.0)


class Sampler:
    """Runs the tiny Kontext model's torch modules exactly like the ONNX pipeline."""

    def __init__(self, clip, t5, transformer, vae, stats, clip_tok, t5_tok, true_cfg: bool = True):
        self.clip, self.t5, self.tr, self.vae = clip, t5, transformer, vae
        self.true_cfg = true_cfg
        self.shift, self.scale = stats["shift_factor"], stats["scaling_factor"]
        self.clip_tok, self.t5_tok = clip_tok, t5_tok

    @torch.no_grad()
    def encode_text(self, texts):
        c = torch.tensor([self.clip_tok.encode(t) for t in texts], dtype=torch.int32)
        t = torch.tensor([self.t5_tok.encode(x) for x in texts], dtype=torch.int64)
        _, pooled = self.clip(c)
        return self.t5(t), pooled

    @torch.no_grad()
    def encode_images(self, imgs_u8: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(imgs_u8)).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)
        m, _ = self.vae.encode(x)
        return (m - self.shift) * self.scale

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> np.ndarray:
        x = self.vae.decode(z / self.scale + self.shift)
        y = torch.round(((x + 1.0) / 2.0).clamp(0.0, 1.0) * 255.0)
        return y.to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()

    def cfg_scale(self, guidance: float) -> float | None:
        """The true-CFG scale at this guidance (the negative pass runs), or None (one pass)."""
        return guidance if self.true_cfg and guidance > 1 else None

    @torch.no_grad()
    def sample(self, texts, seeds, steps=20, guidance=1.0, context=None, text_emb=None, on_pass=None,
               img_cfg=None, edit_start=None, prompt_velocity=None) -> torch.Tensor:
        """-> normalised latents (B, 16, 8, 8). context: normalised source latents or None.
        With true_cfg (the manifest's guidance_mode "true_cfg", the engine's FluxSpec.trueCfg) and
        guidance > 1, each step also runs the empty prompt and takes v_neg + g (v - v_neg); the
        embedded guidance input gets 1. on_pass("prompt" | "negative") runs before each transformer
        call (SliderEdit's per-token scales address the prompt only). img_cfg: an experiment (image
        guidance, InstructPix2Pix-style), not the engine's procedure. edit_start: an experiment
        (SDEdit-style): an edit starts at the first sigma <= edit_start from (1 - s) context + s noise
        instead of pure noise, and runs the remaining steps. prompt_velocity: a diagnostic (see
        zoo.slideredit_probe): called as prompt_velocity(call) in place of the prompt pass, where
        call(ctx, pooled) runs the transformer on that text at this step and returns the target
        tokens' velocity, so a caller can combine the velocities of several instructions."""
        B = len(seeds)
        ctx, pooled = text_emb if text_emb is not None else self.encode_text(texts)
        cfg = self.cfg_scale(guidance)
        if cfg is not None:
            guidance = 1.0
            uctx, upooled = self.encode_text([""] * B)
        x = torch.from_numpy(np.stack([philox_noise(s, (1, LATENT_C, LATENT_HW, LATENT_HW))[0] for s in seeds]))
        n_img = (LATENT_HW // 2) ** 2
        ids = image_ids(LATENT_HW, LATENT_HW, 0)
        cpk = None
        if context is not None:
            cpk = pack(context)
            ids = torch.cat([ids, image_ids(LATENT_HW, LATENT_HW, 1)])
        txt_ids = torch.zeros(ctx.shape[1], 3)
        sig = sigma_schedule(steps, n_img)
        g = torch.full((B,), float(guidance))
        first = 0
        if edit_start is not None and context is not None:
            first = int(np.argmax(sig <= edit_start))
            s0 = float(np.float32(sig[first]))
            x = (1.0 - s0) * context + s0 * x
        xp = pack(x)
        for i in range(first, steps):
            t = torch.full((B,), float(np.float32(sig[i])))
            inp = xp if cpk is None else torch.cat([xp, cpk], 1)
            if on_pass:
                on_pass("prompt")
            call = lambda c, p, inp=inp, t=t: self.tr(inp, c, p, t, ids, txt_ids, g)[:, :n_img]
            v = call(ctx, pooled) if prompt_velocity is None else prompt_velocity(call)
            if cfg is not None:
                if on_pass:
                    on_pass("negative")
                vu = self.tr(inp, uctx, upooled, t, ids, txt_ids, g)[:, :n_img]
                if img_cfg is not None and cpk is not None:
                    vuu = self.tr(xp, uctx, upooled, t, ids[:n_img], txt_ids, g)
                    v = vuu + img_cfg * (vu - vuu) + cfg * (v - vu)
                else:
                    v = vu + cfg * (v - vu)
            xp = xp + float(np.float32(sig[i + 1] - sig[i])) * v
        return unpack(xp, LATENT_HW, LATENT_HW)
