"""Low-bit step graphs for the ExecuTorch program of a quantized checkpoint (``pocketmt quantize``).

The checkpoint's integer codes and scales go into the program as they are, in the patterns that
ExecuTorch's XNNPACK delegate lowers to its quantized kernels, so the weights stay low-bit in the
``.pte`` file and in the phone's memory:

* linear layers with int8 per-channel (``qc8w``) or int4 per-channel (``qc4w``) weights: fp32
  activations times the packed codes, XNNPACK's weight-only kernels (``f32_qc8w``, ``f32_qc4w``),
  which give the checkpoint's fp32 product (``to_executorch`` teaches the partitioner the
  pattern). Ternary codes {-1, 0, 1} with one scale per row are int4 per-channel codes with the
  same scales, so no value is re-quantized;
* int4 blockwise weights (``qb4w``, groups of 32), for which XNNPACK has no weight-only kernel:
  dynamically quantized int8 activations (one asymmetric scale per token, chosen at run time),
  ``qd8_f32_qb4w``;
* the tied embedding's lookups: ExecuTorch's quantized embedding kernels (``embedding_4bit``,
  ``embedding_byte``, ``embedding_2bit``; portable CPU kernels, not XNNPACK, which has no gather) on
  the packed codes with their scales;
* the tied output projection: XNNPACK weight-only linears built from the same codes, one per
  group of 32 columns where the embedding is in groups, summed.

Int8 activations on every linear (the only form stock ``XnnpackPartitioner`` lowers) cost the
ternary de-en student its export gate: greedy tokens equal to eager on 94.0% of 200 validation
sentences, under 95%. ``lowbit_graphs`` takes a policy naming the layers that should take int8
activations anyway (faster kernels on phones with int8 dot products); the default names none.

An int8 weight with group scales (no XNNPACK kernel) becomes one per-channel int8 linear per group,
summed; a scheme with no form at all would keep its fp32 weight, and ``LowBitReport`` says which
layers are low-bit and how. The graphs are copies: the checkpoint's own modules, which the
export self-check uses as the eager reference, are left untouched.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# the two underscored imports register the quantized_decomposed ops with torch: the quantized
# embeddings (ExecuTorch's) and the per-token / per-channel quantize and dequantize (torch's)
import executorch.exir.passes._quant_patterns_and_replacements  # noqa: F401
import torch
import torch.ao.quantization.fx._decomposed  # noqa: F401
from torch import nn

from pocketmt.export.compression.quantize import QTensor
from pocketmt.export.compression.quantizers import dequantize
from pocketmt.export.errors import ExportError

_QD = torch.ops.quantized_decomposed
XNNPACK_GROUP = 32  # XNNPACK's blockwise int4 kernels take groups that are multiples of 32
WEIGHT_ONLY_KINDS = ("qc8w", "qc4w")  # weight types of XNNPACK's fp32-activation linears


def _constant(t: torch.Tensor) -> nn.Parameter:
    """A frozen parameter, not a buffer: ExecuTorch drops unused parameters from a program (the
    decoder graph holds the cross-attention key/value layers it never calls), not unused buffers."""
    return nn.Parameter(t.contiguous(), requires_grad=False)


def stored_bytes(q: QTensor, storage: str) -> int:
    """Bytes the program holds for ``q`` in ``storage``: XNNPACK packs int4 two per byte and keeps
    fp32 per-channel scales or bf16 group scales; the embedding kernels get fp32 scales."""
    rows, cols = q.codes.shape
    groups = q.scales.shape[1]
    if storage == "fp32":
        return 4 * rows * cols
    if storage.startswith("embedding_"):
        return rows * cols * q.scheme.bits // 8 + 4 * rows * groups
    if storage == "qc8w":
        return rows * cols + 4 * rows
    if storage == "qc8w_split":
        return rows * cols + 4 * rows * groups
    if storage == "qc4w_split":
        return rows * cols // 2 + 4 * rows * groups
    if storage == "qc4w":
        return rows * cols // 2 + 4 * rows
    return rows * cols // 2 + 2 * rows * groups  # qb4w


@dataclass
class LowBitReport:
    """How each quantized tensor is held by the program (the manifest's ``graphs.executorch.lowbit``)."""

    # (tensor, storage) -> (role, bytes), each once: the program stores identical constants once
    stored: dict[tuple[str, str], tuple[str, int]] = field(default_factory=dict)
    shapes: dict[str, tuple[int, int]] = field(default_factory=dict)  # tensor -> [rows, cols]
    # linear tensor -> the activations its XNNPACK kernel takes: "fp32" (weight-only) or "int8"
    activations: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, q: QTensor, storage: str, role: str) -> None:
        self.stored[(name, storage)] = (role, stored_bytes(q, storage))

    def weight_bytes(self) -> dict[str, int]:
        out = {"linear": 0, "embedding": 0, "lm_head": 0, "fp32": 0}
        for (_, storage), (role, size) in self.stored.items():
            out["fp32" if storage == "fp32" else role] += size
        return out

    def linear_bits_per_weight(self) -> float:
        """Bits per linear weight in memory, scales included (fp32 layers count 32)."""
        weights = stored = 0
        for (name, _), (role, size) in self.stored.items():
            if role == "linear":
                weights += self.shapes[name][0] * self.shapes[name][1]
                stored += size
        return round(8 * stored / weights, 4) if weights else 0.0

    def to_json(self) -> dict[str, Any]:
        """``storage``: how many quantized tensors each storage holds (the tied embedding counts under
        its lookup's and under the output projection's); ``activations``: how many linears compute
        with fp32 activations (XNNPACK's weight-only kernels) and how many with int8 ones;
        ``tensors``: bytes per ``tensor:storage``."""
        kinds: dict[str, int] = {}
        for _, storage in self.stored:
            kinds[storage] = kinds.get(storage, 0) + 1
        computes: dict[str, int] = {}
        for a in self.activations.values():
            computes[a] = computes.get(a, 0) + 1
        return {
            "storage": kinds,
            "activations": computes,
            "tensors": {f"{n}:{s}": b for (n, s), (_, b) in sorted(self.stored.items())},
        }


