"""The watermark's networks: the 48-bit extractor (HiDDeN-style decoder), the key-conditioned LoRA
generator (WOUAF-style weight generation: key bits -> the LoRA factors of the target convs), the
LoRA-carrying conv that wraps a frozen VAE decoder conv, and the frozen decoder split into a cached
prefix and a trainable-through tail.

Target layers: the first resnet of the last decoder block (conv1 3x3 32 -> 16, conv2 3x3 16 -> 16,
conv_shortcut 1x1 32 -> 16, at 64x64), not the last conv (3 output channels). Measured on this
VAE: its inner features (checked at 16x16) still vary in space over a plain background (what
earlier zero padding leaves; the decoder cancels it in its output), so a rank-4 delta can draw
spatial patterns; for one scene, at the generator's initial weights (PSNR 25 dB), a ridge read-out
of the 8x8 block means decoded 48 random-key bits at 0.985 (300 keys fit, 100 held out). What
makes it hard is that the patterns depend on the scene. Everything before the targets is frozen
and cached per scene (decoder_prefix): the tail left to run is about a quarter of the decoder's
multiply-adds.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

BITS = 48
RANK = 4
ALPHA = 4.0
TARGETS = ["decoder.up_blocks.3.resnets.0.conv1", "decoder.up_blocks.3.resnets.0.conv2",
           "decoder.up_blocks.3.resnets.0.conv_shortcut"]


def get_module(root: nn.Module, path: str) -> nn.Module:
    m = root
    for p in path.split("."):
        m = m[int(p)] if p.isdigit() else getattr(m, p)
    return m


class LoraConv(nn.Module):
    """A frozen Conv2d plus an optional LoRA delta: y = conv(x) + (alpha / r) * B (A * x).
    A: (N, r, in, kh, kw) per sample or (r, in, kh, kw) shared; B: (N, out, r) or (out, r); r is the
    factors' own (the zoo's LoRAs all have alpha = r, so the scale is 1 whatever the rank)."""

    def __init__(self, base: nn.Conv2d, rank: int = RANK, alpha: float = ALPHA):
        super().__init__()
        self.base = base
        self.rank, self.scale = rank, alpha / rank
        self.A: torch.Tensor | None = None
        self.B: torch.Tensor | None = None

    def forward(self, x):
        y = self.base(x)
        if self.A is None:
            return y
        n = x.shape[0]
        a = self.A if self.A.dim() == 5 else self.A.unsqueeze(0).expand(n, *self.A.shape)
        b = self.B if self.B.dim() == 3 else self.B.unsqueeze(0).expand(n, *self.B.shape)
        patches = F.unfold(x, self.base.kernel_size, padding=self.base.padding, stride=self.base.stride)
        h = torch.bmm(a.reshape(n, a.shape[1], -1), patches)     # the factors' own rank
        d = torch.bmm(b, h).view(n, -1, *y.shape[-2:])
        return y + self.scale * d


def decoder_convs(vae: nn.Module) -> list[str]:
    """Every conv of the VAE decoder, in order: the per-key LoRA's targets (watermark.finetune_key).
    A weight delta is linear in its layer's input, and on flat one-colour scenes one layer's input
    barely varies in space, so no single layer can write a scene-independent pattern (measured:
    models/zoo/README.md, "Known limit"). Spread over the whole decoder the deltas compose
    nonlinearly, and the stack at latent resolution can compute absolute position from its zero
    padding; one key's LoRA over all 27 convs then writes its pattern on held-out scenes (the
    README's measurements)."""
    return [n for n, m in vae.named_modules() if n.startswith("decoder.") and isinstance(m, nn.Conv2d)]


def install_lora(vae: nn.Module, targets=TARGETS) -> dict:
    """Wrap each target conv of the (frozen) VAE in a LoraConv; -> {path: LoraConv}."""
    out = {}
    for path in targets:
        parent_path, _, leaf = path.rpartition(".")
        parent = get_module(vae, parent_path)
        cur = parent[int(leaf)] if leaf.isdigit() else getattr(parent, leaf)
        if not isinstance(cur, LoraConv):
            cur = LoraConv(cur)
            if leaf.isdigit():
                parent[int(leaf)] = cur
            else:
                setattr(parent, leaf, cur)
        out[path] = cur
    return out


