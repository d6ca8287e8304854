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
    # per-row int8 with fp32 activations (accuracy level 1) is compact_onnx's, not this pass's
    per_row_int8 = _qtensor(2, Scheme("int8"))
    tensors = {"model.encoder.layers.0.fc1": found, "model.encoder.layers.0.fc2": missed, "x": per_row_int8}
    path = tmp_path / "g.onnx"
    _matmul_graph(path, dequantize(found.codes, found.scales).numpy().T)
    stats = lower_lowbit(path, tensors, accuracy_level=1)
    assert stats.lowered == {"model.encoder.layers.0.fc1"}
    with pytest.raises(ExportError, match=r"1 quantized tensors were not found .*layers\.0\.fc2$"):
        require_all_lowered(tensors, stats, accuracy_level=1)
    del tensors["model.encoder.layers.0.fc2"]
    require_all_lowered(tensors, stats, accuracy_level=1)
    # with int8 activations it is this pass's: missing it is refused too
    with pytest.raises(ExportError, match=r"1 quantized tensors were not found .*: x$"):
        require_all_lowered(tensors, stats, accuracy_level=4)


def test_per_call_int8_linear_becomes_dynamic_quantize_matmul_with_its_bias(tmp_path: Path) -> None:
    """In the encoder (``per_call``) a per-row int8 linear is ``DynamicQuantizeMatMul`` on its codes,
    stored once as int8 ``[K, N]`` with fp16 scales, the bias folded into the node; the product is the
    fp32 one up to int8 activations."""
    import onnxruntime as ort

    q = _qtensor(3, Scheme("int8"))
    w = dequantize(q.codes, q.scales).numpy()  # [N, K]
    n, k = w.shape
    bias = np.random.default_rng(5).standard_normal(n).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["p"]), helper.make_node("Add", ["p", "b"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["m", k])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["m", n])],
        [numpy_helper.from_array(np.ascontiguousarray(w.T), "w"), numpy_helper.from_array(bias, "b")],
    )
    path = tmp_path / "g.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))
    stats = lower_lowbit(path, {"fc": q}, accuracy_level=4, per_call=True)
    assert stats.lowered == {"fc"} and stats.per_call == 1
    model = onnx.load(str(path))
    assert [nd.op_type for nd in model.graph.node] == ["Cast", "DynamicQuantizeMatMul"]
    (mm,) = [nd for nd in model.graph.node if nd.op_type == "DynamicQuantizeMatMul"]
    assert mm.input[4] == "b" and mm.output[0] == "y"
    codes = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}[mm.input[1]]
    # uint8 with zero point 128: AVX2's u8 x s8 kernel saturates on full-range int8 codes
    assert codes.dtype == np.uint8 and codes.shape == (k, n)
    assert np.array_equal(codes.astype(np.int16) - 128, q.codes.numpy().T)
    x = np.random.default_rng(0).standard_normal((4, k)).astype(np.float32)
    (y,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    want = x @ w.T + bias
    assert np.allclose(y, want, rtol=0.05, atol=0.05 * np.abs(want).max())
    # without per_call the same linear is the decoder's row-independent MatMulNBits
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))
    assert lower_lowbit(path, {"fc": q}, accuracy_level=4).per_call == 0
    assert "MatMulNBits" in [nd.op_type for nd in onnx.load(str(path)).graph.node]


def test_int8_linear_becomes_an_8_bit_matmul_nbits_with_int8_activations(tmp_path: Path) -> None:
    """``export --weights int8``: a per-row int8 linear runs as ``MatMulNBits(bits=8)`` on its codes
    (int8 x int8, as CTranslate2 runs), not as an fp32 MatMul over weights decoded at load."""
    import onnxruntime as ort

    q = _qtensor(3, Scheme("int8"))
    w = dequantize(q.codes, q.scales).numpy()  # [N, K]
    path = tmp_path / "g.onnx"
    _matmul_graph(path, np.ascontiguousarray(w.T))
    stats = lower_lowbit(path, {"fc": q}, accuracy_level=4)
    assert stats.lowered == {"fc"}
    model = onnx.load(str(path))
    (nbits,) = [n for n in model.graph.node if n.op_type == "MatMulNBits"]
    attrs = {a.name: helper.get_attribute_value(a) for a in nbits.attribute}
    assert attrs["bits"] == 8 and attrs["accuracy_level"] == 4
    assert not [
        i for i in model.graph.initializer if i.data_type == onnx.TensorProto.FLOAT and len(i.dims) == 2
    ]
    x = np.random.default_rng(0).standard_normal((3, w.shape[1])).astype(np.float32)
    (y,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x[:1]})
    want = x[:1] @ w.T
    # int8 activations: close to the fp32 product, not equal
    assert np.allclose(y, want, rtol=0.05, atol=0.05 * np.abs(want).max())


