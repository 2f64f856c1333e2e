"""torch.onnx.export wrapper, post-processing (fp16 weight storage, external data) and I/O checks."""
import os
import tempfile
from pathlib import Path

import onnx
import torch
from onnx import TensorProto, numpy_helper

OPSET = 17  # highest opset torch 1.13 exports

DTYPE_NAMES = {
    TensorProto.FLOAT: "float32", TensorProto.FLOAT16: "float16", TensorProto.BFLOAT16: "bfloat16",
    TensorProto.DOUBLE: "float64", TensorProto.INT64: "int64", TensorProto.INT32: "int32",
    TensorProto.BOOL: "bool", TensorProto.UINT8: "uint8", TensorProto.INT8: "int8",
}


def export(module, args, path: Path, input_names, output_names, dynamic_axes, opset=OPSET,
           external=None, fp16_weights=False, static_output_dims=None):
    """Export `module(*args)`; external = dict(location=..., size_threshold=..., convert_attribute=...).

    static_output_dims: {output: {axis: int}} declared on the graph outputs after export, as the
    shape-inference pass of some exporters (TensorRT demoDiffusion / BFL) leaves them."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    module.eval()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = os.path.join(tmp, "model.onnx")
        with torch.no_grad():
            torch.onnx.export(module, tuple(args), tmp_path, input_names=list(input_names),
                              output_names=list(output_names), dynamic_axes=dynamic_axes,
                              opset_version=opset, do_constant_folding=True)
        model = onnx.load(tmp_path)
    if fp16_weights:
        store_weights_fp16(model)
    for out in model.graph.output:
        for axis, value in (static_output_dims or {}).get(out.name, {}).items():
            d = out.type.tensor_type.shape.dim[axis]
            d.Clear()
            d.dim_value = value
    save(model, path, external)
    return path


def save(model, path: Path, external=None):
    for f in path.parent.glob(path.name + "*"):
        f.unlink()
    if external:
        loc = external["location"]
        if (path.parent / loc).exists():
            (path.parent / loc).unlink()
        onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=loc, size_threshold=external.get("size_threshold", 1024),
                        convert_attribute=external.get("convert_attribute", False))
    else:
        onnx.save(model, str(path))


def store_weights_fp16(model):
    """Store float32 initializers as float16 behind a Cast back to float32 (compute stays float32).

    A real `--fp16` export computes in float16 throughout; the twin keeps float32 compute so that the
    CPU execution provider (which lacks float16 kernels for most ops) can run it. The graph I/O is
    float16 either way (the torch module casts at its boundary).
    """
    g = model.graph
    casts = []
    for init in list(g.initializer):
        if init.data_type != TensorProto.FLOAT or len(init.dims) == 0:
            continue
        arr = numpy_helper.to_array(init)
        new = numpy_helper.from_array(arr.astype("float16"), init.name + "_fp16")
        g.initializer.remove(init)
        g.initializer.append(new)
        casts.append(onnx.helper.make_node("Cast", [new.name], [init.name], to=TensorProto.FLOAT,
                                           name=f"/Cast_fp16_weights/{init.name}"))
    for n in reversed(casts):
        g.node.insert(0, n)


def dims_of(value_info):
    out = []
    for d in value_info.type.tensor_type.shape.dim:
        if d.HasField("dim_value"):
            out.append(int(d.dim_value))
        elif d.HasField("dim_param"):
            out.append(d.dim_param)
        else:
            out.append(None)
    return out


def graph_io(path: Path):
    m = onnx.load(str(path), load_external_data=False)
    init = {i.name for i in m.graph.initializer}

    def desc(v):
        return {"name": v.name, "dtype": DTYPE_NAMES.get(v.type.tensor_type.elem_type, str(v.type.tensor_type.elem_type)),
                "shape": dims_of(v)}

    return {"inputs": [desc(v) for v in m.graph.input if v.name not in init],
            "outputs": [desc(v) for v in m.graph.output],
            "opset": max(o.version for o in m.opset_import if o.domain in ("", "ai.onnx")),
            "ir_version": m.ir_version}


def compare_io(expected, actual, where):
    """expected/actual: {'inputs': [...], 'outputs': [...]}. Dims: int must match, str must match the
    symbolic name, None accepts anything (the real exporter does not fix that dim's name)."""
    errors = []
    for kind in ("inputs", "outputs"):
        en = [e["name"] for e in expected[kind]]
        an = [a["name"] for a in actual[kind]]
        if en != an:
            errors.append(f"{where}: {kind} names {an} != expected {en}")
            continue
        for e, a in zip(expected[kind], actual[kind]):
            if e["dtype"] != a["dtype"]:
                errors.append(f"{where}: {e['name']} dtype {a['dtype']} != {e['dtype']}")
            if len(e["shape"]) != len(a["shape"]):
                errors.append(f"{where}: {e['name']} rank {len(a['shape'])} != {len(e['shape'])}")
                continue
            for i, (ed, ad) in enumerate(zip(e["shape"], a["shape"])):
                if ed is not None and ed != ad:
                    errors.append(f"{where}: {e['name']} dim {i} is {ad!r}, expected {ed!r}")
    return errors


def check_model(path: Path):
    """onnx.checker by path (works with external data)."""
    onnx.checker.check_model(str(path))
    m = onnx.load(str(path), load_external_data=False)
    uses_external = any(
        t.data_location == TensorProto.EXTERNAL for t in m.graph.initializer)
    files = sorted({e.value for t in m.graph.initializer if t.data_location == TensorProto.EXTERNAL
                    for e in t.external_data if e.key == "location"})
    return {"external_data": uses_external, "external_files": files}
