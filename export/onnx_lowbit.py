"""Low-bit ONNX storage for quantized checkpoints (``pocketmt quantize``).

Runs on an exported graph whose weights are the quantized model's dequantized values, and finds
each quantized tensor by its bytes:

* a linear weight (``MatMul`` input ``[K, N]``, the transpose of the checkpoint's ``[N, K]``) in
  int4 or ternary becomes a ``com.microsoft.MatMulNBits`` node: codes packed 4 or 2 bits per weight
  (``quantizers.pack_codes``), fp16 scales on disk, cast to fp32 once when the session loads.
  Ternary rows have one scale, stored once and expanded to the kernel's blocks at load.
  ``accuracy_level=4`` (``lowbit_compute="int8"``, the default) selects ONNX Runtime's
  int8-activation kernels (MLAS SQNBitGemm CompInt8), the fast path on CPU for both bit widths;
  ``"fp32"`` keeps fp32 activations (closest to eager, slower);
* a token embedding (``Gather``/``Gemm`` input ``[N, K]``) in int4, ternary or int8 in groups is stored packed with
  fp16 scales, once, in MatMulNBits' layout: a lookup gathers the packed rows it needs and decodes
  only those, and the tied output projection is a ``MatMulNBits`` on the same codes, so no fp32 copy
  of the table is made or read (a table with any other use is decoded to fp32 once at load). A
  per-row int8 table with int8 activations is stored by columns (uint8 ``[K, N]``): lookups gather
  rows of its transpose (folded once at load), and the projection quantizes its activations per row and runs ``MatMulInteger`` on the
  codes (``_per_row_integer``), faster than MatMulNBits' 8-bit kernel from a few rows on;
* an int8 linear weight (one scale per row, or in groups) becomes ``MatMulNBits`` with ``bits=8``
  on its codes when activations are int8 (``accuracy_level=4``): int8 x int8 GEMMs, as CTranslate2's
  int8 runs, and no fp32 copy of the weight. In a graph lowered ``per_call`` (the encoder, run on one
  sentence per call) a per-row int8 linear is ``DynamicQuantizeMatMul`` instead (one activation
  scale per call; the faster kernel on AVX2 from a few rows on). ONNX Runtime has no fp32-activation kernel for 8 bits
  (it dequantizes the whole weight at every call), so with fp32 activations, and for an int8 table
  that is also the output projection (always fp32 activations), the int8 codes are decoded to fp32
  once at load instead: per-row int8 by ``onnx_storage.compact_onnx`` (int8 + ``DequantizeLinear``),
  grouped int8 by constant nodes here.

Returns the stored bytes of each kind, for the manifest's bits-per-weight accounting.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from pocketmt.export.compression.quantize import QTensor
from pocketmt.export.compression.quantizers import dequantize
from pocketmt.export.errors import ExportError
from pocketmt.export.linear_fusion import fuse_shared_input_linears
from pocketmt.runtime.packed_weights import pack_codes

MS_DOMAIN = "com.microsoft"
# DynamicQuantizeMatMul's weights: int8 codes stored as uint8 with this zero point
U8_ZERO = 128
# MatMulNBits accuracy_level per ``ExportOptions.lowbit_compute``: 4 quantizes activations to int8
# (the fast kernels), 1 computes in fp32 (exact against the eager model, slow for 2 bits)
ACCURACY_LEVELS = {"int8": 4, "fp32": 1}
LOWBIT = ("int4", "ternary")
# kinds this pass lowers: every integer scheme MatMulNBits has a kernel for
NBITS = (*LOWBIT, "int8")
# the tied output projection's MatMulNBits for 2- and 4-bit tables: fp32 activations (this layer
# picks every token; ONNX Runtime's fp32-activation kernels for them are fast)
PROJECTION_ACCURACY_LEVEL = 1


def projection_accuracy(q: QTensor, accuracy_level: int) -> int:
    """The tied output projection's ``accuracy_level``: a per-row int8 table computes with int8
    activations, as the linears do (quantized per row, ``_per_row_integer``), because ONNX Runtime's
    fast 8-bit kernels take int8 ones (CTranslate2's int8 projection computes the same way) and the
    alternative, an fp32 copy decoded at load, is four times the bytes read at every step; 2- and
    4-bit tables keep fp32 activations."""
    if per_row_int8(q, accuracy_level):
        return accuracy_level
    return PROJECTION_ACCURACY_LEVEL


@dataclass
class LowbitStats:
    weights: int = 0  # quantized linear weights lowered to MatMulNBits
    weight_bytes: int = 0  # their packed codes and scales on disk
    embedding_bytes: int = 0
    lowered: set[str] = field(default_factory=set)  # checkpoint names of the tensors rewritten
    per_call: int = 0  # of those linears, how many quantize their activations per call

    def add(self, other: LowbitStats) -> None:
        self.weights += other.weights
        self.weight_bytes += other.weight_bytes
        self.embedding_bytes += other.embedding_bytes
        self.lowered |= other.lowered
        self.per_call += other.per_call


def lowered_here(q: QTensor, accuracy_level: int = 4) -> bool:
    """Whether this pass stores ``q``: int4, ternary and grouped int8; per-row int8 too when the
    activations are int8 (with fp32 ones it is ``compact_onnx``'s, decoded once at load)."""
    if q.scheme.kind == "int8" and not q.scheme.group_size:
        return accuracy_level != 1
    return q.scheme.kind in NBITS


def require_all_lowered(tensors: dict[str, QTensor], stats: LowbitStats, accuracy_level: int = 4) -> None:
    """Refuse an export in which a tensor the policy quantized would silently stay fp32."""
    missing = sorted(
        name for name, q in tensors.items() if lowered_here(q, accuracy_level) and name not in stats.lowered
    )
    if missing:
        raise ExportError(
            f"refusing to write the bundle: {len(missing)} quantized tensors were not found in the ONNX "
            f"graphs to be stored low-bit: {', '.join(missing)}"
        )


def _digest(a: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(a, dtype=np.float32).tobytes()).hexdigest()


def _block_size(q: QTensor, k: int) -> int:
    if q.scheme.group_size:
        return q.scheme.group_size
    for block in (128, 64, 32, 16):  # one scale per row: any block works; 128 is the fastest kernel
        if k % block == 0:
            return block
    raise ValueError(f"input dimension {k} is not a multiple of 16")


def _scales_fp16(q: QTensor) -> np.ndarray:
    s = q.scales.numpy().astype(np.float32)
    half = s.astype(np.float16)
    if not np.array_equal(half.astype(np.float32), s):
        raise ValueError("quantization scales are not fp16-representable; re-run pocketmt quantize")
    return half


def _matmul_nbits(
    node: onnx.NodeProto,
    name: str,
    q: QTensor,
    inits: list[onnx.TensorProto],
    nodes: list[onnx.NodeProto],
    accuracy_level: int,
    per_call: bool = False,
) -> int:
    codes = q.codes.numpy()
    n, k = codes.shape
    bits = q.scheme.bits
    half = _scales_fp16(q)  # [N, groups]
    if per_call and per_row_int8(q, accuracy_level):
        _dynamic_int8(node.input[0], f"{name}__i8", f"{name}__sh", list(node.output), name, inits, nodes)
        shifted = (codes.T.astype(np.int16) + U8_ZERO).astype(np.uint8)
        inits += [numpy_helper.from_array(np.ascontiguousarray(shifted), f"{name}__i8")]
        inits += [numpy_helper.from_array(half.reshape(n), f"{name}__sh")]
        nodes[-1].name = node.name or f"{name}__mm"
        return codes.nbytes + half.nbytes
    block = _block_size(q, k)
    packed = pack_codes(codes.reshape(n, k // block, block), bits)  # [N, blocks, block*bits/8]
    stored = packed.nbytes + half.nbytes
    inits += [numpy_helper.from_array(packed, f"{name}__nbits"), numpy_helper.from_array(half, f"{name}__sh")]
    shape = (n, k, half.shape[1], bits, block)
    _nbits_matmul(
        node.input[0],
        f"{name}__nbits",
        f"{name}__sh",
        list(node.output),
        name,
        shape,
        accuracy_level,
        node.name or f"{name}__mm",
        inits,
        nodes,
    )
    return stored


def per_row_int8(q: QTensor, accuracy_level: int) -> bool:
    """Whether ``q`` is int8 with one scale per output row and computes with int8 activations: in a
    graph that quantizes its activations per call, a ``DynamicQuantizeMatMul``."""
    return q.scheme.bits == 8 and q.scales.dim() == 2 and q.scales.shape[1] == 1 and accuracy_level == 4


def _dynamic_int8(
    x: str,
    codes: str,
    half: str,
    outputs: list[str],
    prefix: str,
    inits: list[onnx.TensorProto],
    nodes: list[onnx.NodeProto],
) -> None:
    """``x @ W.T`` as ``DynamicQuantizeMatMul`` on the codes stored as uint8 ``[K, N]`` (``code + 128``,
    zero point 128) with fp16 scales ``[N]`` (cast to fp32 once at load): the activations are quantized
    to uint8 per call and the product is MLAS's u8 x u8 GEMM, on AVX2 about twice as fast as
    MatMulNBits' 8-bit kernel from four rows on (one-node timings in ``docs/bundle.md``). Not u8 x s8:
    on AVX2 that kernel adds pairs of products in saturating int16 and is wrong by up to 20% for
    full-range codes."""
    nodes.append(helper.make_node("Cast", [half], [f"{prefix}__s32"], to=onnx.TensorProto.FLOAT))
    inits.append(numpy_helper.from_array(np.asarray(U8_ZERO, np.uint8), f"{prefix}__zp"))
    nodes.append(
        helper.make_node(
            "DynamicQuantizeMatMul", [x, codes, f"{prefix}__s32", f"{prefix}__zp"], outputs, domain=MS_DOMAIN
        )
    )


def _nbits_matmul(
    x: str,
    packed: str,
    half: str,
    outputs: list[str],
    prefix: str,
    shape: tuple[int, int, int, int, int],
    accuracy_level: int,
    node_name: str,
    inits: list[onnx.TensorProto],
    nodes: list[onnx.NodeProto],
) -> None:
    """``x @ W.T`` as ``MatMulNBits`` on packed codes ``[N, blocks, block*bits/8]`` and fp16 scales
    ``[N, groups]`` (``shape``: N, K, groups, bits, block), the scales cast to fp32 once at load."""
    n, k, groups, bits, block = shape
    if bits == 2 and accuracy_level == 1:
        packed, bits = _two_as_four_bits(packed, prefix, (n, k // block, block), inits, nodes), 4
    nodes.append(helper.make_node("Cast", [half], [f"{prefix}__s32"], to=onnx.TensorProto.FLOAT))
    scales = f"{prefix}__s32"
    if groups != k // block:  # one scale per row: repeat it for every block of the row
        inits.append(numpy_helper.from_array(np.asarray([n, k // block], np.int64), f"{prefix}__bshape"))
        nodes.append(helper.make_node("Expand", [scales, f"{prefix}__bshape"], [f"{prefix}__sx"]))
        scales = f"{prefix}__sx"
    inits.append(numpy_helper.from_array(np.asarray([-1], np.int64), f"{prefix}__flat"))
    nodes.append(helper.make_node("Reshape", [scales, f"{prefix}__flat"], [f"{prefix}__sflat"]))
    nodes.append(
        helper.make_node(
            "MatMulNBits",
            [x, packed, f"{prefix}__sflat"],
            outputs,
            domain=MS_DOMAIN,
            K=k,
            N=n,
            bits=bits,
            block_size=block,
            accuracy_level=accuracy_level,
            name=node_name,
        )
    )


def _two_as_four_bits(
    packed: str,
    prefix: str,
    shape: tuple[int, int, int],
    inits: list[onnx.TensorProto],
    nodes: list[onnx.NodeProto],
) -> str:
    """2-bit codes ``[N, blocks, block/4]`` repacked as 4-bit ``[N, blocks, block/2]`` by constant nodes,
    which ONNX Runtime folds once when the session loads. MatMulNBits has no fp32-activation kernel for
    2 bits (it dequantizes the whole weight at every call, about 20x slower than its 4-bit kernel); the
    file keeps 2 bits per weight, memory holds 4."""
    n, blocks, block = shape
    c = lambda suffix: f"{prefix}__r{suffix}"  # noqa: E731
    inits += [
        numpy_helper.from_array(np.asarray([0, 2, 4, 6], np.uint8).reshape(1, 1, 1, 4), c("shift2")),
        numpy_helper.from_array(np.asarray(3, np.uint8), c("mask2")),
        # a code c is stored as c + 2 in 2 bits and as c + 8 in 4 bits
        numpy_helper.from_array(np.asarray(6, np.int32), c("offset")),
        numpy_helper.from_array(np.asarray([n, blocks, block // 2, 2], np.int64), c("pairs")),
        numpy_helper.from_array(np.asarray([1, 16], np.int32).reshape(1, 1, 1, 2), c("weight")),
        numpy_helper.from_array(np.asarray([-1], np.int64), c("last")),
    ]
    nodes += [
        helper.make_node("Unsqueeze", [packed, c("last")], [c("p4")]),
        helper.make_node("BitShift", [c("p4"), c("shift2")], [c("shifted")], direction="RIGHT"),
        helper.make_node("BitwiseAnd", [c("shifted"), c("mask2")], [c("lanes")]),  # [N,blocks,block/4,4]
        helper.make_node("Cast", [c("lanes")], [c("lanes32")], to=onnx.TensorProto.INT32),
        helper.make_node("Add", [c("lanes32"), c("offset")], [c("u4")]),
        helper.make_node("Reshape", [c("u4"), c("pairs")], [c("pair")]),  # [N,blocks,block/2,2]
        helper.make_node("Mul", [c("pair"), c("weight")], [c("placed")]),  # first code in the low bits
        helper.make_node("ReduceSum", [c("placed"), c("last")], [c("sum")], keepdims=0),
        helper.make_node("Cast", [c("sum")], [c("packed4")], to=onnx.TensorProto.UINT8),
    ]
    return c("packed4")


def _packed_table(name: str, q: QTensor, inits: list[onnx.TensorProto], nodes: list[onnx.NodeProto]) -> int:
    """Store ``[N, K]`` as packed codes + fp16 scales, decoded back to fp32 ``name`` by constant nodes."""
    codes = q.codes.numpy()
    n, k = codes.shape
    bits = q.scheme.bits
    per = 8 // bits
    packed = pack_codes(codes, bits)  # [N, K/per]
    half = _scales_fp16(q)  # [N, groups]
    groups = half.shape[1]
    c = lambda suffix: f"{name}__{suffix}"  # noqa: E731
    inits += [
        numpy_helper.from_array(packed, c("packed")),
        numpy_helper.from_array(half, c("sh")),
        numpy_helper.from_array(
            np.asarray([bits * j for j in range(per)], np.uint8).reshape(1, 1, per), c("shift")
        ),
        numpy_helper.from_array(np.asarray((1 << bits) - 1, np.uint8), c("mask")),
        numpy_helper.from_array(np.asarray(1 << (bits - 1), np.float32), c("zero")),
        numpy_helper.from_array(np.asarray([-1], np.int64), c("last")),
        numpy_helper.from_array(np.asarray([n, groups, k // groups], np.int64), c("gshape")),
        numpy_helper.from_array(np.asarray([n, k], np.int64), c("shape")),
    ]
    nodes += [
        helper.make_node("Unsqueeze", [c("packed"), c("last")], [c("p3")]),
        helper.make_node("BitShift", [c("p3"), c("shift")], [c("shifted")], direction="RIGHT"),
        helper.make_node("BitwiseAnd", [c("shifted"), c("mask")], [c("lanes")]),
        helper.make_node("Cast", [c("lanes")], [c("lanes32")], to=onnx.TensorProto.FLOAT),
        helper.make_node("Sub", [c("lanes32"), c("zero")], [c("codes")]),
        helper.make_node("Reshape", [c("codes"), c("gshape")], [c("grouped")]),
        helper.make_node("Cast", [c("sh")], [c("s32")], to=onnx.TensorProto.FLOAT),
        helper.make_node("Unsqueeze", [c("s32"), c("last")], [c("s3")]),
        helper.make_node("Mul", [c("grouped"), c("s3")], [c("scaled")]),
        helper.make_node("Reshape", [c("scaled"), c("shape")], [name]),
    ]
    return packed.nbytes + half.nbytes


def _attrs(node: onnx.NodeProto) -> dict[str, object]:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _reads_packed(node: onnx.NodeProto, name: str) -> bool:
    """A use of table ``name`` that can read the packed codes themselves: a row lookup (``Gather`` on
    axis 0) or the tied output projection (``Gemm`` with ``transB``: ``x @ table.T``)."""
    a = _attrs(node)
    if node.op_type == "Gather":
        return node.input[0] == name and int(a.get("axis", 0)) == 0  # type: ignore[call-overload]
    if node.op_type == "Gemm":
        return (
            node.input[0] != name
            and node.input[1] == name
            and a.get("transB") == 1
            and not a.get("transA", 0)
            and a.get("alpha", 1.0) == 1.0
            and (len(node.input) < 3 or a.get("beta", 1.0) == 1.0)
        )
    return False


def _scaled_rows(
    codes: str, ids: str, out: str, c: Callable[[str], str], u: Callable[[str], str]
) -> list[onnx.NodeProto]:
    """The end of a table lookup: the decoded codes of the looked-up rows (``[R, groups, K / groups]``
    or ``[R, K]``) times their fp16 scales (``c("sh")``, ``[N, groups]`` or ``[N]``, gathered by the
    flattened ids ``u("ids")``), shaped as the ids plus ``K``. ``c``/``u``: the table's and this
    lookup's node names."""
    return [
        helper.make_node("Gather", [c("sh"), u("ids")], [u("sh")], axis=0),
        helper.make_node("Cast", [u("sh")], [u("s32")], to=onnx.TensorProto.FLOAT),
        helper.make_node("Unsqueeze", [u("s32"), c("flat")], [u("s3")]),
        helper.make_node("Mul", [codes, u("s3")], [u("scaled")]),
        helper.make_node("Shape", [ids], [u("ids_shape")]),
        helper.make_node("Concat", [u("ids_shape"), c("k")], [u("out_shape")], axis=0),
        helper.make_node("Reshape", [u("scaled"), u("out_shape")], [out]),
    ]


def _packed_uses(
    name: str,
    q: QTensor,
    users: list[onnx.NodeProto],
    inits: list[onnx.TensorProto],
    replaced: dict[int, list[onnx.NodeProto]],
    accuracy_level: int,
) -> int:
    """Store table ``[N, K]`` once as packed codes + fp16 scales, in MatMulNBits' layout, and rewrite
    each use to read them: a lookup gathers the packed rows and decodes only those; the output
    projection becomes ``MatMulNBits`` (plus the ``Gemm``'s bias). No fp32 copy of the table exists.
    A per-row int8 table with int8 activations is stored by columns instead (``_column_table_uses``)."""
    if per_row_int8(q, accuracy_level):
        return _column_table_uses(name, q, users, inits, replaced)
    codes = q.codes.numpy()
    n, k = codes.shape
    bits = q.scheme.bits
    per = 8 // bits
    half = _scales_fp16(q)  # [N, groups]
    groups = half.shape[1]
    block = _block_size(q, k) if groups == 1 else k // groups
    packed = pack_codes(codes.reshape(n, k // block, block), bits)  # [N, blocks, block/per]
    c = lambda suffix: f"{name}__{suffix}"  # noqa: E731
    inits += [
        numpy_helper.from_array(packed, c("nbits")),
        numpy_helper.from_array(half, c("sh")),
        numpy_helper.from_array(np.asarray([n, k // per], np.int64), c("rows2d")),
        numpy_helper.from_array(np.asarray([-1], np.int64), c("flat")),
        numpy_helper.from_array(np.asarray([k], np.int64), c("k")),
        numpy_helper.from_array(np.asarray([-1, groups, k // groups], np.int64), c("gshape")),
        numpy_helper.from_array(np.asarray([-1, k], np.int64), c("shape")),
        numpy_helper.from_array(np.asarray(1 << (bits - 1), np.float32), c("zero")),
    ]
    if per > 1:
        inits += [
            numpy_helper.from_array(
                np.asarray([bits * j for j in range(per)], np.uint8).reshape(1, 1, per), c("shift")
            ),
            numpy_helper.from_array(np.asarray((1 << bits) - 1, np.uint8), c("mask")),
        ]
    for i, user in enumerate(users):
        u = lambda suffix, i=i: f"{name}__{i}_{suffix}"  # noqa: E731
        nodes: list[onnx.NodeProto] = []
        if user.op_type == "Gather":
            ids, out = user.input[1], user.output[0]
            nodes += [
                helper.make_node("Reshape", [c("nbits"), c("rows2d")], [u("table")]),
                helper.make_node("Reshape", [ids, c("flat")], [u("ids")]),
                helper.make_node("Gather", [u("table"), u("ids")], [u("rows")], axis=0),
            ]
            lanes = u("rows")
            if per > 1:
                nodes += [
                    helper.make_node("Unsqueeze", [u("rows"), c("flat")], [u("r3")]),
                    helper.make_node("BitShift", [u("r3"), c("shift")], [u("shifted")], direction="RIGHT"),
                    helper.make_node("BitwiseAnd", [u("shifted"), c("mask")], [u("lanes")]),
                ]
                lanes = u("lanes")
            nodes += [
                helper.make_node("Cast", [lanes], [u("lanes32")], to=onnx.TensorProto.FLOAT),
                helper.make_node("Sub", [u("lanes32"), c("zero")], [u("codes")]),
                helper.make_node("Reshape", [u("codes"), c("gshape")], [u("grouped")]),
                *_scaled_rows(u("grouped"), ids, out, c, u),
            ]
        else:  # the output projection
            product = user.output[0] if len(user.input) < 3 else u("product")
            _nbits_matmul(
                user.input[0],
                c("nbits"),
                c("sh"),
                [product],
                u("p"),
                (n, k, groups, bits, block),
                projection_accuracy(q, accuracy_level),
                user.name or u("mm"),
                inits,
                nodes,
            )
            if len(user.input) >= 3:
                nodes.append(helper.make_node("Add", [product, user.input[2]], [user.output[0]]))
        replaced[id(user)] = nodes
    return packed.nbytes + half.nbytes


def _int8_rounding(x: str, c: Callable[[str], str], inits: list[onnx.TensorProto]) -> list[onnx.NodeProto]:
    """Int8 rounding of activations ``x`` over their last axis, written once for the kernels that
    quantize in the graph and for the shortlist step that must round as they do:
    ``c("scale") = max(max|x| / 127, 1e-30)``, ``c("rounded") = round(x / scale)`` (in -127..127)."""
    inits += [
        numpy_helper.from_array(np.asarray([-1], np.int64), c("last")),
        numpy_helper.from_array(np.asarray(127.0, np.float32), c("qmax")),
        # an all-zero row or block: any positive scale gives codes 0 (the kernels' scale 0 does too)
        numpy_helper.from_array(np.asarray(1e-30, np.float32), c("tiny")),
    ]
    return [
        helper.make_node("Abs", [x], [c("abs")]),
        helper.make_node("ReduceMax", [c("abs"), c("last")], [c("amax")], keepdims=1),
        helper.make_node("Div", [c("amax"), c("qmax")], [c("scale0")]),
        helper.make_node("Max", [c("scale0"), c("tiny")], [c("scale")]),
        helper.make_node("Div", [x, c("scale")], [c("ratio")]),
        helper.make_node("Round", [c("ratio")], [c("rounded")]),
    ]


def _per_row_integer(
    x: str,
    codes: str,
    half: str,
    outputs: list[str],
    prefix: str,
    inits: list[onnx.TensorProto],
    nodes: list[onnx.NodeProto],
) -> None:
    """``x @ W.T`` with the activations quantized per row in the graph (``scale = max|x_row| / 127``,
    ``round(x / scale)`` shifted to uint8) and ``MatMulInteger`` u8 x u8 on the codes stored as uint8
    ``[K, N]`` (``code + 128``), then the row scale and the fp16 column scales ``[N]`` (cast once at
    load): CTranslate2's int8 product. Each row's result depends on that row only, so a batch computes
    as its rows one at a time. On AVX2, from 4 rows on, it takes 0.42-0.52x the time of
    ``MatMulNBits(bits=8)`` over an 8000 x 256 table, 1.10x at one row (``benchmarks/bench_int8_kernels.py``)."""
    c = lambda suffix: f"{prefix}__{suffix}"  # noqa: E731
    inits += [
        numpy_helper.from_array(np.asarray(float(U8_ZERO), np.float32), c("zero_f")),
        numpy_helper.from_array(np.asarray(U8_ZERO, np.uint8), c("zp")),
    ]
    nodes += [
        helper.make_node("Cast", [half], [c("s32")], to=onnx.TensorProto.FLOAT),
        *_int8_rounding(x, c, inits),
        helper.make_node("Add", [c("rounded"), c("zero_f")], [c("shifted")]),
        helper.make_node("Cast", [c("shifted")], [c("xq")], to=onnx.TensorProto.UINT8),
        helper.make_node("MatMulInteger", [c("xq"), codes, c("zp"), c("zp")], [c("acc")]),
        helper.make_node("Cast", [c("acc")], [c("accf")], to=onnx.TensorProto.FLOAT),
        helper.make_node("Mul", [c("accf"), c("scale")], [c("rows")]),
        helper.make_node("Mul", [c("rows"), c("s32")], outputs),
    ]


def _column_table_uses(
    name: str,
    q: QTensor,
    users: list[onnx.NodeProto],
    inits: list[onnx.TensorProto],
    replaced: dict[int, list[onnx.NodeProto]],
) -> int:
    """A per-row int8 tied table ``[N, K]`` with int8 activations, stored once as uint8 ``[K, N]``
    (``code + 128``) and fp16 scales ``[N]``: a lookup gathers rows of its transpose (folded at load)
    and decodes only those; the output projection is ``_per_row_integer`` on the stored bytes. No fp32
    copy of the table exists."""
    codes = q.codes.numpy()
    n, k = codes.shape
    half = _scales_fp16(q).reshape(n)
    shifted = np.ascontiguousarray((codes.T.astype(np.int16) + U8_ZERO).astype(np.uint8))
    c = lambda suffix: f"{name}__{suffix}"  # noqa: E731
    inits += [
        numpy_helper.from_array(shifted, c("u8")),
        numpy_helper.from_array(half, c("sh")),
        numpy_helper.from_array(np.asarray([-1], np.int64), c("flat")),
        numpy_helper.from_array(np.asarray([k], np.int64), c("k")),
        numpy_helper.from_array(np.asarray(float(U8_ZERO), np.float32), c("zero")),
    ]
    transposed = False
    for i, user in enumerate(users):
        u = lambda suffix, i=i: _lookup_name(name, i, suffix)  # noqa: E731
        nodes: list[onnx.NodeProto] = []
        if user.op_type == "Gather":
            ids, out = user.input[1], user.output[0]
            if not transposed:
                # the rows for lookups: a constant node, folded once when the session loads (uint8
                # [N, K] in memory beside the file's [K, N]); ONNX Runtime's Gather along axis 1 is
                # element by element, 2 ms for the shortlist's few hundred columns
                nodes.append(helper.make_node("Transpose", [c("u8")], [c("rows_u8")], perm=[1, 0]))
                transposed = True
            nodes += [
                helper.make_node("Reshape", [ids, c("flat")], [u("ids")]),
                helper.make_node("Gather", [c("rows_u8"), u("ids")], [u("rows")], axis=0),  # [R, K]
                helper.make_node("Cast", [u("rows")], [u("rows32")], to=onnx.TensorProto.FLOAT),
                helper.make_node("Sub", [u("rows32"), c("zero")], [u("codes")]),
                *_scaled_rows(u("codes"), ids, out, c, u),
            ]
        else:  # the output projection
            product = user.output[0] if len(user.input) < 3 else u("product")
            _per_row_integer(user.input[0], c("u8"), c("sh"), [product], u("p"), inits, nodes)
            nodes[-1].name = user.name or u("mm")
            if len(user.input) >= 3:
                nodes.append(helper.make_node("Add", [product, user.input[2]], [user.output[0]]))
        replaced[id(user)] = nodes
    return shifted.nbytes + half.nbytes


_SUBSET_PREFIX = "subset_projection__"


def _lookup_name(table: str, use: int, suffix: str) -> str:
    """A node name of lookup ``use`` of ``table`` in ``_column_table_uses``: ``rows`` are the gathered
    uint8 codes ``[R, K]``, ``sh`` their fp16 scales ``[R]``."""
    return f"{table}__{use}_{suffix}"


def _subset_projections_as_int8(
    nodes: list[onnx.NodeProto],
    looked_up: dict[str, int],
    inits: list[onnx.TensorProto],
    integer_rows: dict[str, tuple[str, str]] | None = None,
) -> list[onnx.NodeProto]:
    """The projection over a vocabulary subset (``x @ Transpose(Gather(table, ids))``, the shortlist
    step) of a table whose full projection takes int8 activations (``_per_row_integer``, or
    ``MatMulNBits`` for a grouped table): ``x`` goes through that kernel's activation rounding first
    (per block of ``block`` inputs of each row, the whole row for ``_per_row_integer``,
    ``scale = max|x| / 127``, ``x -> round(x / scale) * scale``), so that the subset's logits are the
    full step's (within 1.4e-4 on a one-node check of 8000 x 256) instead of fp32 ones.

    ``integer_rows``: for a per-row table stored by columns (``_column_table_uses``), the lookup's
    gathered uint8 rows and fp16 scales by the lookup's output. There the subset is the full
    projection's own integer product on the gathered codes (``_per_row_integer``): its columns equal
    the full step's exactly, and the step reads one byte per weight instead of decoding the rows to
    fp32 (what is left of that decoding is unused, and ``_without_unused`` drops it)."""
    integer_rows = integer_rows or {}
    made = {n.output[0]: n for n in nodes}
    out: list[onnx.NodeProto] = []
    for node in nodes:
        t = made.get(node.input[1]) if node.op_type == "MatMul" and len(node.input) == 2 else None
        perm = [list(a.ints) for a in t.attribute if a.name == "perm"] if t is not None else []
        if t is None or t.op_type != "Transpose" or perm != [[1, 0]] or t.input[0] not in looked_up:
            out.append(node)
            continue
        block = looked_up[t.input[0]]
        c = lambda suffix, at=node.output[0]: f"{_SUBSET_PREFIX}{at}__{suffix}"  # noqa: E731
        x = node.input[0]
        if t.input[0] in integer_rows:
            rows, half = integer_rows[t.input[0]]
            out.append(helper.make_node("Transpose", [rows], [c("cols")], perm=[1, 0]))  # [K, R] uint8
            _per_row_integer(x, c("cols"), half, [node.output[0]], c("p"), inits, out)
            continue
        inits.append(numpy_helper.from_array(np.asarray([-1, block], np.int64), c("blocks")))
        out += [
            helper.make_node("Shape", [x], [c("shape")]),
            helper.make_node("Reshape", [x, c("blocks")], [c("xb")]),
            *_int8_rounding(c("xb"), c, inits),
            helper.make_node("Mul", [c("rounded"), c("scale")], [c("xq")]),
            helper.make_node("Reshape", [c("xq"), c("shape")], [c("x8")]),
        ]
        node.input[0] = c("x8")
        out.append(node)
    return out


def _without_unused(nodes: list[onnx.NodeProto], graph: onnx.GraphProto) -> list[onnx.NodeProto]:
    """``nodes`` less those whose outputs nothing reads (ONNX Runtime would still run them)."""
    needed = {o.name for o in graph.output}
    kept: list[onnx.NodeProto] = []
    for node in reversed(nodes):
        if any(name in needed for name in node.output):
            kept.append(node)
            needed.update(node.input)
    return kept[::-1]


# the ops ``_fold_biases`` hands a bias to: the inputs they are made with, and how many absent
# optional inputs come before the bias (MatMulNBits' zero points and g_idx)
_TAKES_BIAS = {"MatMulNBits": (3, 2), "DynamicQuantizeMatMul": (4, 0)}


def _fold_biases(nodes: list[onnx.NodeProto], graph: onnx.GraphProto) -> list[onnx.NodeProto]:
    """``Add(MatMulNBits(x), bias)`` -> ``MatMulNBits(x, ..., bias)``: the kernel adds the bias itself
    (the same float32 additions), one node less per linear, where the product has no other use and
    the bias is a ``[N]`` fp32 initializer."""
    inits = {i.name: i for i in graph.initializer}
    outputs = {o.name for o in graph.output}
    uses: dict[str, int] = {}
    for node in nodes:
        for name in node.input:
            uses[name] = uses.get(name, 0) + 1
    made = {
        n.output[0]: n
        for n in nodes
        if n.op_type in _TAKES_BIAS and len(n.input) == _TAKES_BIAS[n.op_type][0]
    }
    folded: set[int] = set()
    for node in nodes:
        if node.op_type != "Add" or len(node.input) != 2:
            continue
        for product, bias in (node.input, tuple(reversed(node.input))):
            mm = made.get(product)
            init = inits.get(bias)
            if mm is None or init is None or uses.get(product) != 1 or product in outputs:
                continue
            if mm.op_type == "MatMulNBits":
                n = next(int(a.i) for a in mm.attribute if a.name == "N")
            else:  # DynamicQuantizeMatMul: B is [K, N]
                n = int(inits[mm.input[1]].dims[1]) if mm.input[1] in inits else -1
            if init.data_type != onnx.TensorProto.FLOAT or list(init.dims) != [n]:
                continue
            mm.input.extend([""] * _TAKES_BIAS[mm.op_type][1] + [bias])  # absent inputs, then the bias
            mm.output[0] = node.output[0]
            folded.add(id(node))
            del made[product]
            break
    return [n for n in nodes if id(n) not in folded]


def lower_lowbit(
    path: Path, tensors: dict[str, QTensor], accuracy_level: int = 4, per_call: bool = False
) -> LowbitStats:
    """Rewrite ``path`` in place; see the module docstring. ``per_call``: the graph's per-row int8
    linears quantize their activations with one scale per call (``DynamicQuantizeMatMul``), for a
    graph that is always run on one sentence (the encoder, ``docs/bundle.md``)."""
    by_t: dict[str, tuple[str, QTensor]] = {}
    by_w: dict[str, tuple[str, QTensor]] = {}
    for name, q in tensors.items():
        if not lowered_here(q, accuracy_level):
            continue
        w = dequantize(q.codes, q.scales).numpy()
        by_w[_digest(w)] = (name, q)  # embedding tables
        by_t[_digest(w.T)] = (name, q)  # MatMul weights
    stats = LowbitStats()
    if not by_w:
        return stats
    model = onnx.load(str(path))
    graph = model.graph
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    new_inits: list[onnx.TensorProto] = []
    head: list[onnx.NodeProto] = []
    replaced: dict[int, list[onnx.NodeProto]] = {}
    dropped: set[str] = set()
    # rows looked up in a table whose output projection takes int8 activations -> its block size
    looked_up: dict[str, int] = {}
    integer_rows: dict[str, tuple[str, str]] = {}  # per-row tables' lookups: gathered codes, scales
    for init in graph.initializer:
        if init.data_type != onnx.TensorProto.FLOAT or len(init.dims) != 2:
            continue
        w = numpy_helper.to_array(init)
        users = consumers.get(init.name, [])
        digest = _digest(w)
        if digest in by_t and users and all(u.op_type == "MatMul" and u.input[1] == init.name for u in users):
            qname, q = by_t[digest]
            stats.lowered.add(qname)
            for user in users:
                extra: list[onnx.NodeProto] = []
                stats.weight_bytes += _matmul_nbits(
                    user, f"{init.name}_{len(replaced)}", q, new_inits, extra, accuracy_level, per_call
                )
                stats.weights += q.codes.numel()
                stats.per_call += int(per_call and per_row_int8(q, accuracy_level))
                replaced[id(user)] = extra
            dropped.add(init.name)
        elif digest in by_w:
            qname, q = by_w[digest]
            stats.lowered.add(qname)
            # MatMulNBits has no fp32-activation kernel for 8 bits (it dequantizes the whole table at
            # every call, 20x slower than fp32): a grouped int8 table of the projection is decoded once
            projects_8bit = (
                q.scheme.bits == 8
                and projection_accuracy(q, accuracy_level) == 1
                and any(u.op_type == "Gemm" for u in users)
            )
            if users and all(_reads_packed(u, init.name) for u in users) and not projects_8bit:
                stats.embedding_bytes += _packed_uses(
                    init.name, q, users, new_inits, replaced, accuracy_level
                )
                if projection_accuracy(q, accuracy_level) == 4:
                    # the projection's activation rounding: per row (``_per_row_integer``) or per block
                    k = q.codes.shape[1]
                    per_row = per_row_int8(q, accuracy_level)
                    block = k if per_row else _block_size(q, k)
                    for i, u in enumerate(users):
                        if u.op_type != "Gather":
                            continue
                        looked_up[u.output[0]] = block
                        if per_row:  # the subset product can run on the gathered codes themselves
                            rows, half = (_lookup_name(init.name, i, s) for s in ("rows", "sh"))
                            integer_rows[u.output[0]] = (rows, half)
            else:
                stats.embedding_bytes += _packed_table(init.name, q, new_inits, head)
            dropped.add(init.name)
    if not dropped:
        return stats
    kept = [i for i in graph.initializer if i.name not in dropped] + new_inits
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = list(head)
    for node in graph.node:
        nodes.extend(replaced.get(id(node), [node]))
    nodes = fuse_shared_input_linears(_fold_biases(nodes, graph), graph)
    rounding: list[onnx.TensorProto] = []
    nodes = _without_unused(_subset_projections_as_int8(nodes, looked_up, rounding, integer_rows), graph)
    graph.initializer.extend(rounding)
    del graph.node[:]
    graph.node.extend(nodes)
    if not any(o.domain == MS_DOMAIN for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid(MS_DOMAIN, 1))
    onnx.save(model, str(path))
    return stats
