"""The low-bit ONNX lowering reports which quantized tensors it stored, by checkpoint name, and an
export refuses a graph in which one of them would silently stay fp32."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import helper, numpy_helper

from pocketmt.export.compression.quantize import QTensor
from pocketmt.export.compression.quantizers import dequantize, quantize_tensor
from pocketmt.export.compression.schemes import Scheme
from pocketmt.export.errors import ExportError
from pocketmt.export.onnx_lowbit import lower_lowbit, require_all_lowered


def _qtensor(seed: int, scheme: Scheme) -> QTensor:
    w = torch.randn(8, 32, generator=torch.Generator().manual_seed(seed))
    return QTensor(scheme, *quantize_tensor(w, scheme))


def _matmul_graph(path: Path, weight_t: np.ndarray) -> None:
    """``y = x @ W`` with ``W`` stored as an fp32 initializer ``[K, N]``, as the exporter writes linears."""
    k, n = weight_t.shape
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, k])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, n])],
        [numpy_helper.from_array(np.ascontiguousarray(weight_t, dtype=np.float32), "w")],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))


def test_lowering_names_what_it_stored_and_refuses_what_it_missed(tmp_path: Path) -> None:
    found, missed = _qtensor(0, Scheme("int4", 16)), _qtensor(1, Scheme("ternary"))
    per_row_int8 = _qtensor(2, Scheme("int8"))  # stored by compact_onnx, not by this pass
    tensors = {"model.encoder.layers.0.fc1": found, "model.encoder.layers.0.fc2": missed, "x": per_row_int8}
    path = tmp_path / "g.onnx"
    _matmul_graph(path, dequantize(found.codes, found.scales).numpy().T)
    stats = lower_lowbit(path, tensors)
    assert stats.lowered == {"model.encoder.layers.0.fc1"}
    with pytest.raises(ExportError, match=r"1 quantized tensors were not found .*layers\.0\.fc2$"):
        require_all_lowered(tensors, stats)
    del tensors["model.encoder.layers.0.fc2"]
    require_all_lowered(tensors, stats)