def set_lora(layers: dict, factors: dict | None) -> None:
    """factors: {path: (A, B)} (layers it does not name run without a delta), or None to switch the
    watermark off."""
    for path, layer in layers.items():
        layer.A, layer.B = (None, None) if factors is None else factors.get(path, (None, None))


# ---------------------------------------------------------------- decoder split
@torch.no_grad()
def decoder_prefix(vae, mean: torch.Tensor) -> torch.Tensor:
    """The frozen part before the first target: conv_in, mid block, up blocks 0-2.
    -> (N, 32, 64, 64)."""
    d = vae.decoder
    x = d.mid_block(d.conv_in(mean))
    for b in d.up_blocks[:3]:
        x = b(x)
    return x


def decoder_tail(vae, feat: torch.Tensor) -> torch.Tensor:
    """The rest of the decoder (holds every target): features -> RGB (N, 3, 64, 64)."""
    d = vae.decoder
    x = d.up_blocks[3](feat)
    return d.conv_out(d.conv_act(d.conv_norm_out(x)))


# ---------------------------------------------------------------- extractor
class Extractor(nn.Module):
    """image (N, 3, 64, 64) in [-1, 1] -> bit_logits (N, 48). Two branches, summed:
    - templates: a linear read-out of the image's 8x8 block means (its colour mean removed), so a
      low-frequency pattern that survives JPEG, downscaling and blur; initialized to random
      orthogonal templates, it gives the LoRA generator a fixed target to write to from the first
      step (a randomly initialized conv net alone gives it no usable gradient for a long time);
    - conv: strided convs down to 4x4 and a linear layer over the 4x4 map (zero-initialized), which
      learns what the templates miss. Phase 1b (watermark.readout) retrains it, templates fixed, to
      cancel what the scene itself projects onto the templates (host interference), which capped
      the template read-out at 0.85 bit accuracy even for a perfectly written pattern."""

    def __init__(self, bits: int = BITS, width: int = 16, gain: float = 2.0):
        super().__init__()
        w = width
        chans = [(3, w, 1), (w, w, 2), (w, 2 * w, 2), (2 * w, 2 * w, 1), (2 * w, 4 * w, 2), (4 * w, 4 * w, 2)]
        layers = []
        for cin, cout, s in chans:
            layers += [nn.Conv2d(cin, cout, 3, stride=s, padding=1), nn.BatchNorm2d(cout), nn.LeakyReLU(0.1)]
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(4 * w * 16, bits)
        self.templates = nn.Linear(3 * 8 * 8, bits, bias=False)
        with torch.no_grad():
            self.head.weight.zero_()
            self.head.bias.zero_()
            q, _ = torch.linalg.qr(torch.randn(3 * 8 * 8, bits, generator=torch.Generator().manual_seed(48)))
            self.templates.weight.copy_(q.T * gain)

    def forward(self, image):
        blocks = F.avg_pool2d(image, 8)
        blocks = blocks - blocks.mean(dim=(2, 3), keepdim=True)
        return self.head(self.features(image).flatten(1)) + self.templates(blocks.flatten(1))


