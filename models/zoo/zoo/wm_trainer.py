"""The in-app key trainer: key_trainer.onnx, one training step of a new key's LoRA as a graph that
onnxruntime (an inference runtime, which cannot train) runs, so the app fine-tunes the keys it makes.

Why: key_to_lora.onnx (phase 1c) writes a key's LoRA in one pass, but a map linear in the bits reads
back at about 0.78. Fine-tuning one key's per-layer row gains of those factors (27 x 48 numbers) on
the bit loss reaches 0.98 at 32 dB in 400 steps (models/zoo/README.md), so the app does that: the
graph computes the loss and its exact gradient with respect to the gains, and the engine runs Adam
on them (engine/methods/watermark/key-trainer.ts).

The graph, for a batch of the embedded training scenes:
  inputs   gains [L, r] (1 = the generator's LoRA), the generator's factors per target
           (`vae.<module>.lora_A.weight` [r, in, kh, kw], `....lora_B.weight` [out, r, 1, 1]),
           indices int64 [n] (rows of the embedded scene latents; n = BATCH, fixed: make_fx traces
           static shapes), key_bits [bits] in {0, 1}, clean [n, 3, 64, 64] (the same scenes decoded without a watermark, in [-1, 1]),
           w_img [] (the image loss weight)
  outputs  loss [], grad_gains [L, r], bit_logits [views * n, bits], image [n, 3, 64, 64], and per
           target `grad.vae.<module>.lora_A.weight` (the gradient with respect to that A factor)
The LoRA of target l is (diag(gains[l]) A_l, B_l); the app trains the gains and every A (B stays
the generator's). loss = BCE(bits read from each view) +
w_img * (MSE + MSE of the horizontal and vertical differences) against clean. The views are fixed
linear stand-ins for the evaluation's attacks, each starting from the uint8 image (rounding with a
straight-through gradient): the image itself, JPEG q50 (4:2:0, libjpeg tables), an antialiased
downscale to 0.5 and back, a centred 90%-area crop resized back, a Gaussian blur (sigma 1).

How the backward pass becomes an ONNX graph: functorch's make_fx traces the step, autograd.grad
included, into aten ops; the few backward ops without an ONNX export (convolution, nearest
upsampling and average-pooling backward, slice and select backward, LeakyReLU backward) get decompositions
here into forward ops (a transposed convolution, a sum over the upsampled cells, ...), and the
modules whose fused kernels have none (GroupNorm, BatchNorm in eval, softmax, BCE) are rewritten
from elementary ops first. torch.onnx.export then exports the traced graph; check_parity compares
it with PyTorch's autograd.
"""
from __future__ import annotations

import math
import types

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import wm_noise as N
from .wm_model import BITS, Extractor, get_module

VIEWS = ["identity", "jpeg50", "resize05", "crop10", "blur"]
SCENES = 128          # training scenes whose latents the graph embeds
BATCH = 8             # scenes per step: fixed, make_fx traces static shapes
aten = torch.ops.aten


# ---------------------------------------------------------------- elementary rewrites
class ElementaryGroupNorm(nn.Module):
    def __init__(self, gn: nn.GroupNorm):
        super().__init__()
        self.groups, self.eps, self.weight, self.bias = gn.num_groups, gn.eps, gn.weight, gn.bias

    def forward(self, x):
        n, c, h, w = x.shape
        v = x.reshape(n, self.groups, -1)
        d = v - v.mean(-1, keepdim=True)
        y = (d / torch.sqrt((d * d).mean(-1, keepdim=True) + self.eps)).reshape(n, c, h, w)
        return y * self.weight[None, :, None, None] + self.bias[None, :, None, None]


class ChannelAffine(nn.Module):
    """BatchNorm2d in eval mode, as the per-channel affine map it is."""

    def __init__(self, bn: nn.BatchNorm2d):
        super().__init__()
        scale = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach()
        self.register_buffer("scale", scale.clone())
        self.register_buffer("shift", (bn.bias - bn.running_mean * scale).detach().clone())

    def forward(self, x):
        return x * self.scale[None, :, None, None] + self.shift[None, :, None, None]


