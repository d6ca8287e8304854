"""Transform: the step graphs -> ``encoder.onnx`` and ``decoder_step.onnx`` (torch.onnx dynamo exporter)."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path
from typing import Any

import torch

from pocketmt.export.arch.base import StepGraphs
from pocketmt.export.onnx_lowbit import ACCURACY_LEVELS, LowbitStats, lower_lowbit, require_all_lowered
from pocketmt.export.onnx_storage import compact_onnx, share_weights
from pocketmt.export.signatures import (
    ENCODE_INPUTS,
    ENCODE_OUTPUTS,
    GROWING_INPUTS,
    GROWING_OUTPUTS,
    SHORTLIST_INPUTS,
    SHORTLIST_OUTPUTS,
    STEP_INPUTS,
    STEP_OUTPUTS,
    GraphShapes,
)

OPSET = 18
ENCODER_FILE = "encoder.onnx"
STEP_FILE = "decoder_step.onnx"
SHORTLIST_STEP_FILE = "decoder_step_shortlist.onnx"
WEIGHTS_FILE = "onnx_weights.bin"


def _export(
    module: torch.nn.Module,
    args: tuple[torch.Tensor, ...],
    dynamic: tuple,
    inputs: list[str],
    outputs: list[str],
    path: Path,
) -> None:
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    # the exporter narrates each stage on stdout; keep the CLI's stdout for results
    with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        program = torch.onnx.export(
            module,
            args,
            dynamic_shapes=dynamic,
            input_names=inputs,
            output_names=outputs,
            opset_version=OPSET,
            dynamo=True,
            optimize=True,
            verbose=False,
        )
        program.save(str(path), external_data=False)
    _strip_debug_info(path)


def _strip_debug_info(path: Path) -> None:
    """Drop the exporter's per-node debug metadata (FX node text, Python stack traces with the
    developer's file paths) and intermediate shape annotations: about 40% of a small graph file,
    none of it read by a runtime, and paths from the build machine do not belong in an app."""
    import onnx

    model = onnx.load(str(path))
    for node in model.graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
    del model.graph.value_info[:]
    onnx.save(model, str(path))


def export_onnx(
    graphs: StepGraphs,
    shapes: GraphShapes,
    folder: Path,
    quantized: dict[str, Any] | None = None,
    lowbit_compute: str = "int8",
    step_contract: int = 2,
    shortlist: bool = False,
    encoder_per_call: bool = True,
) -> dict[str, object]:
    """``shortlist``: also the contract-2 step over a vocabulary subset (``decode_shortlist``);
    ``encoder_per_call``: the encoder's per-row int8 linears quantize their activations per call
    (``DynamicQuantizeMatMul``; the bundle then says ``encode_one_sentence``), else row-wise as the
    decoder's."""
    _export(
        graphs.encoder,
        shapes.encode_example(),
        shapes.encode_dynamic(),
        ENCODE_INPUTS,
        ENCODE_OUTPUTS,
        folder / ENCODER_FILE,
    )
    if step_contract == 2:
        if graphs.growing_step is None:
            raise ValueError(f"the {graphs.dims.architecture} adapter has no step contract 2 graph")
        _export(
            graphs.growing_step,
            shapes.growing_example(),
            shapes.growing_dynamic(),
            GROWING_INPUTS,
            GROWING_OUTPUTS,
            folder / STEP_FILE,
        )
    else:
        _export(
            graphs.decoder_step,
            shapes.step_example(),
            shapes.step_dynamic(),
            STEP_INPUTS,
            STEP_OUTPUTS,
            folder / STEP_FILE,
        )
    graph_files: tuple[str, ...] = (ENCODER_FILE, STEP_FILE)
    if shortlist and step_contract == 2:
        if graphs.shortlist_step is None:
            raise ValueError(f"the {graphs.dims.architecture} adapter has no shortlist step graph")
        _export(
            graphs.shortlist_step,
            shapes.shortlist_example(),
            shapes.shortlist_dynamic(),
            SHORTLIST_INPUTS,
            SHORTLIST_OUTPUTS,
            folder / SHORTLIST_STEP_FILE,
        )
        graph_files += (SHORTLIST_STEP_FILE,)
    stored: dict[str, int] = {}
    lowbit = LowbitStats()
    if quantized:
        for name in graph_files:
            # the encoder runs on one sentence per call: its int8 linears may quantize per call
            stats = lower_lowbit(
                folder / name,
                quantized,
                ACCURACY_LEVELS[lowbit_compute],
                per_call=encoder_per_call and name == ENCODER_FILE,
            )
            if name != SHORTLIST_STEP_FILE:  # the same weights again, stored once: not counted twice
                lowbit.add(stats)
        require_all_lowered(quantized, lowbit, ACCURACY_LEVELS[lowbit_compute])
    for name in graph_files:
        for encoding, size in compact_onnx(folder / name).items():
            if name != SHORTLIST_STEP_FILE:
                stored[encoding] = stored.get(encoding, 0) + size
    if lowbit.weights or lowbit.embedding_bytes:
        stored["lowbit"] = lowbit.weight_bytes + lowbit.embedding_bytes
    share_weights(folder, graph_files, WEIGHTS_FILE)
    entry: dict[str, object] = {}
    if lowbit.weights:
        entry["matmul_nbits"] = {
            "weights": lowbit.weights,
            "bytes": lowbit.weight_bytes,
            "accuracy_level": ACCURACY_LEVELS[lowbit_compute],
        }
    return {
        **entry,
        "encode": ENCODER_FILE,
        "decode_step": STEP_FILE,
        "step_contract": step_contract,
        **({"decode_shortlist": SHORTLIST_STEP_FILE} if SHORTLIST_STEP_FILE in graph_files else {}),
        **({"encode_one_sentence": True} if lowbit.per_call else {}),
        "opset": OPSET,
        "weights": WEIGHTS_FILE,
        "weight_bytes": stored,
        # int8 constants are decoded once when the session loads, not at every run
        "dequantize_at_load": stored["int8"] > 0 or lowbit.embedding_bytes > 0,
    }