def _linear_kind(q: QTensor) -> str | None:
    """XNNPACK's weight type for a quantized linear, or None where it has no kernel."""
    kind, group, cols = q.scheme.kind, q.scheme.group_size, q.codes.shape[1]
    if kind == "int8":
        return "qc8w" if group in (0, cols) else "qc8w_split"
    if group in (0, cols):
        return "qc4w"  # int4 or ternary codes, one scale per row
    return "qb4w" if group % XNNPACK_GROUP == 0 else None


class _CodesLinear(nn.Module):
    """A linear layer's integer codes and scales, and their ``dequantize_per_channel(_group)``."""

    def __init__(self, q: QTensor, bias: torch.Tensor | None, kind: str) -> None:
        super().__init__()
        rows = q.codes.shape[0]
        self.kind = kind
        self.codes = _constant(q.codes.to(torch.int8))
        if kind == "qb4w":
            self.group_size = q.scheme.group_size
            self.scales = _constant(q.scales.to(torch.float32))
            self.zeros = _constant(torch.zeros_like(q.scales, dtype=torch.int64))
        else:
            self.group_size = 0
            self.scales = _constant(q.scales.reshape(rows).to(torch.float32))
            self.zeros = _constant(torch.zeros(rows, dtype=torch.int64))
        self.qmin, self.qmax = (-128, 127) if kind == "qc8w" else (-8, 7)
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone(), requires_grad=False)

    def weight(self) -> torch.Tensor:
        if self.kind == "qb4w":
            return _QD.dequantize_per_channel_group(
                self.codes,
                self.scales,
                self.zeros,
                self.qmin,
                self.qmax,
                torch.int8,
                self.group_size,
                torch.float32,
            )
        return _QD.dequantize_per_channel(
            self.codes, self.scales, self.zeros, 0, self.qmin, self.qmax, torch.int8
        )