def elementary(root: nn.Module) -> None:
    """Replace GroupNorm and BatchNorm2d modules under root, in place."""
    for name, child in list(root.named_children()):
        if isinstance(child, nn.GroupNorm):
            setattr(root, name, ElementaryGroupNorm(child))
        elif isinstance(child, nn.BatchNorm2d):
            setattr(root, name, ChannelAffine(child))
        else:
            elementary(child)


def attention_forward(self, x):
    """vae_model.Attention.forward with the softmax written out (the fused one has no export of its
    backward)."""
    b, c, h, w = x.shape
    r = x
    x = self.group_norm(x).view(b, c, h * w).transpose(1, 2)
    q, k, v = self.to_q(x), self.to_k(x), self.to_v(x)
    z = q @ k.transpose(1, 2) * (c ** -0.5)
    e = torch.exp(z - z.max(dim=-1, keepdim=True).values.detach())
    x = self.to_out[0]((e / e.sum(-1, keepdim=True)) @ v)
    return x.transpose(1, 2).reshape(b, c, h, w) + r


class GainLoraConv(nn.Module):
    """A frozen conv plus the LoRA (diag(gain) A, B), gain and factors set per call."""

    def __init__(self, base: nn.Conv2d):
        super().__init__()
        self.base = base
        self.gain = self.A = self.B = None

    def forward(self, x):
        y = self.base(x)
        if self.A is None:
            return y
        h = F.conv2d(x, self.A, stride=self.base.stride, padding=self.base.padding) * self.gain[None, :, None, None]
        return y + F.conv2d(h, self.B)


# ---------------------------------------------------------------- attack views as linear maps
def _axis_map(fn, n: int) -> torch.Tensor:
    """The matrix of a linear, separable 1-D resampling fn applied along one axis of length n."""
    basis = torch.eye(n).view(n, 1, n, 1)
    out = fn(basis)                                     # (n, 1, m, 1)
    return out.view(n, -1).T.contiguous()               # (m, n)


def view_maps(size: int = 64) -> dict:
    """Per view, the (rows, cols) matrices M with view(x) = M_r x M_c^T, built from the same
    resampling PyTorch does (bilinear, antialiased downscale; replicate-padded Gaussian)."""
    half = size // 2
    down = _axis_map(lambda b: F.interpolate(b, size=(half, 1), mode="bilinear", align_corners=False, antialias=True), size)
    up = _axis_map(lambda b: F.interpolate(b, size=(size, 1), mode="bilinear", align_corners=False), half)
    side = round(size * math.sqrt(0.9))
    off = (size - side) // 2
    crop = _axis_map(lambda b: F.interpolate(b[:, :, off:off + side], size=(size, 1), mode="bilinear",
                                             align_corners=False), size)
    r = 3
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-t * t / 2.0)
    k = k / k.sum()
    blur = torch.zeros(size, size)
    for i in range(size):
        for j, w in zip(range(i - r, i + r + 1), k):
            blur[i, min(max(j, 0), size - 1)] += w     # replicate padding
    chroma_up = _axis_map(lambda b: F.interpolate(b, size=(size, 1), mode="bilinear", align_corners=False), half)
    chroma_down = torch.zeros(half, size)
    for i in range(half):
        chroma_down[i, 2 * i:2 * i + 2] = 0.5
    return {"down": down, "up": up, "crop": crop, "blur": blur, "chroma_down": chroma_down, "chroma_up": chroma_up}


def _sep(x, m):
    return m @ x @ m.T


