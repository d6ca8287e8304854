"""ONNX Runtime's int8 linear kernels, one node each, by the number of rows (issue 19's batch target).

    python benchmarks/bench_int8_kernels.py [--threads 1] [--output benchmarks/results/int8_kernels.json]

Times ``x[M,K] @ W.T`` with int8 weights in the two forms that keep each row's result independent of
the other rows (so a batch decodes as one sentence at a time does):

* ``matmul_nbits``: ``MatMulNBits(bits=8, accuracy_level=4)``, what int8 bundles' decoders run now
  (activations quantized to int8 per block of each row, inside the kernel);
* ``per_row_integer``: the activations quantized per row in the graph (``max|x| / 127``, rounded,
  shifted to uint8) and ``MatMulInteger`` u8 x u8 on the codes stored as ``code + 128``, then the row
  and column scales: what CTranslate2's int8 linear computes. Eight small nodes before the product,
  one activation quantization per linear here (a graph would share it between the linears that read
  the same input).

Random weights and inputs, medians of 400 runs after 50 warm-up runs, interleaved per shape. The
machine is noted. Neither form is ``DynamicQuantizeMatMul``, whose one activation scale per call ties
a row's result to the other rows (``docs/bundle.md``, "Weight storage").
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.bench_spine import machine

SHAPES = ((256, 256), (256, 1024), (1024, 256), (256, 8000))  # (K, N): the student's linears, projection
ROWS = (1, 4, 16, 64)  # greedy, beam 4, batch 4 x beam 4, batch 16 x beam 4


def _model(nodes: list[Any], inits: list[Any], k: int, n: int, domains: list[tuple[str, int]]) -> Any:
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        nodes,
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["M", k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["M", n])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in domains])


def matmul_nbits(k: int, n: int, rng: np.random.Generator) -> Any:
    from onnx import helper, numpy_helper

    block = 32
    codes = rng.integers(0, 256, (n, k // block, block), dtype=np.uint8)
    scales = rng.random(n * (k // block), dtype=np.float32) * 0.01
    node = helper.make_node(
        "MatMulNBits", ["x", "w", "s"], ["y"], domain="com.microsoft",
        K=k, N=n, bits=8, block_size=block, accuracy_level=4,
    )  # fmt: skip
    inits = [numpy_helper.from_array(codes, "w"), numpy_helper.from_array(scales, "s")]
    return _model([node], inits, k, n, [("", 21), ("com.microsoft", 1)])


def per_row_integer(k: int, n: int, rng: np.random.Generator) -> Any:
    from onnx import TensorProto, helper, numpy_helper

    def const(value: Any, name: str, dtype: Any = np.float32) -> Any:
        return numpy_helper.from_array(np.asarray(value, dtype), name)

    make = helper.make_node
    nodes = [
        make("Abs", ["x"], ["abs"]),
        make("ReduceMax", ["abs", "last"], ["amax"], keepdims=1),  # [M, 1]: one scale per row
        make("Mul", ["amax", "inv127"], ["scale0"]),
        make("Max", ["scale0", "tiny"], ["scale"]),
        make("Div", ["x", "scale"], ["ratio"]),
        make("Round", ["ratio"], ["rounded"]),
        make("Add", ["rounded", "zero_f"], ["shifted"]),
        make("Cast", ["shifted"], ["xq"], to=TensorProto.UINT8),
        make("MatMulInteger", ["xq", "w", "zero", "zero"], ["acc"]),
        make("Cast", ["acc"], ["accf"], to=TensorProto.FLOAT),
        make("Mul", ["accf", "scale"], ["rows"]),
        make("Mul", ["rows", "cols"], ["y"]),
    ]
    inits = [
        numpy_helper.from_array(rng.integers(1, 256, (k, n), dtype=np.uint8), "w"),
        numpy_helper.from_array(rng.random(n, dtype=np.float32) * 0.01, "cols"),
        const(1 / 127, "inv127"),
        const([-1], "last", np.int64),
        const(1e-30, "tiny"),
        const(128, "zero_f"),
        const(128, "zero", np.uint8),
    ]
    return _model(nodes, inits, k, n, [("", 21)])


def _median_us(session: Any, x: np.ndarray, runs: int = 400) -> float:
    for _ in range(50):
        session.run(None, {"x": x})
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        session.run(None, {"x": x})
        times.append(time.perf_counter() - began)
    return statistics.median(times) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", default="benchmarks/results/int8_kernels.json")
    args = parser.parse_args()

    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    rng = np.random.default_rng(0)
    rows: list[dict[str, Any]] = []
    for k, n in SHAPES:
        sessions = {
            name: ort.InferenceSession(
                build(k, n, rng).SerializeToString(), options, providers=["CPUExecutionProvider"]
            )
            for name, build in (("matmul_nbits", matmul_nbits), ("per_row_integer", per_row_integer))
        }
        for m in ROWS:
            x = rng.standard_normal((m, k)).astype(np.float32)
            timed = {name: round(_median_us(s, x), 1) for name, s in sessions.items()}
            ratio = timed["per_row_integer"] / timed["matmul_nbits"]
            rows.append({"K": k, "N": n, "M": m, "median_us": timed, "per_row_over_nbits": round(ratio, 2)})
            print(f"K={k:5d} N={n:5d} M={m:3d}  " + "  ".join(f"{a} {b:7.1f} us" for a, b in timed.items())
                  + f"  ratio {ratio:.2f}")  # fmt: skip
    result = {"machine": machine(), "threads": args.threads, "onnxruntime": ort.__version__, "rows": rows}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
