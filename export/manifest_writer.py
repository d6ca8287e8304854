"""Save: the bundle manifest (schema in runtime/manifest.schema.json, described in docs/bundle.md)."""

from __future__ import annotations

import platform
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from pocketmt.export.arch.base import StepGraphs
from pocketmt.export.compression.weight_formats import tensor_formats
from pocketmt.export.signatures import (
    ENCODE_INPUTS,
    ENCODE_OUTPUTS,
    GROWING_INPUTS,
    GROWING_OUTPUTS,
    STEP_INPUTS,
    STEP_OUTPUTS,
)
from pocketmt.io.tokenizer_files import bundle_tokenizer_files
from pocketmt.runtime.integrity import sha256_file
from pocketmt.runtime.manifest import MANIFEST_NAME, SCHEMA_VERSION


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def producer_versions() -> dict[str, str]:
    out = {d: _version(d) for d in ("pocketmt", "torch", "executorch", "onnx", "onnxruntime", "transformers")}
    out["python"] = platform.python_version()
    out["created"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return out


def file_entry(path: Path) -> dict[str, Any]:
    return {"bytes": path.stat().st_size, "sha256": sha256_file(path)}


def file_table(folder: Path) -> dict[str, dict[str, Any]]:
    return {
        p.name: file_entry(p) for p in sorted(folder.iterdir()) if p.is_file() and p.name != MANIFEST_NAME
    }


def contract(max_batch: int, max_source_len: int) -> dict[str, Any]:
    return {
        "version": 1,
        "encode": {"inputs": ENCODE_INPUTS, "outputs": ENCODE_OUTPUTS},
        "decode_step": {"inputs": STEP_INPUTS, "outputs": STEP_OUTPUTS},
        "dynamic_axes": {"batch": [1, max_batch], "src_len": [1, max_source_len]},
        "cache_layout": "[layer, batch, head, position, head_dim], float32; position axis = max_target_len",
        "step": "log_probs over the vocabulary for the token at `position`; new_k/new_v are the cache "
        "entries for `position`, written by the caller into self_k/self_v[:, :, :, position]",
        "reorder": "after a beam step, gather self_k and self_v along axis 1 (batch) with the parent row "
        "of each surviving hypothesis; cross_k/cross_v rows of one sentence are identical and stay",
        # the graphs whose entry in `graphs` says "step_contract": 2
        "2": {
            "decode_step": {"inputs": GROWING_INPUTS, "outputs": GROWING_OUTPUTS},
            "cache_layout": "[layer, row, head, position, head_dim], float32; position axis = the positions "
            "filled so far (0 at the first step)",
            "step": "rows are sentences x beams, each sentence's rows contiguous; row r continues past row "
            "parents[r]; cross_k/cross_v and attention_mask have one row per sentence; present_k/present_v "
            "are the past of the rows with the new position appended: the next step's past",
            "reorder": "none on the host: the next step's parents name the rows to continue",
        },
    }


def build_manifest(
    ckpt: Any,
    graphs: StepGraphs,
    options: Any,
    graph_entries: dict[str, dict[str, Any]],
    files: dict[str, dict[str, Any]],
    reference: str,
) -> dict[str, Any]:
    """The manifest; ``export_check`` starts empty and the pipeline fills it after its checks."""
    d = graphs.dims
    s = graphs.special
    return {
        "schema_version": SCHEMA_VERSION,
        "format": "pocketmt-bundle",
        "model": {
            "architecture": d.architecture,
            "source_lang": ckpt.source_lang,
            "target_lang": ckpt.target_lang,
            "d_model": d.d_model,
            "encoder_layers": d.encoder_layers,
            "decoder_layers": d.decoder_layers,
            "attention_heads": d.attention_heads,
            "head_dim": d.head_dim,
            "ffn_dim": d.ffn_dim,
            "vocab_size": d.vocab_size,
            "parameters": graphs.parameter_count,
            "source": ckpt.path.name,
        },
        "tokens": {
            "pad_id": ckpt.vocab["<pad>"],
            "eos_id": ckpt.vocab["</s>"],
            "unk_id": ckpt.vocab["<unk>"],
            "decoder_start_id": s.decoder_start_id,
        },
        "limits": {
            "max_source_len": options.max_source_len,
            "max_target_len": options.max_target_len,
            "max_batch": options.beam_size,
        },
        "decoding": {
            "default_beam": options.beam_size,
            "length_penalty": 1.0,
            "forced_eos": graphs.forced_eos,
            "banned_ids": [ckpt.vocab["<pad>"]],
        },
        "tokenizer": {
            "kind": "marian-sentencepiece",
            **bundle_tokenizer_files(ckpt.path),
        },
        "tensor_formats": _formats(ckpt, options),
        **_quantization(ckpt, graph_entries),
        "contract": contract(options.beam_size, options.max_source_len),
        "graphs": graph_entries,
        "files": files,
        "reference": reference,
        "export_check": {},
        "producer": producer_versions(),
    }


def _formats(ckpt: Any, options: Any) -> dict[str, str]:
    quant = getattr(ckpt, "quantization", None)
    if quant is None:
        return tensor_formats(getattr(options, "weights", "fp32"))
    tensors = quant.meta["tensors"]
    embedding = next((t["kind"] for name, t in tensors.items() if name.endswith("shared")), "fp32")
    linear_kinds = [t["kind"] for name, t in tensors.items() if not name.endswith("shared")]
    linear = max(set(linear_kinds), key=linear_kinds.count) if linear_kinds else "fp32"
    return {"embeddings": embedding, "linear": linear, "layer_norm": "fp32", "lm_head": embedding}


def _quantization(ckpt: Any, graph_entries: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The manifest's ``quantization`` section: policy, per-tensor schemes and the bits per linear
    weight each format stores (codes and scales)."""
    quant = getattr(ckpt, "quantization", None)
    if quant is None:
        return {}
    tensors = quant.meta["tensors"]
    bits: dict[str, float] = {}
    linear = {n: t for n, t in tensors.items() if not n.endswith("shared")}
    total = sum(t["shape"][0] * t["shape"][1] for t in linear.values())
    onnx = graph_entries.get("onnx", {})
    if total and onnx:
        nbits = onnx.get("matmul_nbits", {"weights": 0, "bytes": 0})
        other = total - nbits["weights"]
        # int8 linears are MatMulNBits too with int8 activations; with fp32 ones, DequantizeLinear with
        # an fp32 scale per row
        int8_lowered = nbits.get("accuracy_level", 1) != 1
        other_bits = sum(
            t["shape"][0] * (8 * t["shape"][1] + 32)
            for t in linear.values()
            if t["kind"] == "int8" and not int8_lowered
        )
        bits["onnx"] = round((8 * nbits["bytes"] + other_bits) / (nbits["weights"] + other), 4)
    pte = graph_entries.get("executorch", {})
    if total and "linear_bits_per_weight" in pte:
        bits["executorch"] = pte["linear_bits_per_weight"]
    return {
        "quantization": {
            "policy": quant.meta["policy"],
            "tensors": {n: {"kind": t["kind"], "group_size": t["group_size"]} for n, t in tensors.items()},
            "linear_weights": total,
            "linear_bits_per_weight": bits,
            "made_by": quant.meta.get("made_by", {}),
        }
    }
