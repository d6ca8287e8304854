"""Lossless compact storage for ONNX weights.

Each fp32 matrix initializer is stored in the smallest encoding that reproduces it bit for bit:
int8 with one fp32 scale per row or column (decoded by ``DequantizeLinear``), fp16 (decoded by
``Cast``), or fp32 as it was. An encoding is chosen only after decoding it in numpy and comparing
bytes, so this pass never changes a number the graph computes. It only pays off when the weights
were rounded first (``compression/weight_formats.py``) or come from an fp16 checkpoint.

The decode nodes act on constants, so ONNX Runtime folds them once when the session is created
(the runtime turns off its QDQ fusion for bundles that say ``dequantize_at_load``): memory and speed
are those of the fp32 graph, only the file is smaller.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from pocketmt.export.compression.schemes import QMAX

INT8_MAX = QMAX["int8"]
MIN_ELEMENTS = 1024  # small tensors (biases, norms) are not worth a decode node


def _int8_encoding(w: np.ndarray) -> tuple[np.ndarray, np.ndarray, int] | None:
    """``(q, scale, axis)`` with ``q * scale`` (along ``axis``) equal to ``w`` bit for bit, if any."""
    for axis in (0, 1):
        rows = w if axis == 0 else w.T
        amax = np.abs(rows).max(axis=1)
        base = np.where(amax > 0, amax / np.float32(INT8_MAX), np.float32(1)).astype(np.float32)
        # the scale that produced w may sit one ulp either side of amax / 127; try all three
        for scale in (base, np.nextafter(base, np.float32(np.inf)), np.nextafter(base, np.float32(0))):
            q = np.round(rows / scale[:, None])
            if np.abs(q).max() > INT8_MAX:
                continue
            exact = (q.astype(np.float32) * scale[:, None]).view(np.uint32) == rows.view(np.uint32)
            if exact.all():
                q8 = q.astype(np.int8)
                return (q8 if axis == 0 else np.ascontiguousarray(q8.T)), scale.astype(np.float32), axis
    return None


def compact_onnx(path: Path) -> dict[str, int]:
    """Re-encode ``path`` in place; returns the bytes stored in each encoding."""
    model = onnx.load(str(path))
    graph = model.graph
    kept: list[onnx.TensorProto] = []
    decoders: list[onnx.NodeProto] = []
    stored = {"int8": 0, "fp16": 0, "fp32": 0}
    for init in graph.initializer:
        w = numpy_helper.to_array(init)
        if init.data_type != onnx.TensorProto.FLOAT or w.ndim != 2 or w.size < MIN_ELEMENTS:
            kept.append(init)
            if init.data_type == onnx.TensorProto.FLOAT:
                stored["fp32"] += w.nbytes
            continue
        name = init.name
        w = np.ascontiguousarray(w, dtype=np.float32)
        enc = _int8_encoding(w)
        if enc is not None:
            q, scale, axis = enc
            kept += [numpy_helper.from_array(q, f"{name}__q"), numpy_helper.from_array(scale, f"{name}__s")]
            decoders.append(
                helper.make_node("DequantizeLinear", [f"{name}__q", f"{name}__s"], [name], axis=axis)
            )
            stored["int8"] += q.nbytes + scale.nbytes
            continue
        half = w.astype(np.float16)
        if (half.astype(np.float32).view(np.uint32) == w.view(np.uint32)).all():
            kept.append(numpy_helper.from_array(half, f"{name}__h"))
            decoders.append(helper.make_node("Cast", [f"{name}__h"], [name], to=onnx.TensorProto.FLOAT))
            stored["fp16"] += half.nbytes
            continue
        kept.append(init)
        stored["fp32"] += w.nbytes
    if decoders:
        del graph.initializer[:]
        graph.initializer.extend(kept)
        nodes = decoders + list(graph.node)
        del graph.node[:]
        graph.node.extend(nodes)
        onnx.save(model, str(path))
    return stored


SHARED_MIN_BYTES = 4096  # smaller tensors stay inside their graph file
ALIGN = 64


def share_weights(folder: Path, graph_files: tuple[str, ...], blob_name: str) -> int:
    """Move the large initializers of ``graph_files`` into one external-data file ``blob_name``,
    storing each distinct tensor once: the token embedding that the encoder gathers from and the
    decoder both gathers from and projects with (tied) is written one time for the whole bundle.
    Returns the bytes of ``blob_name``."""
    from onnx.external_data_helper import set_external_data

    models = {name: onnx.load(str(folder / name)) for name in graph_files}
    offsets: dict[tuple[int, bytes], tuple[int, int]] = {}
    blob = bytearray()
    for model in models.values():
        for init in model.graph.initializer:
            data = numpy_helper.to_array(init).tobytes()
            if len(data) < SHARED_MIN_BYTES:
                continue
            # the bytes, not the shape: one table may be viewed in two layouts (a gather's rows, a
            # kernel's blocks), each initializer keeping its own dims over the same stored bytes
            key = (init.data_type, data)
            if key not in offsets:
                blob.extend(b"\0" * (-len(blob) % ALIGN))
                offsets[key] = (len(blob), len(data))
                blob.extend(data)
            offset, length = offsets[key]
            for field in ("float_data", "int32_data", "int64_data", "double_data"):
                init.ClearField(field)
            init.raw_data = data  # the helper insists on raw_data before it points elsewhere
            set_external_data(init, blob_name, offset, length)
            init.data_location = onnx.TensorProto.EXTERNAL
            init.ClearField("raw_data")
    (folder / blob_name).write_bytes(bytes(blob))
    for name, model in models.items():
        (folder / name).write_bytes(model.SerializeToString())
    return len(blob)
