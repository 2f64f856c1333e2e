"""Rebuild the zoo's PyTorch checkpoints from the committed ONNX files.

    /usr/bin/python3 -m zoo.recover [--smoke] [--force]

The checkpoints in models/zoo/.cache/ckpt are machine-local: a fresh clone has only models/tiny.
Every step downstream of the export (data, lora, slideredit, evaluate, watermark) needs the
exported weights as PyTorch modules, and retraining them means the 16 h Kontext run. This command
reads them back out of the ONNX graphs instead and writes vae_final.pt, judge_final.pt and
kontext_final.pt + kontext_export.pt (the weights are the exported EMA weights; there is no
optimizer state, so the Kontext run itself cannot resume from them).

How an initializer finds its parameter: by name where torch.onnx.export kept it; otherwise by the
node that consumes it, whose name carries the module scope (/transformer_blocks.0/attn/to_q/MatMul):
a MatMul's constant-folded weight is the Linear weight transposed, a GroupNorm's Mul/Add constants
are its affine weight and bias, and a Conv with a bias whose module has none had its BatchNorm
folded in (the BatchNorm comes back as the identity plus that bias).

Nothing is trusted on the mapping alone: the recovered modules are exported again, with the zoo's own
export code, into a temp dir, and every initializer must equal the committed one (the judge, whose
BatchNorm folding rounds, to 1e-6 relative), the re-measured latent statistics must equal the VAE
config's, and the re-fitted preview projection must equal atelier.json's. Existing checkpoints are
kept unless --force; the round trip runs either way.
"""
from __future__ import annotations

import copy
import json
import re
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from .common import Logger, base_parser, load_ckpt, paths_from_args, read_json, save_ckpt, set_threads

JUDGE_RTOL = 1e-6


class RecoveryError(Exception):
    """A committed ONNX file whose initializers do not map onto the zoo's module."""


def _segments(dotted: str) -> list[str]:
    """'encoder.block.0.layer.0.SelfAttention' -> ['encoder', 'block.0', 'layer.0', 'SelfAttention']."""
    out: list[str] = []
    for part in dotted.split(".") if dotted else []:
        if part.isdigit() and out:
            out[-1] += "." + part
        else:
            out.append(part)
    return out


def _is_subsequence(short: list[str], long: list[str]) -> bool:
    it = iter(long)
    return all(s in it for s in short)


def _module_path(node_name: str, modules: dict[str, nn.Module]) -> str:
    """A node's scope -> the one module it names. torch.onnx.export writes scopes such as
    '/features/features.0/features.0.0/Conv' (a Sequential's children carry their full path) or
    '/block.0/SelfAttention/q/MatMul' (module-list levels such as 'layer.0' left out), so the scope's
    segments must appear in order in the module's name and end it."""
    path = ""
    for part in node_name.strip("/").split("/")[:-1]:
        path = part if (not path or part.startswith(path + ".")) else f"{path}.{part}"
    if path in modules:
        return path
    want = _segments(path)
    hits = [n for n in modules if want and _segments(n)[-1:] == want[-1:] and _is_subsequence(want, _segments(n))]
    if len(hits) != 1:
        raise RecoveryError(f"node {node_name}: scope {path!r} names {len(hits)} modules {hits[:3]}")
    return hits[0]


def _next_sibling(root: nn.Module, name: str) -> tuple[str, nn.Module]:
    parent, _, idx = name.rpartition(".")
    sib = f"{parent}.{int(idx) + 1}" if parent else str(int(idx) + 1)
    return sib, root.get_submodule(sib)