def jpeg50(x: torch.Tensor, maps: dict) -> torch.Tensor:
    """wm_noise.jpeg at quality 50 with its chroma resampling as matrices."""
    p = (x.clamp(-1, 1) + 1) * 127.5
    r, g, b = p[:, 0], p[:, 1], p[:, 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = -0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 0.5 * r - 0.418688 * g - 0.081312 * b
    y = N._blocks_quant(y - 128, N._qtable(N._LUMA_Q, 50)) + 128
    qc = N._qtable(N._CHROMA_Q, 50)
    cb = _sep(N._blocks_quant(_sep(cb, maps["chroma_down"]), qc), maps["chroma_up"])
    cr = _sep(N._blocks_quant(_sep(cr, maps["chroma_down"]), qc), maps["chroma_up"])
    out = torch.stack([y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr, y + 1.772 * cb], 1)
    return N.to_uint8_grid(out / 127.5 - 1)


def views(q: torch.Tensor, maps: dict) -> torch.Tensor:
    """The uint8-grid image q (n, 3, 64, 64) under every view in VIEWS, concatenated."""
    return torch.cat([
        q,
        jpeg50(q, maps),
        _sep(N.to_uint8_grid(_sep(q, maps["down"])), maps["up"]),
        _sep(q, maps["crop"]),
        N.to_uint8_grid(_sep(q, maps["blur"])),
    ])


# ---------------------------------------------------------------- the step
class KeyTrainerStep(nn.Module):
    def __init__(self, vae, ext: Extractor, targets: list[str], latents: torch.Tensor):
        super().__init__()
        from .vae_model import Attention
        for m in vae.decoder.modules():
            if isinstance(m, Attention):
                m.forward = types.MethodType(attention_forward, m)
        self.decoder = vae.decoder
        elementary(self.decoder)
        elementary(ext)
        self.ext = ext
        self.targets = targets
        self.layers = []
        for path in targets:
            parent, _, leaf = path.rpartition(".")
            par = get_module(vae, parent)
            cur = getattr(par, leaf)
            cur = cur.base if hasattr(cur, "base") else cur
            wrap = GainLoraConv(cur)
            setattr(par, leaf, wrap)
            self.layers.append(wrap)
        self.register_buffer("latents", latents.detach().float().clone())
        self.maps = view_maps()
        self.register_buffer("onehot", torch.eye(len(targets))[:, None, :].clone())
        self.register_buffer("kx", torch.tensor([[[[-1.0, 1.0]]]]).expand(3, 1, 1, 2).contiguous())
        self.register_buffer("ky", self.kx.transpose(2, 3).contiguous())

    def forward(self, gains, factors, indices, key_bits, clean, w_img):
        for j, layer in enumerate(self.layers):
            layer.gain = (self.onehot[j] @ gains).reshape(-1)     # a matmul: its backward exports
            layer.A, layer.B = factors[2 * j], factors[2 * j + 1]
        image = self.decoder(torch.index_select(self.latents, 0, indices))
        logits = self.ext(views(N.to_uint8_grid(image), self.maps))
        target = key_bits[None].expand(logits.shape[0], -1)
        d = image - clean
        gx, gy = F.conv2d(d, self.kx, groups=3), F.conv2d(d, self.ky, groups=3)
        l_img = (d * d).mean() + (gx * gx).mean() + (gy * gy).mean()
        loss = (F.softplus(logits) - logits * target).mean() + w_img * l_img
        grads = torch.autograd.grad(loss, [gains, *factors[0::2]])
        for layer in self.layers:
            layer.gain = layer.A = layer.B = None
        return (loss.detach(), grads[0], logits.detach(), image.detach(), *grads[1:])


def _conv_backward(grad_out, inp, weight, bias_sizes, stride, padding, dilation, transposed, output_padding, groups, mask):
    """The input gradient (a transposed convolution) and, for the LoRA's A factors, the weight
    gradient (a convolution of the input with the output gradient, batch and channels swapped)."""
    if transposed or mask[2]:
        raise NotImplementedError("key trainer: only forward convolutions without a bias gradient")
    grad_in = grad_w = None
    k = weight.shape[2:]
    if mask[0]:
        extra = [inp.shape[2 + i] - ((grad_out.shape[2 + i] - 1) * stride[i] - 2 * padding[i] + dilation[i] * (k[i] - 1) + 1)
                 for i in range(2)]
        grad_in = aten.convolution.default(grad_out, weight, None, stride, padding, dilation, True, extra, groups)
    if mask[1]:
        if groups != 1 or any(d != 1 for d in dilation):
            raise NotImplementedError("key trainer: weight gradients of grouped or dilated convolutions")
        g = aten.convolution.default(aten.transpose.int(inp, 0, 1), aten.transpose.int(grad_out, 0, 1), None,
                                     [1, 1], padding, stride, False, [0, 0], 1)
        grad_w = aten.transpose.int(g, 0, 1)[:, :, :k[0], :k[1]]
    return grad_in, grad_w, None


def _upsample_nearest_backward(grad, output_size, input_size, scales_h=None, scales_w=None):
    n, c, h, w = input_size
    return grad.view(n, c, h, grad.shape[2] // h, w, grad.shape[3] // w).sum((3, 5))


def _avg_pool_backward(grad, inp, kernel, stride, padding, ceil_mode, count_include_pad, divisor):
    if (stride and list(stride) != list(kernel)) or any(padding):
        raise NotImplementedError("key trainer: only non-overlapping average pooling")
    kh, kw = kernel
    n, c, h, w = grad.shape
    g = grad / (kh * kw)
    return g[:, :, :, None, :, None].expand(n, c, h, kh, w, kw).reshape(inp.shape)


def _slice_backward(grad, input_sizes, dim, start, end, step):
    if step != 1:
        raise NotImplementedError("key trainer: strided slices")
    n = input_sizes[dim]
    start = max(0, start + n if start < 0 else start)
    end = min(n, end + n if end < 0 else end)
    pads = [0] * (2 * len(input_sizes))
    k = len(input_sizes) - 1 - dim
    pads[2 * k], pads[2 * k + 1] = start, n - end
    return aten.constant_pad_nd.default(grad, pads, 0.0)


def _select_backward(grad, input_sizes, dim, index):
    n = input_sizes[dim]
    index = index + n if index < 0 else index
    pads = [0] * (2 * len(input_sizes))
    k = len(input_sizes) - 1 - dim
    pads[2 * k], pads[2 * k + 1] = index, n - index - 1
    return aten.constant_pad_nd.default(aten.unsqueeze.default(grad, dim), pads, 0.0)


def _leaky_relu_backward(grad, x, slope, self_is_result):
    return grad * (aten.sign.default(x) * ((1 - slope) / 2) + (1 + slope) / 2)


def decompositions() -> dict:
    import torch._decomp as D
    table = {k: v for k, v in D.decomposition_table.items()
             if str(k).split(".")[1] in ("silu_backward", "softplus_backward")}
    table.update({
        aten.convolution_backward.default: _conv_backward,
        aten.upsample_nearest2d_backward.vec: _upsample_nearest_backward,
        aten.avg_pool2d_backward.default: _avg_pool_backward,
        aten.slice_backward.default: _slice_backward,
        aten.select_backward.default: _select_backward,
        aten.leaky_relu_backward.default: _leaky_relu_backward,
        aten._unsafe_view.default: lambda x, size: aten.view.default(x, size),
        aten._reshape_alias.default: lambda x, size, stride: aten.view.default(x, size),
    })
    return table


def factor_names(targets: list[str]) -> list[str]:
    return [f"vae.{p}.lora_{f}.weight" for p in targets for f in ("A", "B")]


def export_trainer(path, vae, ext: Extractor, targets: list[str], latents: torch.Tensor, factors: list[torch.Tensor],
                   rank: int, opset: int) -> KeyTrainerStep:
    """Trace KeyTrainerStep with make_fx and export it to `path` (see the module docstring). vae and
    ext are rewritten in place (pass copies); -> the step module, for reference_step."""
    from functorch import make_fx
    step = KeyTrainerStep(vae, ext, targets, latents)
    n = BATCH
    factors = [f.detach().clone().requires_grad_(i % 2 == 0) for i, f in enumerate(factors)]   # A factors train
    args = (torch.ones(len(targets), rank, requires_grad=True), factors, torch.arange(n, dtype=torch.int64),
            torch.zeros(BITS), torch.zeros(n, 3, 64, 64), torch.tensor(1.0))

    def fn(gains, indices, key_bits, clean, w_img, *fs):
        return step(gains, list(fs), indices, key_bits, clean, w_img)

    traced = make_fx(fn, decomposition_table=decompositions())(args[0], *args[2:], *factors)
    names = factor_names(targets)
    torch.onnx.export(traced, (args[0].detach(), *args[2:], *[f.detach() for f in factors]), str(path), opset_version=opset,
                      input_names=["gains", "indices", "key_bits", "clean", "w_img", *names],
                      output_names=["loss", "grad_gains", "bit_logits", "image", *[f"grad.{n}" for n in names[0::2]]],
                      do_constant_folding=True)
    return step


def reference_step(step: KeyTrainerStep, gains, factors, indices, key_bits, clean, w_img):
    """The same step in PyTorch's own autograd (for the parity check)."""
    g = gains.detach().clone().requires_grad_(True)
    fs = [f.detach().clone().requires_grad_(i % 2 == 0) for i, f in enumerate(factors)]
    return step(g, fs, indices, key_bits, clean, w_img)
