"""Transform: the step graphs -> one self-contained ExecuTorch program (methods ``encode`` and
``decode_step``), lowered to the XNNPACK delegate.

Every constant stays inside ``model.pte``: the stock Android ``Module`` of ``executorch-android``
loads one file and takes no data file. A quantized checkpoint's weights go in as its integer codes
(``pte_quantized``), in XNNPACK's quantized-linear patterns and ExecuTorch's quantized embedding
kernels, so they stay low-bit on disk and in memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from pocketmt.export.arch.base import StepGraphs
from pocketmt.export.signatures import GraphShapes

ENCODE_METHOD = "encode"
STEP_METHOD = "decode_step"


def export_pte(
    graphs: StepGraphs, shapes: GraphShapes, path: Path, quantized: dict[str, Any] | None = None
) -> dict[str, Any]:
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    encoder: torch.nn.Module = graphs.encoder
    step: torch.nn.Module = graphs.decoder_step
    report = None
    if quantized:
        from pocketmt.export.pte_quantized import lowbit_graphs

        encoder, step, report = lowbit_graphs(encoder, step, quantized)
    with torch.no_grad():
        encode = torch.export.export(
            encoder, shapes.encode_example(), dynamic_shapes=shapes.encode_dynamic(), strict=False
        )
        decode = torch.export.export(
            step, shapes.step_example(), dynamic_shapes=shapes.step_dynamic(), strict=False
        )
    program = to_edge_transform_and_lower(
        {ENCODE_METHOD: encode, STEP_METHOD: decode}, partitioner=[XnnpackPartitioner()]
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
