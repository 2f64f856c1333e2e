"""The watermark's noise layer: differentiable stand-ins for the attacks a watermarked image meets
(and the evaluation applies with sharp): JPEG quality 50, downscale and back, crop and back,
Gaussian blur, Gaussian noise. Images are float (N, 3, H, W) in [-1, 1]; every attack starts from
the uint8 image the app writes (rounding with a straight-through gradient).

Also the same attacks done for real with Pillow on uint8 images, for the Python-side figures.
"""
from __future__ import annotations

import io
import math

import numpy as np
import torch
import torch.nn.functional as F

ATTACKS = ["identity", "jpeg", "resize", "crop", "blur", "noise"]


def st_round(x: torch.Tensor) -> torch.Tensor:
    """round(x) forward, identity gradient."""
    return x + (torch.round(x) - x).detach()


def to_uint8_grid(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] float -> the same image as the app's uint8 PNG would hold, still in [-1, 1]."""
    return st_round((x.clamp(-1.0, 1.0) + 1.0) * 127.5) / 127.5 - 1.0


# ---------------------------------------------------------------- JPEG (4:2:0, libjpeg tables)
_LUMA_Q = torch.tensor([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], dtype=torch.float32).view(8, 8)
_CHROMA_Q = torch.tensor([
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99] + [99] * 32, dtype=torch.float32).view(8, 8)


def _qtable(base: torch.Tensor, quality: int) -> torch.Tensor:
    s = 5000 / quality if quality < 50 else 200 - 2 * quality
    return ((base * s + 50) // 100).clamp(1, 255)


def _dct_matrix() -> torch.Tensor:
    d = torch.zeros(8, 8)
    for k in range(8):
        for n in range(8):
            d[k, n] = math.cos(math.pi * (2 * n + 1) * k / 16) * (math.sqrt(1 / 8) if k == 0 else math.sqrt(2 / 8))
    return d


_D = _dct_matrix()


def _blocks_quant(ch: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """(N, H, W) with H, W multiples of 8: 8x8 DCT, quantize (straight-through), inverse DCT."""
    n, h, w = ch.shape
    b = ch.reshape(n, h // 8, 8, w // 8, 8).permute(0, 1, 3, 2, 4)
    c = _D @ b @ _D.T
    c = st_round(c / q) * q
    b = _D.T @ c @ _D
    return b.permute(0, 1, 3, 2, 4).reshape(n, h, w)


def jpeg(x: torch.Tensor, quality: int = 50) -> torch.Tensor:
    """JPEG compression as libjpeg does it at this quality (YCbCr, 4:2:0 chroma, 8x8 DCT,
    standard tables), differentiable through straight-through rounding. Needs H, W % 16 == 0."""
    p = (x.clamp(-1, 1) + 1) * 127.5
    r, g, b = p[:, 0], p[:, 1], p[:, 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = -0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 0.5 * r - 0.418688 * g - 0.081312 * b
    y = _blocks_quant(y - 128, _qtable(_LUMA_Q, quality)) + 128
    sub = lambda c: F.avg_pool2d(c[:, None], 2)[:, 0]
    up = lambda c: F.interpolate(c[:, None], scale_factor=2, mode="bilinear", align_corners=False)[:, 0]
    qc = _qtable(_CHROMA_Q, quality)
    cb = up(_blocks_quant(sub(cb), qc))
    cr = up(_blocks_quant(sub(cr), qc))
    r = y + 1.402 * cr
    g = y - 0.344136 * cb - 0.714136 * cr
    b = y + 1.772 * cb
    return to_uint8_grid(torch.stack([r, g, b], 1) / 127.5 - 1)


# ---------------------------------------------------------------- geometric / filters
def resize(x: torch.Tensor, scale: float) -> torch.Tensor:
    h, w = x.shape[-2:]
    s = (max(1, round(h * scale)), max(1, round(w * scale)))
    small = to_uint8_grid(F.interpolate(x, size=s, mode="bilinear", align_corners=False, antialias=True))
    return F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)


def crop(x: torch.Tensor, keep_area: float, gen: torch.Generator) -> torch.Tensor:
    """Keep a random window of keep_area of the image (same aspect), resize back."""
    h, w = x.shape[-2:]
    ch, cw = max(8, round(h * math.sqrt(keep_area))), max(8, round(w * math.sqrt(keep_area)))
    oy = int(torch.randint(0, h - ch + 1, (1,), generator=gen))
    ox = int(torch.randint(0, w - cw + 1, (1,), generator=gen))
    return F.interpolate(x[..., oy:oy + ch, ox:ox + cw], size=(h, w), mode="bilinear", align_corners=False)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    r = max(1, math.ceil(3 * sigma))
    t = torch.arange(-r, r + 1, dtype=x.dtype)
    k = torch.exp(-t * t / (2 * sigma * sigma))
    k = k / k.sum()
    c = x.shape[1]
    x = F.pad(x, (r, r, r, r), mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def attack(x: torch.Tensor, name: str, gen: torch.Generator) -> torch.Tensor:
    """One training attack with random strength, on images already on the uint8 grid."""
    u = float(torch.rand((), generator=gen))
    if name == "identity":
        return x
    if name == "jpeg":
        return jpeg(x, 50)
    if name == "resize":
        return resize(x, 0.5 + 0.4 * u)
    if name == "crop":
        return crop(x, 1.0 - 0.15 * u, gen)
    if name == "blur":
        return to_uint8_grid(gaussian_blur(x, 0.5 + 1.0 * u))
    if name == "noise":
        return to_uint8_grid(x + torch.randn(x.shape, generator=gen) * (0.01 + 0.04 * u))
    raise ValueError(name)


# ---------------------------------------------------------------- real attacks (Pillow), for figures
def _pil(a: np.ndarray):
    from PIL import Image
    return Image.fromarray(a, "RGB")


def real_attack(img: np.ndarray, name: str, rng: np.random.Generator) -> np.ndarray:
    """uint8 (H, W, 3) -> uint8 (H, W, 3): the evaluation's fixed attacks, done with Pillow
    (JPEG q50 4:2:0; Lanczos to 0.5 then bilinear back; a random window of 90% area resized back;
    Gaussian blur sigma 1)."""
    from PIL import Image, ImageFilter
    h, w = img.shape[:2]
    im = _pil(img)
    if name == "clean":
        return img
    if name == "jpeg50":
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=50, subsampling=2)
        return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    if name == "resize05":
        return np.asarray(im.resize((w // 2, h // 2), Image.LANCZOS).resize((w, h), Image.BILINEAR))
    if name == "crop10":
        side = round(h * math.sqrt(0.9))
        oy, ox = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        return np.asarray(im.crop((ox, oy, ox + side, oy + side)).resize((w, h), Image.BILINEAR))
    if name == "blur":
        return np.asarray(im.filter(ImageFilter.GaussianBlur(1.0)))
    raise ValueError(name)


REAL_ATTACKS = ["clean", "jpeg50", "resize05", "crop10", "blur"]