def test_ternary_with_fp32_activations_runs_the_4_bit_kernel_on_2_bit_storage(tmp_path: Path) -> None:
    """ONNX Runtime's 2-bit MatMulNBits has no fp32-activation kernel (it dequantizes the whole weight
    at every call): with ``accuracy_level=1`` the file keeps 2 bits per weight and constant nodes,
    folded at load, repack them for the 4-bit kernel, which gives the fp32 product of the codes."""
    import onnxruntime as ort

    w = torch.randn(64, 96, generator=torch.Generator().manual_seed(4))
    q = QTensor(Scheme("ternary"), *quantize_tensor(w, Scheme("ternary")))
    wd = dequantize(q.codes, q.scales).numpy()
    path = tmp_path / "g.onnx"
    _matmul_graph(path, np.ascontiguousarray(wd.T))
    lower_lowbit(path, {"fc": q}, accuracy_level=1)
    model = onnx.load(str(path))
    (nbits,) = [n for n in model.graph.node if n.op_type == "MatMulNBits"]
    assert {a.name: helper.get_attribute_value(a) for a in nbits.attribute}["bits"] == 4
    stored = [
        i for i in model.graph.initializer if i.data_type == onnx.TensorProto.UINT8 and len(i.dims) == 3
    ]
    assert [numpy_helper.to_array(i).size for i in stored] == [64 * 96 // 4]  # 2 bits per weight on disk
    x = np.random.default_rng(0).standard_normal((1, 96)).astype(np.float32)
    (y,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    assert np.allclose(y, x @ wd.T, atol=1e-4)


def test_int8_projection_and_its_vocabulary_subset_compute_alike(tmp_path: Path) -> None:
    """A per-row int8 tied table with int8 activations: the full output projection quantizes each row
    of activations to int8 (``max|x| / 127``) and multiplies on the stored codes with ``MatMulInteger``
    (no fp32 copy of the table): exactly the integer product, each row independent of the others; the
    projection over a subset of rows (the shortlist step's ``x @ Transpose(Gather(table, ids))``)
    is the same integer product on the gathered codes, so its logits are the full ones' columns,
    bit for bit, with no row decoded to fp32."""
    import onnxruntime as ort

    gen = torch.Generator().manual_seed(11)
    n, k = 40, 256
    w = torch.randn(n, k, generator=gen)
    q = QTensor(Scheme("int8"), *quantize_tensor(w, Scheme("int8")))
    table = dequantize(q.codes, q.scales).numpy()  # [N, K]
    nodes = [
        helper.make_node("Gemm", ["x", "table"], ["full"], transB=1),
        helper.make_node("Gather", ["table", "ids"], ["rows"], axis=0),
        helper.make_node("Transpose", ["rows"], ["rows_t"], perm=[1, 0]),
        helper.make_node("MatMul", ["x", "rows_t"], ["subset"]),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [
            helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["r", k]),
            helper.make_tensor_value_info("ids", onnx.TensorProto.INT64, ["c"]),
        ],
        [
            helper.make_tensor_value_info("full", onnx.TensorProto.FLOAT, ["r", n]),
            helper.make_tensor_value_info("subset", onnx.TensorProto.FLOAT, ["r", "c"]),
        ],
        [numpy_helper.from_array(table, "table")],
    )
    path = tmp_path / "p.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))
    lower_lowbit(path, {"lm_head": q}, accuracy_level=4)
    model = onnx.load(str(path))
    ops = [nd.op_type for nd in model.graph.node]
    assert ops.count("MatMulInteger") == 2 and "MatMul" not in ops  # the full and the subset product
    assert not [nd for nd in model.graph.node if nd.op_type == "MatMulNBits"]
    assert not [
        i for i in model.graph.initializer if i.data_type == onnx.TensorProto.FLOAT and len(i.dims) == 2
    ]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(2)
    ids = np.asarray([3, 0, 17, 39, 8], np.int64)
    codes = q.codes.numpy().astype(np.int64)  # [N, K]
    col_scales = q.scales.numpy().reshape(n).astype(np.float32)
    for scale in (0.1, 1.0, 6.0):
        x = (rng.standard_normal((4, k)) * scale).astype(np.float32)
        full, subset = session.run(None, {"x": x, "ids": ids})
        assert np.array_equal(subset, full[:, ids])
        # the integer product itself: no saturation, one activation scale per row
        row_scales = np.abs(x).max(axis=1, keepdims=True) / np.float32(127.0)
        xq = np.rint(x / row_scales).astype(np.int64)
        exact = (xq @ codes.T).astype(np.float32) * row_scales * col_scales
        assert np.allclose(full, exact, rtol=1e-5, atol=1e-5)
        # each row as if alone: a batch's logits are its sentences' own
        alone = np.concatenate([session.run(None, {"x": x[i : i + 1], "ids": ids})[0] for i in range(4)])
        assert np.array_equal(alone, full)
        # and the int8 activations are not the fp32 product (so the check above can tell them apart)
        assert not np.allclose(full, x @ table.T, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("per_call", [False, True])
def test_linears_over_one_input_run_as_one_kernel_with_the_same_outputs(
    tmp_path: Path, per_call: bool
) -> None:
    """Query, key and value projections (three linears with biases over one input) become one low-bit
    kernel and a Split; a linear over another input stays alone. Every output is bit-identical to its
    linear lowered by itself, and the file stores each weight once (the Concat is folded at load)."""
    import onnxruntime as ort

    rng = np.random.default_rng(7)
    qs = {f"l{i}": _qtensor(10 + i, Scheme("int8")) for i in range(4)}
    ws = {name: dequantize(q.codes, q.scales).numpy() for name, q in qs.items()}  # [N, K] each
    biases = {name: rng.standard_normal(w.shape[0]).astype(np.float32) for name, w in ws.items()}
    k = ws["l0"].shape[1]
    reads = {"l0": "x", "l1": "x", "l2": "x", "l3": "h"}

    def save(names: list[str], path: Path) -> None:
        nodes = [helper.make_node("Relu", ["x"], ["h"])] if "l3" in names else []
        for name in names:
            nodes += [
                helper.make_node("MatMul", [reads[name], f"{name}_w"], [f"{name}_p"]),
                helper.make_node("Add", [f"{name}_p", f"{name}_b"], [f"{name}_y"]),
            ]
        inits = [numpy_helper.from_array(np.ascontiguousarray(ws[n].T), f"{n}_w") for n in names]
        inits += [numpy_helper.from_array(biases[n], f"{n}_b") for n in names]
        graph = helper.make_graph(
            nodes,
            "g",
            [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["m", k])],
            [helper.make_tensor_value_info(f"{n}_y", onnx.TensorProto.FLOAT, ["m", 8]) for n in names],
            inits,
        )
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))
        lower_lowbit(path, {n: qs[n] for n in names}, accuracy_level=4, per_call=per_call)

    def run(path: Path, x: np.ndarray) -> list[np.ndarray]:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return list(session.run(None, {"x": x}))

    x = rng.standard_normal((3, k)).astype(np.float32)
    path = tmp_path / "all.onnx"
    save(list(qs), path)
    model = onnx.load(str(path))
    kernel = "DynamicQuantizeMatMul" if per_call else "MatMulNBits"
    assert [n.op_type for n in model.graph.node].count(kernel) == 2  # l0-l2 fused, l3 alone
    assert [n.op_type for n in model.graph.node].count("Split") == 1
    stored = sum(i.ByteSize() for i in model.graph.initializer)
    alone = []
    for name in qs:
        one = tmp_path / f"{name}.onnx"
        save([name], one)
        (y,) = run(one, x)
        alone.append(y)
        stored -= sum(i.ByteSize() for i in onnx.load(str(one)).graph.initializer)
    assert stored < 64  # the split sizes, no second copy of a weight
    for got, want in zip(run(path, x), alone, strict=True):
        assert np.array_equal(got, want)
