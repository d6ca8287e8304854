"""Transform: the step graphs -> one self-contained ExecuTorch program (methods ``encode`` and
``decode_step``), lowered to the XNNPACK delegate.

Every constant stays inside ``model.pte``: the stock Android ``Module`` of ``executorch-android``
loads one file and takes no data file. A quantized checkpoint's weights go in as its integer codes
(``pte_quantized``), in XNNPACK's quantized-linear patterns and ExecuTorch's quantized embedding
kernels, so they stay low-bit on disk and in memory.

Stock ``XnnpackPartitioner`` lowers a quantized linear only with quantized activations (int8 per
token, or static). XNNPACK also has weight-only linears: fp32 activations times int8 / int4
per-channel weights (``f32_qc8w``, ``f32_qc4w``), computing the fp32 product from the packed
low-bit weights. ExecuTorch's serializer and runtime pass that pattern through as it is (an fp32
input tensor and a per-channel quantized filter), only its partitioner does not pick it, so the
program is lowered with ``WeightOnlyLinearConfig`` in place of its ``LinearConfig``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from pocketmt.export.arch.base import StepGraphs
from pocketmt.export.errors import ExportError
from pocketmt.export.signatures import GraphShapes

ENCODE_METHOD = "encode"
STEP_METHOD = "decode_step"


def _weight_only_linear_config() -> type:
    """``LinearConfig`` that also takes ``linear(x, dequantize_per_channel(codes))`` with an fp32
    ``x``, no bias (the serializer refuses an fp32 bias beside quantized weights and fp32 input)
    and per-channel int8 or int4 codes, as one XNNPACK weight-only fully-connected node."""
    from executorch.backends.xnnpack.partition.config.gemm_configs import LinearConfig
    from executorch.backends.xnnpack.partition.config.xnnpack_config import ConfigPrecisionType
    from executorch.backends.xnnpack.utils.quant_utils import (
        is_dequant,
        is_per_channel,
        is_per_channel_group,
        tag_as_implicit_q_dq,
    )
    from executorch.backends.xnnpack.utils.utils import get_input_node

    class WeightOnlyLinearConfig(LinearConfig):  # type: ignore[misc]
        def get_deps(self, node: torch.fx.Node, ep: Any) -> tuple[bool, list[torch.fx.Node]]:
            weight = get_input_node(node, self.weight_idx)
            if not is_dequant(weight) or is_dequant(get_input_node(node, self.act_idx)):
                return super().get_deps(node, ep)  # fp32, dynamically or statically quantized
            # weight-only: XNNPACK has it for per-channel weights (not blockwise, not per tensor)
            per_channel = is_per_channel(weight) and not is_per_channel_group(weight)
            if not per_channel or (len(node.args) > 2 and node.args[2] is not None):
                return False, []
            ok, deps = super()._get_weight_deps(node, ep, ConfigPrecisionType.STATIC_QUANT)
            if not ok:
                return False, []
            _, fused = self._get_output_deps(node, ep, ConfigPrecisionType.FP32)
            tag_as_implicit_q_dq(weight)  # folded into the filter, as for the quantized patterns
            return True, deps + fused

    return WeightOnlyLinearConfig


def xnnpack_partitioner() -> Any:
    """ExecuTorch's XNNPACK partitioner with every stock config, its linear one able to take
    weight-only quantized linears as well."""
    from executorch.backends.xnnpack.partition.config import ALL_PARTITIONER_CONFIGS
    from executorch.backends.xnnpack.partition.config.gemm_configs import LinearConfig
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

    weight_only = _weight_only_linear_config()
    configs = [weight_only if c is LinearConfig else c for c in ALL_PARTITIONER_CONFIGS]
    if weight_only not in configs:
        raise ExportError("this ExecuTorch's XNNPACK partitioner has no LinearConfig to extend")
    return XnnpackPartitioner(configs=configs)


def export_pte(
    graphs: StepGraphs,
    shapes: GraphShapes,
    path: Path,
    quantized: dict[str, Any] | None = None,
    int8_activations: Callable[[str, str], bool] | None = None,
) -> dict[str, Any]:
    """``int8_activations``: which quantized linears take int8 activations (``pte_quantized``'s
    default policy where None)."""
    from executorch.exir import to_edge_transform_and_lower

    encoder: torch.nn.Module = graphs.encoder
    step: torch.nn.Module = graphs.decoder_step
    report = None
    if quantized:
        from pocketmt.export.pte_quantized import fp32_activations, lowbit_graphs

        encoder, step, report = lowbit_graphs(encoder, step, quantized, int8_activations or fp32_activations)
    with torch.no_grad():
        encode = torch.export.export(
            encoder, shapes.encode_example(), dynamic_shapes=shapes.encode_dynamic(), strict=False
        )
        decode = torch.export.export(
            step, shapes.step_example(), dynamic_shapes=shapes.step_dynamic(), strict=False
        )
    program = to_edge_transform_and_lower(
        {ENCODE_METHOD: encode, STEP_METHOD: decode}, partitioner=[xnnpack_partitioner()]
    ).to_executorch()
    with path.open("wb") as fh:
        program.write_to_file(fh)
    entry: dict[str, Any] = {
        "file": path.name,
        "encode": ENCODE_METHOD,
        "decode_step": STEP_METHOD,
        "delegate": "xnnpack",
    }
    if report is not None:
        entry["lowbit"] = report.to_json()
        entry["weight_bytes"] = report.weight_bytes()
        entry["linear_bits_per_weight"] = report.linear_bits_per_weight()
    return entry