def onnx_state(path: Path, module: nn.Module) -> dict[str, torch.Tensor]:
    """The state of `module` (as exported to `path`) that the ONNX initializers hold."""
    import onnx
    from onnx import numpy_helper
    g = onnx.load(str(path)).graph
    state = module.state_dict()
    modules = dict(module.named_modules())
    consumers = defaultdict(list)
    for node in g.node:
        for slot, name in enumerate(node.input):
            consumers[name].append((node, slot))
    out: dict[str, torch.Tensor] = {}

    def put(key: str, value: np.ndarray) -> None:
        if key not in state:
            raise RecoveryError(f"{path}: {key} is not a parameter of the module")
        t = torch.from_numpy(np.array(value)).to(state[key].dtype)
        if t.numel() != state[key].numel():
            raise RecoveryError(f"{path}: {key} has {tuple(t.shape)} in the graph, {tuple(state[key].shape)} in the module")
        t = t.reshape(state[key].shape)
        if key in out and not torch.equal(out[key], t):
            raise RecoveryError(f"{path}: two initializers disagree on {key}")
        out[key] = t

    for init in g.initializer:
        value = numpy_helper.to_array(init)
        if init.name in state:
            put(init.name, value)
        # torch.onnx.export keeps one of several equal parameters and names the others by Identity nodes
        uses = []
        for node, slot in consumers[init.name]:
            if node.op_type == "Identity" and node.output[0] in state:
                put(node.output[0], value)
            else:
                uses.append((node, slot))
        if init.name in state:
            continue
        if len(uses) != 1:
            raise RecoveryError(f"{path}: initializer {init.name} has {len(uses)} consumers; cannot place it")
        node, slot = uses[0]
        name = _module_path(node.name, modules)
        mod = modules[name]
        if node.op_type == "MatMul" and slot == 1 and isinstance(mod, nn.Linear):
            put(f"{name}.weight", value.T)
        elif node.op_type in ("Mul", "Add") and isinstance(mod, nn.GroupNorm):
            put(f"{name}.{'weight' if node.op_type == 'Mul' else 'bias'}", value.reshape(-1))
        elif node.op_type == "Conv" and isinstance(mod, nn.Conv2d) and slot in (1, 2):
            if slot == 1:
                put(f"{name}.weight", value)
            elif mod.bias is not None:
                put(f"{name}.bias", value)
            else:   # a folded BatchNorm: identity scale, the folded bias as its shift
                bn_name, bn = _next_sibling(module, name)
                if not isinstance(bn, nn.BatchNorm2d):
                    raise RecoveryError(f"{path}: {node.name} has a bias but {name} has neither one nor a BatchNorm after it")
                put(f"{bn_name}.bias", value)
                put(f"{bn_name}.weight", np.ones_like(value))
                put(f"{bn_name}.running_mean", np.zeros_like(value))
                put(f"{bn_name}.running_var", np.full_like(value, 1.0 - bn.eps))
        else:
            raise RecoveryError(f"{path}: initializer {init.name} feeds {node.op_type} {node.name} (input {slot}); "
                            f"no rule places it in {type(mod).__name__} {name}")
    return out


def load_into(module: nn.Module, parts: list[tuple[Path, nn.Module]], log) -> None:
    """Load every part's recovered state into `module`; parameters no graph holds are reported
    (they keep their initial values, which the round trip proves the graphs never read)."""
    recovered = set()
    for path, sub in parts:
        state = onnx_state(path, sub)
        sub.load_state_dict({**sub.state_dict(), **state})
        params = sub.state_dict(keep_vars=True)   # every name of a shared tensor
        recovered |= {id(params[k]) for k in state if k in params}
    missing = [n for n, p in module.named_parameters() if id(p) not in recovered]
    if missing:
        log(f"  {len(missing)} parameters are in no graph (kept at init): {', '.join(missing[:6])}")


def compare_exports(committed: Path, rebuilt: Path, rtol: float = 0.0) -> int:
    """Every initializer of the rebuilt ONNX file must equal the committed one; -> how many."""
    import onnx
    from onnx import numpy_helper
    a = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(committed)).graph.initializer}
    b = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(rebuilt)).graph.initializer}
    if a.keys() != b.keys():
        raise RecoveryError(f"{committed}: the re-export has other initializers ({sorted(a.keys() ^ b.keys())[:4]})")
    for k in a:
        same = np.array_equal(a[k], b[k]) if rtol == 0 else np.allclose(a[k], b[k], rtol=rtol, atol=rtol)
        if not same:
            raise RecoveryError(f"{committed}: initializer {k} differs after the round trip "
                            f"(max abs {np.abs(a[k] - b[k]).max():.3g})")
    return len(a)


def _training(report: dict, name: str) -> tuple[int | None, float | None]:
    """(steps, seconds) of a committed model from report.json's details ('4300 steps, 2.0 h')."""
    row = next((r for r in report.get("details", {}).get("models", []) if r["name"].startswith(name)), None)
    m = re.match(r"(\d+) steps(?:, ([\d.]+) h)?", row["training"]) if row else None
    return (int(m.group(1)), float(m.group(2)) * 3600 if m.group(2) else None) if m else (None, None)


