"""Build and check the layout twins.

  cd models/zoo && /usr/bin/python3 -m zoo.twins.build [--out DIR] [--only NAME ...]   # -> models/twins/<name>/
  cd models/zoo && /usr/bin/python3 -m zoo.twins.build --smoke                        # temp dir, check, run
  cd models/zoo && /usr/bin/python3 -m zoo.twins.build --check-only [--out DIR]       # check existing twins

Each twin is checked with onnx.checker (by path, so external data is read), its graph I/O is compared
with the expected table (names, dtypes, symbolic dims), and every graph is loaded and run once with
onnxruntime-node (node + the repository's node_modules) unless --no-ort.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import onnx
from onnx import TensorProto, helper

from . import layouts
from .export import check_model, compare_io, graph_io

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[3]
DEFAULT_OUT = REPO / "models" / "twins"
SIZE_BUDGET = 8 * 1024 * 1024


def folder_files(root: Path):
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name != "twin.json")


def build_twin(name, out: Path):
    root = out / name
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    builder, meta = layouts.TWINS[name](root)
    graphs = []
    for g in builder.graphs:
        path = root / g["path"]
        graphs.append({
            "path": g["path"],
            "external_data": g["external_data"],
            "inputs": g["inputs"],
            "outputs": g["outputs"],
            "graph": graph_io(path),
            "smoke": g["smoke"],
            **({"notes": g["notes"]} if "notes" in g else {}),
        })
    files = [{"path": str(p.relative_to(root)), "bytes": p.stat().st_size} for p in folder_files(root)]
    manifest = {
        "format": "atelier-layout-twin/1",
        "name": name,
        **meta,
        "dims_legend": "int: fixed; string: exact symbolic dim name; null: dynamic, name chosen by the exporter "
                       "(do not rely on it). 'graph' repeats what the twin's file declares.",
        "graphs": graphs,
        "files": files,
        "total_bytes": sum(f["bytes"] for f in files),
    }
    (root / "twin.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def check_twin(root: Path):
    manifest = json.loads((root / "twin.json").read_text())
    errors = []
    for g in manifest["graphs"]:
        path = root / g["path"]
        try:
            ext = check_model(path)
        except Exception as e:  # noqa: BLE001
            errors.append(f"{g['path']}: onnx.checker: {e}")
            continue
        if bool(g["external_data"]) != ext["external_data"]:
            errors.append(f"{g['path']}: external data {ext} but expected {g['external_data']}")
        if g["external_data"] and ext["external_files"] != [g["external_data"]]:
            errors.append(f"{g['path']}: external files {ext['external_files']} != [{g['external_data']}]")
        actual = graph_io(path)
        errors += compare_io(g, actual, f"{manifest['name']}/{g['path']}")
    listed = {f["path"] for f in manifest["files"]}
    present = {str(p.relative_to(root)) for p in folder_files(root)}
    if listed != present:
        errors.append(f"{manifest['name']}: files {sorted(present ^ listed)} differ from twin.json")
    return manifest, errors


def bf16_io_to_float(src: Path, dst: Path):
    """Rewrite bfloat16 graph inputs/outputs to float32 with Cast nodes (what an engine on
    onnxruntime-node has to do before it can open such a graph)."""
    m = onnx.load(str(src))
    g = m.graph
    new_nodes = []
    for inp in g.input:
        if inp.type.tensor_type.elem_type != TensorProto.BFLOAT16:
            continue
        inner = inp.name + "__bf16"
        for n in g.node:
            for i, x in enumerate(n.input):
                if x == inp.name:
                    n.input[i] = inner
        new_nodes.append(helper.make_node("Cast", [inp.name], [inner], to=TensorProto.BFLOAT16))
        inp.type.tensor_type.elem_type = TensorProto.FLOAT
    tail = []
    for out in g.output:
        if out.type.tensor_type.elem_type != TensorProto.BFLOAT16:
            continue
        inner = out.name + "__bf16"
        for n in g.node:
            for i, x in enumerate(n.output):
                if x == out.name:
                    n.output[i] = inner
        tail.append(helper.make_node("Cast", [inner], [out.name], to=TensorProto.FLOAT))
        out.type.tensor_type.elem_type = TensorProto.FLOAT
    for n in reversed(new_nodes):
        g.node.insert(0, n)
    g.node.extend(tail)
    onnx.save(m, str(dst))


def ort_plan(root: Path, manifest, scratch: Path):
    plan = []
    for g in manifest["graphs"]:
        path = root / g["path"]
        if g["smoke"]["wrap_bf16"]:
            wrapped = scratch / (manifest["name"] + "__" + g["path"].replace("/", "_"))
            bf16_io_to_float(path, wrapped)
            path = wrapped
        plan.append({"path": str(path), "inputs": g["smoke"]["inputs"], "outputs": [o["name"] for o in g["outputs"]],
                     "expect": g["smoke"]["expect"], "run": True})
    return plan


def run_ort(plan, scratch: Path):
    node = shutil.which("node")
    if not node:
        return None, "node not found: ORT run skipped"
    plan_path = scratch / "plan.json"
    plan_path.write_text(json.dumps(plan))
    proc = subprocess.run([node, str(HERE / "ort_check.cjs"), str(plan_path)], capture_output=True, text=True)
    lines = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
    if proc.returncode != 0 and not lines:
        return None, f"ort_check failed: {proc.stderr.strip()[-500:]}"
    return lines, None


def fmt_shape(shape):
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"


def write_readme(out: Path, names):
    """models/twins/README.md: the I/O tables of every twin, generated from the twin.json files."""
    lines = ["# Layout twins", "",
             "Tiny random-weight models in the exact on-disk layouts, graph I/O names, dtypes and dynamic axes of",
             "the real exports the engine must load. Generated by `cd models/zoo && /usr/bin/python3 -m zoo.twins.build`",
             "(do not edit by hand); the facts behind them, with sources, are in [FACTS.md](FACTS.md). Each folder's",
             "`twin.json` holds the same tables in machine form, plus what is real-sized and what is shrunk.",
             "", "Shapes: numbers are fixed, names are the exact symbolic dims, `?` is a dynamic dim whose name the",
             "real exporter generates itself (do not rely on it).", ""]
    for name in names:
        m = json.loads((out / name / "twin.json").read_text())
        lines += [f"## {name} ({m['total_bytes'] / 1024:.0f} KiB)", "", m["mimics"] + ".", ""]
        lines += ["| graph | input / output | name | dtype | shape |", "|---|---|---|---|---|"]
        for g in m["graphs"]:
            ext = f" (+ {g['external_data']})" if g["external_data"] else ""
            first = True
            for kind in ("inputs", "outputs"):
                for v in g[kind]:
                    lines.append(f"| {g['path'] + ext if first else ''} | {kind[:-1]} | `{v['name']}` | {v['dtype']} | "
                                 f"{fmt_shape(v['shape'])} |")
                    first = False
        lines += ["", "Other files: " + ", ".join(f"`{f['path']}`" for f in m["files"]
                                               if not f["path"].endswith((".onnx", ".onnx_data", ".pb"))), ""]
        for key in ("deviations", "absent", "unconfirmed"):
            if m.get(key):
                lines += [f"{key.capitalize()}: " + "; ".join(m[key]) + ".", ""]
    (out / "README.md").write_text("\n".join(lines))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--only", nargs="*", choices=sorted(layouts.TWINS), default=None)
    ap.add_argument("--smoke", action="store_true", help="build everything into a temp dir and check it")
    ap.add_argument("--check-only", action="store_true", help="check already built twins")
    ap.add_argument("--no-ort", action="store_true", help="skip the onnxruntime-node run")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")  # torch.onnx's tracer warnings are expected for these graphs

    names = args.only or list(layouts.TWINS)
    tmp = tempfile.mkdtemp(prefix="twins-")
    out = Path(tmp) / "twins" if args.smoke else (args.out or DEFAULT_OUT)
    scratch = Path(tmp) / "scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    failures = []
    n_graphs = 0
    try:
        plan = []
        for name in names:
            if not args.check_only:
                build_twin(name, out)
            manifest, errors = check_twin(out / name)
            failures += errors
            print(f"{name}: {len(manifest['graphs'])} graphs, {manifest['total_bytes'] / 1024:.0f} KiB"
                  f"{'' if not errors else ', ' + str(len(errors)) + ' errors'}")
            for e in errors:
                print("  ERROR", e)
            if not args.no_ort:
                plan += ort_plan(out / name, manifest, scratch)
        if plan:
            results, why = run_ort(plan, scratch)
            if results is None:
                print("ORT:", why)
                if "node not found" not in why:
                    failures.append(why)
            for r in results or []:
                g = Path(r["graph"])
                rel = (str(g.relative_to(out)) if str(g).startswith(str(out))
                       else "(bf16 I/O rewritten to float32) " + g.name.replace("__", "/", 1))
                if r["ok"]:
                    ran = ", ".join(f"{k} {v['type']}{v['dims']}" for k, v in r.get("ran", {}).items())
                    print(f"  ran {rel}: {ran}")
                else:
                    print(f"  FAILED {rel}: {r['error']}")
                    failures.append(f"{rel}: {r['error']}")
        if not args.smoke and not args.check_only and set(names) == set(layouts.TWINS):
            write_readme(out, list(layouts.TWINS))
        n_graphs = sum(len(json.loads((out / n / "twin.json").read_text())["graphs"]) for n in names)
        total = sum(json.loads((out / n / "twin.json").read_text())["total_bytes"] for n in names)
        print(f"total {total / 1024:.0f} KiB for {len(names)} twins in {time.time() - t0:.1f}s -> {out}")
        if set(names) == set(layouts.TWINS) and total > SIZE_BUDGET:
            failures.append(f"twins take {total} bytes, over the {SIZE_BUDGET} budget")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{max(n_graphs - len(failures), 0)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
