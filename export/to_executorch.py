"""Transform: the step graphs -> one ExecuTorch program (methods ``encode`` and ``decode_step``),
lowered to the XNNPACK delegate.

A quantized checkpoint's program keeps no weights: its constants go to an ExecuTorch data file,
which ``pte_lowbit`` stores packed (``model.weights.safetensors``) for the runtime to decode at load.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import torch

from pocketmt.export.arch.base import StepGraphs
from pocketmt.export.signatures import GraphShapes

ENCODE_METHOD = "encode"
STEP_METHOD = "decode_step"
DATA_TAG = "weights"


class _Method(torch.nn.Module):
    """Puts a graph under its method's name, so the two methods' constants (both graphs have
    ``layers.0...``) get distinct names in the shared data file."""

    def __init__(self, name: str, graph: torch.nn.Module) -> None:
        super().__init__()
        self.method_name = name
        setattr(self, name, graph)

    def forward(self, *args: torch.Tensor) -> Any:
        return getattr(self, self.method_name)(*args)


def _export(
    graph: torch.nn.Module, example: tuple[Any, ...], dynamic: tuple[Any, ...], external: bool
) -> Any:
    if not external:
        return torch.export.export(graph, example, dynamic_shapes=dynamic, strict=False)
    from executorch.exir.passes.external_constants_pass import delegate_external_constants_pass_unlifted

    program = torch.export.export(graph, example, dynamic_shapes=(dynamic,), strict=False)
    module = program.module()
    delegate_external_constants_pass_unlifted(module, gen_tag_fn=lambda _node: DATA_TAG)
    return torch.export.export(module, example, dynamic_shapes=dynamic, strict=False)


def export_pte(
    graphs: StepGraphs, shapes: GraphShapes, path: Path, quantized: dict[str, Any] | None = None
) -> dict[str, Any]:
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import ExecutorchBackendConfig, to_edge_transform_and_lower

    external = bool(quantized)
    encoder: torch.nn.Module = _Method(ENCODE_METHOD, graphs.encoder) if external else graphs.encoder
    step: torch.nn.Module = _Method(STEP_METHOD, graphs.decoder_step) if external else graphs.decoder_step
    with torch.no_grad():
        encode = _export(encoder, shapes.encode_example(), shapes.encode_dynamic(), external)
        decode = _export(step, shapes.step_example(), shapes.step_dynamic(), external)
    config = ExecutorchBackendConfig(external_constants=(lambda _node: DATA_TAG) if external else False)
    program = to_edge_transform_and_lower(
        {ENCODE_METHOD: encode, STEP_METHOD: decode}, partitioner=[XnnpackPartitioner()]
    ).to_executorch(config)
    with path.open("wb") as fh:
        program.write_to_file(fh)
    entry: dict[str, Any] = {
        "file": path.name,
        "encode": ENCODE_METHOD,
        "decode_step": STEP_METHOD,
        "delegate": "xnnpack",
    }
    if external:
        from pocketmt.export.pte_lowbit import linear_bits, pack_external_constants

        with tempfile.TemporaryDirectory() as tmp:
            program.write_tensor_data_to_file(tmp)
            written = sorted(p.name for p in Path(tmp).iterdir())
            if written != [f"{DATA_TAG}.ptd"]:
                raise RuntimeError(f"ExecuTorch wrote data files {written}, expected only {DATA_TAG}.ptd")
            data = (Path(tmp) / f"{DATA_TAG}.ptd").read_bytes()
        spec, sizes = pack_external_constants(data, quantized or {}, path.parent)
        entry["weights"] = spec
        entry["weight_bytes"] = sizes
        entry["linear_bits_per_weight"] = linear_bits(spec, sizes)
    return entry