def recover(P, log) -> dict[str, dict]:
    """-> {checkpoint file name: its content}, every one checked by the export round trip."""
    from .judge import Judge, export as export_judge
    from .kontext import Kontext, export_kontext
    from .mmdit import MMDIT_CONFIG
    from .export import export_vae
    from .vae import latent_stats
    from .vae_model import VAE_CONFIG, AutoencoderKL, VaeDecoderExport, VaeEncoderExport
    report = read_json(P.tiny / "report.json") if (P.tiny / "report.json").exists() else {}
    source = {"from": "models/tiny (ONNX initializers)", "by": "zoo.recover"}
    k = P.kontext

    want = read_json(k / "vae_decoder" / "config.json")
    vcfg = {key: want[key] for key in VAE_CONFIG}
    vae = AutoencoderKL(vcfg)
    log("VAE")
    load_into(vae, [(k / "vae_encoder" / "model.onnx", VaeEncoderExport(vae)),
                    (k / "vae_decoder" / "model.onnx", VaeDecoderExport(vae))], log)
    vae.eval()
    stats = latent_stats(vae, n=16 if P.smoke else 2048)
    if not P.smoke and (stats["shift_factor"], stats["scaling_factor"]) != (want["shift_factor"], want["scaling_factor"]):
        raise RecoveryError(f"VAE latent statistics {stats['shift_factor']}, {stats['scaling_factor']} differ from "
                        f"vae_decoder/config.json's {want['shift_factor']}, {want['scaling_factor']}")
    steps, secs = _training(report, "VAE")
    cks = {"vae_final.pt": {"model": vae.state_dict(), "config": vcfg, "stats": stats, "steps": steps,
                            "train_seconds": secs, "recovered": source}}

    log("judge")
    judge = Judge()
    load_into(judge, [(P.judge / "model.onnx", judge)], log)
    judge.eval()
    steps, secs = _training(report, "judge")
    cks["judge_final.pt"] = {"model": judge.state_dict(), "steps": steps, "train_seconds": secs,
                             "accuracy": {"rendered": report.get("judge_accuracy"),
                                          "vae_reconstructed": report.get("judge_accuracy_vae_reconstructed")},
                             "recovered": source}

    log("Kontext")
    depth = read_json(k / "transformer" / "config.json")
    m = Kontext({**MMDIT_CONFIG, "num_layers": depth["num_layers"], "num_single_layers": depth["num_single_layers"]})
    load_into(m, [(k / "text_encoder" / "model.onnx", m.clip), (k / "text_encoder_2" / "model.onnx", m.t5),
                  (k / "transformer" / "model.onnx", m.transformer)], log)
    tr = report.get("training", {})
    sd = m.state_dict()
    cks["kontext_final.pt"] = {"ema": sd, "model": sd, "steps": tr.get("steps"), "distill_steps": tr.get("distill_steps", 0),
                               "object_weight": 0.0, "empty_identity": False,
                               "train_seconds": tr.get("train_seconds"), "recovered": source}

    with tempfile.TemporaryDirectory(prefix="zoo-recover-") as d:
        Q = copy.copy(P)
        Q.tiny, Q.ckpt = Path(d) / "tiny", Path(d) / "ckpt"
        Q.kontext, Q.judge = Q.tiny / "kontext", Q.tiny / "judge"
        for name, ck in cks.items():
            save_ckpt(Q.ckpt / name, ck)
        quiet = Logger(None)
        export_vae(Q, quiet)
        export_kontext(Q, quiet)
        export_judge(judge, Q, quiet)
        for rel in ("vae_encoder", "vae_decoder", "text_encoder", "text_encoder_2", "transformer"):
            n = compare_exports(k / rel / "model.onnx", Q.kontext / rel / "model.onnx")
            log(f"  round trip kontext/{rel}: {n} initializers equal")
        n = compare_exports(P.judge / "model.onnx", Q.judge / "model.onnx", JUDGE_RTOL)
        log(f"  round trip judge: {n} initializers equal (rtol {JUDGE_RTOL})")
        if not P.smoke:
            a = read_json(k / "atelier.json")["preview"]
            b = read_json(Q.kontext / "atelier.json")["preview"]
            if a != b:
                raise RecoveryError(f"the preview projection fitted on the recovered VAE differs from atelier.json's: "
                                f"{json.dumps(b)[:120]}")
            log("  preview projection refitted: equal to atelier.json's")
    cks["kontext_export.pt"] = cks["kontext_final.pt"]
    return cks


def main(argv=None):
    ap = base_parser(__doc__)
    ap.add_argument("--force", action="store_true", help="replace existing checkpoints")
    args = ap.parse_args(argv)
    set_threads()
    P = paths_from_args(args)
    P.refuse_in_experiment("zoo.recover")
    log = Logger(P.logs / "recover.log")
    try:
        cks = recover(P, log)
    except RecoveryError as e:
        raise SystemExit(f"zoo.recover: {e}")
    for name, ck in cks.items():
        path = P.ckpt / name
        if path.exists() and not args.force:
            log(f"{path.name} exists; kept (--force replaces it)")
            continue
        save_ckpt(path, ck)
        log(f"wrote {path}")


if __name__ == "__main__":
    main()
