"""Low-bit linears that read the same activations, computed as one product (ONNX, after lowering).

A decoder layer's query, key and value projections read one input; so do the cross-attention keys and
values of every decoder layer, which the encoder computes from its output. Each is a group of
``MatMulNBits`` (or ``DynamicQuantizeMatMul``) nodes with the same input and kernel settings. One node
over their weights side by side does the same arithmetic for every output column: the kernel quantizes
the activations from the input alone, and a column is the dot product of those with its own codes and
scale. So the outputs are bit-identical, in fewer kernel calls (the student's decoder step goes from
16 to 12, 2-3% of its time on one core), and a ``Split`` hands each consumer its columns back.

The weights are joined by ``Concat`` nodes over the stored initializers, which ONNX Runtime folds once
when it loads the graph: the file keeps each weight once, as the manifest's byte counts say.
"""

from __future__ import annotations

import heapq

import numpy as np
import onnx
from onnx import helper, numpy_helper

# op -> (index of the packed weights, axis of N in them, index of the scales, optional inputs that must
# be absent or shared, index of the bias)
_KERNELS = {
    "MatMulNBits": (1, 0, 2, (3, 4), 5),
    "DynamicQuantizeMatMul": (1, 1, 2, (3,), 4),
}


def _attrs(node: onnx.NodeProto) -> tuple[tuple[str, object], ...]:
    return tuple(sorted((a.name, helper.get_attribute_value(a)) for a in node.attribute if a.name != "N"))


def _inputs(node: onnx.NodeProto, count: int) -> list[str]:
    return list(node.input) + [""] * (count - len(node.input))


def _width(node: onnx.NodeProto, inits: dict[str, onnx.TensorProto]) -> int | None:
    """The node's output columns N, where they can be read without running anything."""
    if node.op_type == "MatMulNBits":
        return next(int(a.i) for a in node.attribute if a.name == "N")
    weights = inits.get(node.input[1])
    return int(weights.dims[1]) if weights is not None and len(weights.dims) == 2 else None


def _group_key(node: onnx.NodeProto, inits: dict[str, onnx.TensorProto]) -> tuple[object, ...] | None:
    if node.op_type not in _KERNELS or _width(node, inits) is None:
        return None
    _, _, _, shared, bias = _KERNELS[node.op_type]
    names = _inputs(node, bias + 1)
    # inputs that must be the same for every member (zero points, group indices): absent, one tensor,
    # or initializers of equal value (each lowered linear names its own zero point)
    same = tuple(_value(names[i], inits) for i in shared)
    return (node.op_type, node.domain, node.input[0], _attrs(node), same, bool(names[bias]))


def _value(name: str, inits: dict[str, onnx.TensorProto]) -> object:
    init = inits.get(name)
    if init is None:
        return name
    return (init.data_type, tuple(init.dims), numpy_helper.to_array(init).tobytes())


def _joined(
    members: list[onnx.NodeProto], index: int, axis: int, name: str, head: list[onnx.NodeProto]
) -> str:
    """``name``: the members' input ``index`` side by side along ``axis`` (a Concat folded at load)."""
    head.append(helper.make_node("Concat", [m.input[index] for m in members], [name], axis=axis))
    return name


def fuse_shared_input_linears(nodes: list[onnx.NodeProto], graph: onnx.GraphProto) -> list[onnx.NodeProto]:
    """``nodes`` (the graph's, in order) with each group of two or more fusable linears over one input
    replaced by one linear and a ``Split``, the nodes then put back in an order that runs (each as
    early as its inputs allow, ties in their old order)."""
    inits = {i.name: i for i in graph.initializer}
    groups: dict[tuple[object, ...], list[onnx.NodeProto]] = {}
    for node in nodes:
        key = _group_key(node, inits)
        if key is not None and len(node.output) == 1:
            groups.setdefault(key, []).append(node)
    head: list[onnx.NodeProto] = []
    replaced: dict[int, list[onnx.NodeProto]] = {}
    dropped: set[int] = set()
    for members in groups.values():
        if len(members) < 2:
            continue
        first = members[0]
        weights_at, axis, scales_at, _, bias_at = _KERNELS[first.op_type]
        widths = [int(_width(m, inits) or 0) for m in members]
        base = f"{first.output[0]}__fused"

        inputs = _inputs(first, bias_at + 1)
        inputs[weights_at] = _joined(members, weights_at, axis, f"{base}_w", head)
        inputs[scales_at] = _joined(members, scales_at, 0, f"{base}_s", head)  # per output column
        if inputs[bias_at]:
            inputs[bias_at] = _joined(members, bias_at, 0, f"{base}_b", head)
        while inputs and not inputs[-1]:
            inputs.pop()
        fused = helper.make_node(first.op_type, inputs, [f"{base}_y"], domain=first.domain, name=base)
        for a in first.attribute:
            fused.attribute.append(helper.make_attribute("N", sum(widths)) if a.name == "N" else a)
        split_name = f"{base}_split"
        graph.initializer.append(numpy_helper.from_array(np.asarray(widths, np.int64), split_name))
        split = helper.make_node(
            "Split", [fused.output[0], split_name], [m.output[0] for m in members], axis=-1
        )
        replaced[id(first)] = [fused, split]
        dropped.update(id(m) for m in members[1:])
    if not replaced:
        return nodes
    out = list(head)
    for node in nodes:
        if id(node) not in dropped:
            out.extend(replaced.get(id(node), [node]))
    # the members' own copies of a shared input (each linear's zero point) are read no more
    read = {name for node in out for name in node.input}
    unread = {name for node in nodes if id(node) in dropped for name in node.input} - read
    kept = [i for i in graph.initializer if i.name not in unread]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    return _in_running_order(out, graph)


def _in_running_order(nodes: list[onnx.NodeProto], graph: onnx.GraphProto) -> list[onnx.NodeProto]:
    """``nodes`` sorted so that each comes after the producers of its inputs (Kahn's algorithm, the
    lowest old position first among the ready ones)."""
    made = {o: i for i, n in enumerate(nodes) for o in n.output}
    waiting = [0] * len(nodes)
    readers: dict[int, list[int]] = {}
    for i, node in enumerate(nodes):
        for name in set(node.input):
            j = made.get(name)
            if j is not None and j != i:
                waiting[i] += 1
                readers.setdefault(j, []).append(i)
    ready = [i for i, w in enumerate(waiting) if w == 0]
    heapq.heapify(ready)
    order: list[onnx.NodeProto] = []
    while ready:
        i = heapq.heappop(ready)
        order.append(nodes[i])
        for r in readers.get(i, []):
            waiting[r] -= 1
            if waiting[r] == 0:
                heapq.heappush(ready, r)
    if len(order) != len(nodes):
        raise ValueError("the fused graph has a cycle")  # (cannot happen: fusion adds no edge back)
    return order
