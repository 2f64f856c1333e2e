"""Rebuild everything (resuming from checkpoints), or smoke-test everything.

    /usr/bin/python3 -m zoo.build all        # eval sets, vae, judge, data, kontext, export, recover, lora, slideredit,
                                             # evaluate, watermark
    /usr/bin/python3 -m zoo.recover && /usr/bin/python3 -m zoo.build all --from data --to evaluate   # a fresh clone:
                                             # the committed models read back from models/tiny, no Kontext training
    /usr/bin/python3 -m zoo.build all --from export --to evaluate   # a range of steps (after a new Kontext run)
    /usr/bin/python3 -m zoo.build --smoke    # every step for a few training steps in a temp dir,
                                             # every export checked with onnx.checker (CI)
"""
from __future__ import annotations

import argparse
import importlib
import os
import shutil
import sys
import tempfile
import time

# lora's adapters and references, and slideredit's, are trained on the exported Kontext model, so they follow it.
# recover after export checks the round trip ONNX -> checkpoints -> ONNX (and writes what is missing)
STEPS = ["evalsets", "vae", "judge", "data", "kontext", "export", "recover", "lora", "slideredit", "evaluate",
         "watermark"]
# diagnostics that build nothing: the smoke build runs them after their step, so CI keeps them working
SMOKE_DIAGNOSTICS = {"slideredit": [("slideredit_probe", ["--items", "1"]), ("slideredit_pixels", [])]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", nargs="?", default="all", choices=["all"] + STEPS)
    ap.add_argument("--from", dest="start", choices=STEPS, default=None,
                    help="with all: start at this step (e.g. export, after a new Kontext run)")
    ap.add_argument("--to", dest="end", choices=STEPS, default=None, help="with all: stop after this step")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the smoke temp dir")
    args = ap.parse_args(argv)
    if (args.start or args.end) and args.what != "all":
        ap.error("--from and --to go with all")
    first = STEPS.index(args.start) if args.start else 0
    last = STEPS.index(args.end) if args.end else len(STEPS) - 1
    if first > last:
        ap.error(f"--from {args.start} comes after --to {args.end}")
    steps = STEPS[first:last + 1] if args.what == "all" else [args.what]
    root = None
    if args.smoke:
        root = tempfile.mkdtemp(prefix="zoo-smoke-")
        os.environ["ZOO_SMOKE_ROOT"] = root
    t0 = time.time()
    try:
        for s in steps:
            t = time.time()
            print(f"== zoo.{s}{' --smoke' if args.smoke else ''}", flush=True)
            mod = importlib.import_module(f"zoo.{s}")
            mod.main(["--smoke"] if args.smoke else [])
            print(f"== zoo.{s} done in {time.time() - t:.0f}s", flush=True)
            for name, extra in SMOKE_DIAGNOSTICS.get(s, []) if args.smoke else []:
                print(f"== zoo.{name} --smoke {' '.join(extra)}", flush=True)
                importlib.import_module(f"zoo.{name}").main(["--smoke", *extra])
        if args.smoke:
            import onnx
            from pathlib import Path
            files = sorted(Path(root).rglob("*.onnx"))
            for f in files:
                onnx.checker.check_model(str(f), full_check=True)
            print(f"smoke ok: {len(files)} ONNX files pass onnx.checker ({time.time() - t0:.0f}s)")
    finally:
        if root and not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
