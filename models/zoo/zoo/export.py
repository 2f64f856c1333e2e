"""Export the trained tiny Kontext model (Optimum FLUX layout) and write configs + manifest.

    /usr/bin/python3 -m zoo.export [--smoke] [--source branch]

Reads the finished checkpoints in models/zoo/.cache/ckpt and writes models/tiny/kontext/.
Every ONNX file is exported with torch.onnx.export (opset 17, do_constant_folding) so node
names keep the module scopes (/transformer_blocks.0/attn/to_q/MatMul) and is checked with
onnx.checker.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from .common import OPSET, Logger, base_parser, check_onnx, load_ckpt, paths_from_args, set_threads, write_json

DIFFUSERS_VERSION = "0.32.0"


def _export(module, args, path: Path, input_names, output_names, dynamic_axes, log):
    path.parent.mkdir(parents=True, exist_ok=True)
    module.eval()
    with torch.no_grad():
        torch.onnx.export(module, args, str(path), input_names=input_names, output_names=output_names,
                          dynamic_axes=dynamic_axes, opset_version=OPSET, do_constant_folding=True)
    check_onnx(path)
    log(f"exported {path} ({path.stat().st_size / 1e6:.2f} MB), onnx.checker ok")


def load_vae(P):
    from .vae_model import AutoencoderKL
    ck = load_ckpt(P.ckpt / "vae_final.pt")
    if ck is None:
        raise SystemExit(f"no finished VAE in {P.ckpt}: run python3 -m zoo.vae first")
    vae = AutoencoderKL(ck["config"])
    vae.load_state_dict(ck["model"])
    vae.eval()
    return vae, ck["stats"], ck["config"]


def vae_config_json(cfg, stats) -> dict:
    c = {"_class_name": "AutoencoderKL", "_diffusers_version": DIFFUSERS_VERSION}
    c.update({k: v for k, v in cfg.items()})
    c.update({"force_upcast": True, "latents_mean": None, "latents_std": None,
              "scaling_factor": stats["scaling_factor"], "shift_factor": stats["shift_factor"]})
    return dict(sorted(c.items()))


@torch.no_grad()
def fit_latent_rgb(P, n: int = 512) -> dict:
    """Preview projection for normalized latents: least-squares RGB (in [-1, 1], 8x8-averaged)
    = z . factors + bias over n rendered scenes, so the engine's step previews show colours."""
    import numpy as np
    from .vae import random_batch, to_tensor
    vae, stats, _ = load_vae(P)
    x = to_tensor(random_batch(np.random.default_rng(4242), n))
    mean, _ = vae.encode(x)
    z = (mean - stats["shift_factor"]) * stats["scaling_factor"]
    rgb = torch.nn.functional.avg_pool2d(x, 8)
    zf = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1]).double()
    yf = rgb.permute(0, 2, 3, 1).reshape(-1, 3).double()
    a = torch.cat([zf, torch.ones(zf.shape[0], 1, dtype=torch.float64)], 1)
    sol = torch.linalg.lstsq(a, yf).solution
    rmse = (a @ sol - yf).pow(2).mean().sqrt().item()
    return {"latent_rgb_factors": [[round(v, 6) for v in row] for row in sol[:-1].tolist()],
            "latent_rgb_bias": [round(v, 6) for v in sol[-1].tolist()], "fit_rmse": round(rmse, 4)}


def export_vae(P, log):
    from .vae_model import VaeDecoderExport, VaeEncoderExport
    vae, stats, cfg = load_vae(P)
    out = P.kontext
    x = torch.zeros(1, 3, 64, 64)
    _export(VaeEncoderExport(vae), (x,), out / "vae_encoder" / "model.onnx", ["sample"], ["latent_parameters"],
            {"sample": {0: "batch_size", 2: "height", 3: "width"},
             "latent_parameters": {0: "batch_size", 2: "height_latent", 3: "width_latent"}}, log)
    z = torch.zeros(1, cfg["latent_channels"], 8, 8)
    _export(VaeDecoderExport(vae), (z,), out / "vae_decoder" / "model.onnx", ["latent_sample"], ["sample"],
            {"latent_sample": {0: "batch_size", 2: "height_latent", 3: "width_latent"},
             "sample": {0: "batch_size", 2: "height", 3: "width"}}, log)
    for d in ("vae_encoder", "vae_decoder"):
        write_json(out / d / "config.json", vae_config_json(cfg, stats))
    return stats


def main(argv=None):
    ap = base_parser(__doc__)
    ap.add_argument("--source", choices=["auto", "branch"], default="auto",
                    help="auto: kontext_final.pt, else the main run's latest checkpoint; branch: the finished "
                         "decay branch (zoo.kontext --branch-decay N)")
    args = ap.parse_args(argv)
    set_threads()
    P = paths_from_args(args)
    P.refuse_in_experiment("zoo.export")
    log = Logger(P.logs / "export.log")
    export_all(P, log, args.source)


def export_all(P, log, source: str = "auto"):
    export_vae(P, log)
    from .kontext import export_kontext
    export_kontext(P, log, source)


if __name__ == "__main__":
    main()
