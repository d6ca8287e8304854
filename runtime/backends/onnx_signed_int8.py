"""Integer products on signed weights where this CPU computes them exactly: a load-time rewrite of an
ONNX graph that changes the kernel ONNX Runtime picks, never a result.

Bundles store int8 weight codes ``c`` as ``uint8`` ``c + 128`` with zero point 128 (``docs/bundle.md``,
"Weight storage"), because on x86 without VNNI MLAS's ``u8 x s8`` kernel adds pairs of products in
saturating int16. Where the CPU has a dot-product instruction (AVX-VNNI, AVX512-VNNI, AMX), ``u8 x s8``
is exact, and on a Xeon with AMX it took 0.33-0.5x the time of ``u8 x u8`` from 16 rows on
(``docs/bundle.md``). Both compute ``sum((a - za) * (w - zw))`` in int32, so moving a
weight and its zero point down by 128 (``w - 128`` as int8, ``zw - 128``) gives the same integers, and
the same outputs bit for bit.

``signed_weights_exact`` runs ``u8 x s8`` once on the worst case (every product at its largest) and
compares it with numpy; ``signed_graph`` rewrites a graph's ``MatMulInteger`` and
``DynamicQuantizeMatMul`` weights (through the data-moving nodes between them and their initializers:
the rows a shortlist gathers, the weights joined by ``Concat``) into signed copies, leaving every
other reader of the unsigned initializers as it was. Needs the ``onnx`` package; without it, or on a
CPU where the probe fails, the graph runs as stored.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np

# (op type, weight input, weight zero-point input) of the integer products
_PRODUCTS = {"MatMulInteger": (1, 3), "DynamicQuantizeMatMul": (1, 3)}
# nodes that move integers without arithmetic: which inputs carry the weight's values
_MOVES = {"Transpose": (0,), "Gather": (0,), "Reshape": (0,), "Concat": None}  # None: all inputs
_SUFFIX = "__s8"


@functools.cache
def signed_weights_exact() -> bool:
    """Whether ONNX Runtime's ``u8 x s8`` integer product is exact on this CPU (the largest products,
    positive and negative, over a depth where saturating int16 pairs would show)."""
    try:
        import onnxruntime as ort
        from onnx import TensorProto, helper, numpy_helper
    except ImportError:
        return False
    depth, cols = 256, 64
    weights = np.full((depth, cols), 127, np.int8)
    weights[:, cols // 2 :] = -128
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["a", "w"], ["y"])],
        "probe",
        [helper.make_tensor_value_info("a", TensorProto.UINT8, ["M", depth])],
        [helper.make_tensor_value_info("y", TensorProto.INT32, ["M", cols])],
        [numpy_helper.from_array(weights, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    for rows in (1, 4, 64):  # kernels differ by shape (a vector, a few rows, a full tile)
        a = np.full((rows, depth), 255, np.uint8)
        got = session.run(None, {"a": a})[0]
        if not np.array_equal(got, a.astype(np.int64) @ weights.astype(np.int64)):
            return False
    return True


def _read_initializer(tensor: Any, folder: Path) -> np.ndarray:
    """An initializer's values; external data only from a plain file name in ``folder`` (the bundle)."""
    from onnx import numpy_helper

    for entry in tensor.external_data:
        if entry.key == "location":
            name = entry.value
            if Path(name).name != name or name in ("", ".", ".."):
                raise ValueError(f"external data {name!r} is not a file of the bundle")
    array: np.ndarray = numpy_helper.to_array(tensor, base_dir=str(folder))
    return array


class _Rewrite:
    def __init__(self, graph: Any, folder: Path) -> None:
        self.graph = graph
        self.folder = folder
        self.inits = {t.name: t for t in graph.initializer}
        self.producer = {out: node for node in graph.node for out in node.output}
        self.copies: dict[str, str] = {}  # uint8 tensor -> its signed copy
        self.new_inits: list[Any] = []
        self.placed: list[Any] = []  # the nodes of the rewritten graph, in order

    def _data_inputs(self, node: Any) -> range | tuple[int, ...]:
        carried = _MOVES[node.op_type]
        return range(len(node.input)) if carried is None else carried

    def signable(self, name: str) -> bool:
        """Whether ``name`` comes from uint8 initializers through data-moving nodes only."""
        from onnx import TensorProto

        tensor = self.inits.get(name)
        if tensor is not None:
            return bool(tensor.data_type == TensorProto.UINT8)
        node = self.producer.get(name)
        if node is None or node.op_type not in _MOVES or len(node.output) != 1:
            return False
        return all(self.signable(node.input[i]) for i in self._data_inputs(node))

    def signed_copy(self, name: str) -> str:
        """The signed copy of the ``signable`` tensor ``name`` (``w - 128`` as int8), made once: an
        initializer, or a clone of the data-moving node placed before the product that first needs it
        (the clone reads only what exists before that product)."""
        if name in self.copies:
            return self.copies[name]
        from onnx import helper, numpy_helper

        copy = name + _SUFFIX
        tensor = self.inits.get(name)
        if tensor is not None:
            values = _read_initializer(tensor, self.folder)
            signed = (values.astype(np.int16) - 128).astype(np.int8)
            self.new_inits.append(numpy_helper.from_array(signed, copy))
        else:
            node = self.producer[name]
            inputs = list(node.input)
            for i in self._data_inputs(node):
                inputs[i] = self.signed_copy(node.input[i])
            clone = helper.make_node(node.op_type, inputs, [copy], name=copy)
            clone.attribute.extend(node.attribute)
            self.placed.append(clone)
        self.copies[name] = copy
        return copy

    def run(self) -> int:
        """Rewrite every product whose weight and weight zero point are signable; the number rewritten."""
        done = 0
        for node in self.graph.node:
            where = _PRODUCTS.get(node.op_type, ())
            if where and len(node.input) > max(where) and all(self.signable(node.input[i]) for i in where):
                for i in where:
                    node.input[i] = self.signed_copy(node.input[i])
                done += 1
            self.placed.append(node)
        del self.graph.node[:]
        self.graph.node.extend(self.placed)
        self.graph.initializer.extend(self.new_inits)
        return done


def has_integer_products(path: Path) -> bool:
    """Whether the graph file names an integer product (its op types are plain strings in the file, whose
    weights are external): only then is the ``onnx`` package imported and the probe run."""
    data = path.read_bytes()
    return any(op.encode() in data for op in _PRODUCTS)


def signed_graph(path: Path) -> tuple[bytes, int] | None:
    """The graph at ``path`` with its integer products on signed weights (serialized; its other
    initializers stay external, read from ``path``'s folder), and how many products were rewritten;
    None where there is nothing to rewrite or the ``onnx`` package is missing."""
    try:
        import onnx
    except ImportError:
        return None
    model = onnx.load(str(path), load_external_data=False)
    done = _Rewrite(model.graph, path.parent).run()
    if done == 0:
        return None
    return model.SerializeToString(), done
