"""Paths, seeding, checkpoints and logging shared by every zoo command."""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ZOO_DIR = Path(__file__).resolve().parent.parent          # models/zoo
MODELS_DIR = ZOO_DIR.parent                                # models
REPO_DIR = MODELS_DIR.parent
TINY_DIR = MODELS_DIR / "tiny"
CACHE_DIR = ZOO_DIR / ".cache"
OPSET = 17


_THREADS_SET = False


def set_threads() -> None:
    global _THREADS_SET
    n = int(os.environ.get("ZOO_THREADS", "1"))   # see README: 1 thread beats 2 on a shared CPU
    torch.set_num_threads(n)
    torch.set_flush_denormal(True)   # denormals (Adam moments of zero-init AdaLN weights) are ~100x slower
    if not _THREADS_SET:
        _THREADS_SET = True
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:
            pass


def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)


def fork_experiment(main_ckpt: Path, ckpt: Path) -> None:
    """Start an experiment's checkpoint dir from the main run's current state: kontext.pt copied (the
    fork point; without one, as after zoo.recover, kontext_final.pt copied as kontext_start.pt, which
    zoo.kontext continues with a fresh optimizer: under its own name, so that zoo.evaluate, which
    prefers finished weights, measures the experiment's kontext.pt and not the fork point), the main
    run's other Kontext files left out (its final and exported weights are not the experiment's),
    every other model's checkpoints linked."""
    tmp = ckpt.with_name(ckpt.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    fork = {"kontext.pt": "kontext.pt"} if (main_ckpt / "kontext.pt").exists() else {"kontext_final.pt": "kontext_start.pt"}
    for f in sorted(main_ckpt.glob("*.pt")):
        if f.name in fork:
            shutil.copyfile(f, tmp / fork[f.name])
        elif not f.name.startswith("kontext"):
            (tmp / f.name).symlink_to(f.resolve())
    os.replace(tmp, ckpt)


class Paths:
    """Where a command reads and writes. --smoke redirects everything to a temp dir.
    ZOO_EXPERIMENT=NAME gives a command its own checkpoints and logs in .cache/experiments/NAME/,
    forked from the main run's on first use (the Kontext checkpoints copied, the rest linked), so
    a variant of the Kontext run trains beside the main one and `zoo.evaluate --no-write` measures
    it. The eval sets, data and models/tiny stay shared: do not export from an experiment."""

    def __init__(self, smoke: bool = False, root: Path | None = None):
        self.smoke = smoke
        experiment = None if smoke else os.environ.get("ZOO_EXPERIMENT")
        if smoke:
            base = Path(root) if root else Path(tempfile.mkdtemp(prefix="zoo-smoke-"))
            self.tiny = base / "tiny"
            self.cache = base / "cache"
        else:
            self.tiny = TINY_DIR
            self.cache = CACHE_DIR
        self.eval = self.tiny / "eval"
        self.kontext = self.tiny / "kontext"
        self.judge = self.tiny / "judge"
        self.ckpt = self.cache / "ckpt"
        self.data = self.cache / "data"
        self.logs = self.cache / "logs"
        self.experiment = experiment
        if experiment:
            exp = self.cache / "experiments" / experiment
            if not (exp / "ckpt").exists():
                fork_experiment(self.ckpt, exp / "ckpt")
            self.ckpt, self.logs = exp / "ckpt", exp / "logs"
        for p in (self.tiny, self.cache, self.ckpt, self.data, self.logs):
            p.mkdir(parents=True, exist_ok=True)

    def refuse_in_experiment(self, what: str) -> None:
        """Commands that write models/tiny refuse to run on an experiment's checkpoints."""
        if self.experiment:
            raise SystemExit(f"{what} writes models/tiny, which ZOO_EXPERIMENT={self.experiment} must not change: "
                             f"copy the experiment's kontext_final.pt into .cache/ckpt to promote it, then rerun")


def base_parser(desc: str) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=desc)
    ap.add_argument("--smoke", action="store_true",
                    help="train a few steps into a temp dir, export, run onnx.checker")
    ap.add_argument("--smoke-root", default=None, help="temp root shared by a smoke chain")
    return ap


def paths_from_args(args) -> Paths:
    root = Path(args.smoke_root) if getattr(args, "smoke_root", None) else None
    if args.smoke and root is None and os.environ.get("ZOO_SMOKE_ROOT"):
        root = Path(os.environ["ZOO_SMOKE_ROOT"])
    return Paths(smoke=args.smoke, root=root)


class Logger:
    def __init__(self, path: Path | None):
        self.f = open(path, "a") if path else None
        self.t0 = time.time()

    def __call__(self, *a):
        msg = " ".join(str(x) for x in a)
        line = f"[{time.strftime('%H:%M:%S')} +{time.time() - self.t0:7.0f}s] {msg}"
        print(line, flush=True)
        if self.f:
            self.f.write(line + "\n")
            self.f.flush()


def save_ckpt(path: Path, state: dict) -> None:
    """Atomic checkpoint write (a crash never leaves a truncated checkpoint)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_ckpt(path: Path):
    if path.exists():
        return torch.load(path, map_location="cpu")
    return None


def rng_state() -> dict:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def set_rng_state(s: dict) -> None:
    torch.set_rng_state(s["torch"])
    np.random.set_state(s["numpy"])
    random.setstate(s["python"])


def run_node_json(script: str, request: dict, timeout: int, log, what: str) -> dict | None:
    """Runs node/<script> REQ.json RES.json (the exported graphs in onnxruntime-node) and returns
    RES.json; None, logged as skipped, when node is missing or the script fails."""
    import subprocess
    with tempfile.TemporaryDirectory() as d:
        req, res = Path(d) / "req.json", Path(d) / "res.json"
        req.write_text(json.dumps(request))
        try:
            r = subprocess.run(["node", str(ZOO_DIR / "node" / script), str(req), str(res)],
                               capture_output=True, text=True, timeout=timeout)
        except FileNotFoundError:
            log(f"{what} skipped: node not found")
            return None
        if r.returncode != 0:
            log(f"{what} skipped: {r.stderr.strip()[-2000:]}")
            return None
        return json.loads(res.read_text())


def write_json(path: Path, obj, indent=1) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=indent)
        f.write("\n")
    os.replace(tmp, path)


def read_json(path: Path):
    with open(path) as f:
        return json.load(f)


def check_onnx(path: Path) -> None:
    import onnx
    onnx.checker.check_model(str(path), full_check=True)


class EMA:
    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: torch.nn.Module, decay: float | None = None):
        d = self.decay if decay is None else decay
        for k, v in model.state_dict().items():
            if v.dtype.is_floating_point:
                self.shadow[k].mul_(d).add_(v.detach(), alpha=1 - d)
            else:
                self.shadow[k].copy_(v)

    def state_dict(self):
        return self.shadow

    def load_state_dict(self, sd):
        self.shadow = {k: v.clone() for k, v in sd.items()}


def rmtree(p: Path) -> None:
    shutil.rmtree(p, ignore_errors=True)


def die(msg: str) -> None:
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(1)