class DynamicQuantLinear(_CodesLinear):
    """``y = dq(q(x)) @ dq(codes)^T + b``: int8 activations per token (XNNPACK computes in int8:
    ``qd8_f32_qc8w``, ``qd8_f32_qc4w``, ``qd8_f32_qb4w``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale, zero = _QD.choose_qparams_per_token_asymmetric(x, torch.int8)
        xq = _QD.quantize_per_token(x, scale, zero, -128, 127, torch.int8)
        xd = _QD.dequantize_per_token(xq, scale, zero, -128, 127, torch.int8, torch.float32)
        return nn.functional.linear(xd, self.weight(), self.bias)


class WeightOnlyLinear(_CodesLinear):
    """``y = x @ dq(codes)^T + b`` with fp32 activations: XNNPACK's weight-only kernels
    (``f32_qc8w``, ``f32_qc4w``), which keep the packed int8 / int4 weights and compute in fp32, so
    the layer gives the checkpoint's fp32 product. Per-channel weights only: XNNPACK has no fp32 x
    blockwise-int4 kernel. The bias is a separate add, because ExecuTorch's XNNPACK serializer
    takes an fp32 bias beside quantized weights only for int8 activations."""

    def __init__(self, q: QTensor, bias: torch.Tensor | None, kind: str) -> None:
        if kind not in WEIGHT_ONLY_KINDS:
            raise ExportError(f"XNNPACK has no weight-only linear for {kind} weights")
        super().__init__(q, bias, kind)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = nn.functional.linear(x, self.weight())
        return out if self.bias is None else out + self.bias


class GroupSplitLinear(nn.Module):
    """A weight with one scale per group of columns as the sum of one per-channel linear per group:
    the same weights exactly, with exact fp32 scales (int8 in groups has no XNNPACK kernel at all,
    int4 in groups none with fp32 activations, and with int8 ones its scales are rounded to bf16)."""

    def __init__(
        self, q: QTensor, bias: torch.Tensor | None, kind: str = "qc8w", activations: str = "int8"
    ) -> None:
        super().__init__()
        group = q.scheme.group_size
        self.group_size = group
        layer = WeightOnlyLinear if activations == "fp32" else DynamicQuantLinear
        parts = []
        for g in range(q.scales.shape[1]):
            part = QTensor(q.scheme, q.codes[:, g * group : (g + 1) * group], q.scales[:, g : g + 1])
            parts.append(layer(part, bias if g == 0 else None, kind))
        self.parts = nn.ModuleList(parts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = self.group_size
        out = self.parts[0](x[..., :g])
        for i, part in enumerate(self.parts[1:], start=1):
            out = out + part(x[..., i * g : (i + 1) * g])
        return out


def _pack_embedding(codes: torch.Tensor, bits: int) -> torch.Tensor:
    """The quantized embedding kernels' layout: ``8 // bits`` codes per byte, offset ``2^(bits-1)``;
    4 bits put the first code in the high nibble, 2 bits the first code in the lowest bits."""
    if bits == 8:
        return codes.to(torch.int8).contiguous()
    unsigned = (codes.to(torch.int16) + (1 << (bits - 1))).to(torch.uint8)
    per = 8 // bits
    lanes = unsigned.reshape(codes.shape[0], -1, per)
    if bits == 4:
        return ((lanes[..., 0] << 4) | lanes[..., 1]).contiguous()
    out = torch.zeros(lanes.shape[:-1], dtype=torch.uint8)
    for j in range(per):
        out |= lanes[..., j] << (bits * j)
    return out.contiguous()


class QuantEmbedding(nn.Module):
    """Token lookup on packed codes: only the looked-up rows are decoded, at run time."""

    def __init__(self, q: QTensor) -> None:
        super().__init__()
        rows = q.codes.shape[0]
        self.bits = {"int8": 8, "int4": 4, "ternary": 2}[q.scheme.kind]
        self.packed = _constant(_pack_embedding(q.codes, self.bits))
        # fp32 scales: with fp16 ones the kernels may multiply in fp16, which rounds code * scale
        scales = q.scales.to(torch.float32)
        self.scales = _constant(scales.reshape(rows) if scales.shape[1] == 1 else scales)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if self.bits == 8:
            return _QD.embedding_byte.dtype(
                self.packed, self.scales, None, -128, 127, ids, dtype=torch.float32
            )
        if self.bits == 4:
            return _QD.embedding_4bit.dtype(self.packed, self.scales, None, -8, 7, ids, dtype=torch.float32)
        return _QD.embedding_2bit.dtype(self.packed, self.scales, None, -2, 1, ids, dtype=torch.float32)


def _by_value(quantized: dict[str, QTensor]) -> dict[tuple[tuple[int, ...], str], str]:
    """Quantized tensors keyed by their decoded fp32 values: a graph module holds a quantized tensor
    exactly when its weight equals codes times scales (ties and module copies included)."""
    out = {}
    for name, q in quantized.items():
        w = dequantize(q.codes, q.scales).contiguous()
        out[(tuple(w.shape), hashlib.sha256(w.numpy().tobytes()).hexdigest())] = name
    return out


def _tensor_of(module: nn.Module, index: dict[tuple[tuple[int, ...], str], str]) -> str | None:
    weight = module.weight.detach().to(torch.float32).contiguous()
    return index.get((tuple(weight.shape), hashlib.sha256(weight.numpy().tobytes()).hexdigest()))


def _swap(root: nn.Module, path: str, new: nn.Module) -> None:
    parent, _, leaf = path.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, leaf, new)


# (tensor, role) -> True where a linear should take int8 activations (``role``: linear or lm_head)
Int8Policy = Callable[[str, str], bool]


def fp32_activations(name: str, role: str) -> bool:
    """The default policy: no layer is forced to int8 activations. Every linear XNNPACK has a
    weight-only kernel for (int8 or int4 per channel, the per-group parts of the tied output
    projection) computes with fp32 activations; int4 in groups stays int8 (``qb4w``), the only form
    XNNPACK has for it. With int8 activations on every linear, the ternary de-en student's greedy
    tokens matched eager on 94.0% of 200 validation sentences (en-de 95.5%), under the 95% gate."""
    return False


def lowbit_copy(
    graph: nn.Module,
    quantized: dict[str, QTensor],
    report: LowBitReport,
    int8_activations: Int8Policy = fp32_activations,
) -> tuple[nn.Module, set[str]]:
    """A copy of ``graph`` whose quantized linears and embeddings compute from the codes; returns it
    and the names of the quantized tensors it uses."""
    index = _by_value(quantized)
    plan: list[tuple[str, nn.Module, str]] = []
    for path, module in graph.named_modules():
        if isinstance(module, (nn.Linear, nn.Embedding)):
            name = _tensor_of(module, index)
            if name is not None:
                plan.append((path, module, name))
    copied = copy.deepcopy(graph)
    used: set[str] = set()
    for path, module, name in plan:
        q = quantized[name]
        used.add(name)
        report.shapes[name] = (int(q.codes.shape[0]), int(q.codes.shape[1]))
        if isinstance(module, nn.Embedding):
            _swap(copied, path, QuantEmbedding(q))
            report.add(name, q, f"embedding_{q.scheme.bits}bit", "embedding")
            continue
        kind = _linear_kind(q)
        role = "lm_head" if path.endswith("lm_head") else "linear"  # the tied output projection
        if role == "lm_head" and kind == "qb4w":
            # the projection that picks every token: split per group of 32 columns, each part
            # per-channel with the exact fp32 scales (qb4w rounds them to bf16), which also gives
            # the parts XNNPACK's weight-only kernel
            kind = "qc4w_split"
        if kind is None:  # no XNNPACK kernel: this layer keeps its fp32 weight (already exact)
            report.add(name, q, "fp32", role)
            continue
        weight_only = kind.removesuffix("_split") in WEIGHT_ONLY_KINDS
        activations = "int8" if not weight_only or int8_activations(name, role) else "fp32"
        layer: nn.Module
        if kind.endswith("_split"):
            layer = GroupSplitLinear(q, module.bias, kind.removesuffix("_split"), activations)
        elif activations == "fp32":
            layer = WeightOnlyLinear(q, module.bias, kind)
        else:
            layer = DynamicQuantLinear(q, module.bias, kind)
        _swap(copied, path, layer)
        report.add(name, q, kind, role)
        report.activations[name] = activations
    return copied.eval(), used


def lowbit_graphs(
    encoder: nn.Module,
    decoder: nn.Module,
    quantized: dict[str, QTensor],
    int8_activations: Int8Policy = fp32_activations,
) -> tuple[nn.Module, nn.Module, LowBitReport]:
    report = LowBitReport()
    enc, used_enc = lowbit_copy(encoder, quantized, report, int8_activations)
    dec, used_dec = lowbit_copy(decoder, quantized, report, int8_activations)
    missing = sorted(set(quantized) - used_enc - used_dec)
    if missing:
        raise ExportError(f"{missing[0]}: the model's weight is not its quantized codes times scales")
    return enc, dec, report
