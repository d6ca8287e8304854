"""Transform: the step graphs -> one ExecuTorch program (methods ``encode`` and ``decode_step``),
lowered to the XNNPACK delegate."""

from __future__ import annotations

from pathlib import Path

import torch

from pocketmt.export.arch.base import StepGraphs
from pocketmt.export.signatures import GraphShapes

ENCODE_METHOD = "encode"
STEP_METHOD = "decode_step"


def export_pte(graphs: StepGraphs, shapes: GraphShapes, path: Path) -> dict[str, str]:
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    with torch.no_grad():
        encode = torch.export.export(
            graphs.encoder, shapes.encode_example(), dynamic_shapes=shapes.encode_dynamic(), strict=False
        )
        step = torch.export.export(
            graphs.decoder_step, shapes.step_example(), dynamic_shapes=shapes.step_dynamic(), strict=False
        )
    program = to_edge_transform_and_lower(
        {ENCODE_METHOD: encode, STEP_METHOD: step}, partitioner=[XnnpackPartitioner()]
    ).to_executorch()
    with path.open("wb") as fh:
        program.write_to_file(fh)
    return {"file": path.name, "encode": ENCODE_METHOD, "decode_step": STEP_METHOD, "delegate": "xnnpack"}