# ---------------------------------------------------------------- key -> LoRA generator
class KeyToLora(nn.Module):
    """key bits (N, 48) in {0, 1} -> the LoRA factors of every target conv, per sample:
    {path: (A (N, r, in, kh, kw), B (N, out, r))}. An MLP on the bits as +-1; the last layer's
    bias is the key-independent part of the factors; a linear skip from the bits gives the bits a
    direct path to the factors (the watermark starts as a sum of 48 signed patterns)."""

    def __init__(self, shapes: dict, bits: int = BITS, hidden: int = 128, rank: int = RANK, b_init: float = 0.15):
        super().__init__()
        self.rank, self.alpha = rank, ALPHA
        self.shapes = {p: tuple(s) for p, s in shapes.items()}      # path -> (out, in, kh, kw)
        self.sizes = []
        for p, (o, i, kh, kw) in self.shapes.items():
            self.sizes += [rank * i * kh * kw, o * rank]
        self.mlp = nn.Sequential(nn.Linear(bits, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU())
        self.out = nn.Linear(hidden, sum(self.sizes))
        self.skip = nn.Linear(bits, sum(self.sizes), bias=False)   # a direct, linear path from the bits
        # start with a key-dependent delta of about 35-40 dB PSNR: strong enough for the extractor
        # to find, weak enough for the image loss (B's key-independent part starts at zero)
        with torch.no_grad():
            bias, skip = [], []
            for p, (o, i, kh, kw) in self.shapes.items():
                fan = i * kh * kw
                bias += [torch.zeros(rank * fan), torch.randn(o * rank) * b_init]
                skip += [torch.randn(rank * fan, bits) / (fan * bits) ** 0.5, torch.zeros(o * rank, bits)]
            self.out.bias.copy_(torch.cat(bias))
            self.out.weight.mul_(0.1)
            self.skip.weight.copy_(torch.cat(skip))

    def forward(self, key_bits):
        s = key_bits * 2.0 - 1.0
        v = self.out(self.mlp(s)) + self.skip(s)
        parts = torch.split(v, self.sizes, dim=1)
        n, res = key_bits.shape[0], {}
        for j, (p, (o, i, kh, kw)) in enumerate(self.shapes.items()):
            res[p] = (parts[2 * j].view(n, self.rank, i, kh, kw), parts[2 * j + 1].view(n, o, self.rank))
        return res


class KeyToLoraLinear(nn.Module):
    """The in-app key generator over every decoder conv (phase 1c): per conv, dW = B diag(M s) A with
    s the key's bits as +-1, rank r (48): one signed direction per bit through shared, learned A, B
    and M, so the LoRA is linear in the bits, as the key's template pattern is. Why every conv: a
    delta on one layer is linear in that layer's features, which barely vary in space on flat
    scenes; together the convs can write a scene-independent pattern (models/zoo/README.md).
    Same interface as KeyToLora: {path: (A (N, r, in, kh, kw), B (N, out, r))}; alpha = r (scale 1,
    as LoraConv's default alpha / rank)."""

    def __init__(self, shapes: dict, bits: int = BITS, rank: int = 48):
        super().__init__()
        self.rank, self.alpha = rank, float(rank)
        self.shapes = {p: tuple(s) for p, s in shapes.items()}      # path -> (out, in, kh, kw)
        self.A = nn.ParameterDict()
        self.B = nn.ParameterDict()
        self.M = nn.Parameter(torch.eye(bits)[:rank] if rank <= bits else torch.randn(rank, bits) / bits ** 0.5)
        for p, (o, i, kh, kw) in self.shapes.items():
            self.A[p.replace(".", "_")] = nn.Parameter(torch.randn(rank, i, kh, kw) / math.sqrt(i * kh * kw))
            self.B[p.replace(".", "_")] = nn.Parameter(torch.zeros(o, rank))

    def forward(self, key_bits):
        s = (key_bits * 2 - 1) @ self.M.T                  # (N, r)
        n, res = key_bits.shape[0], {}
        for p in self.shapes:
            a, b = self.A[p.replace(".", "_")], self.B[p.replace(".", "_")]
            res[p] = (s[:, :, None, None, None] * a.unsqueeze(0), b.unsqueeze(0).expand(n, -1, -1))
        return res


def peft_name(path: str, factor: str) -> str:
    return f"vae.{path}.lora_{factor}.weight"


class KeyToLoraExport(nn.Module):
    """key_to_lora.onnx: key_bits (1, 48) -> one output per peft tensor, A (r, in, kh, kw) and
    B (out, r, 1, 1), named like the peft keys."""

    def __init__(self, gen: KeyToLora):
        super().__init__()
        self.gen = gen

    def forward(self, key_bits):
        outs = []
        for p, (a, b) in self.gen(key_bits).items():
            outs += [a[0], b[0].unsqueeze(-1).unsqueeze(-1)]
        return tuple(outs)

    def output_names(self):
        return [peft_name(p, f) for p in self.gen.shapes for f in ("A", "B")]
