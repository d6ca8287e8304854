"""``pocketmt info`` in words: a bundle's manifest as lines of text."""

from __future__ import annotations

from typing import Any

from pocketmt.commands.console import human_bytes
from pocketmt.report import linear_bits


def describe(manifest: Any, path: str) -> list[str]:
    raw = manifest.raw
    m = raw["model"]
    lines = [
        f"Bundle {path} (schema {raw['schema_version']})",
        f"  Model: {m['architecture']} {m['source_lang']}->{m['target_lang']}, "
        f"{m['encoder_layers']} encoder + {m['decoder_layers']} decoder layers, d_model {m['d_model']}, "
        f"{m['attention_heads']} heads, FFN {m['ffn_dim']}, vocabulary {m['vocab_size']}, "
        f"{m['parameters'] / 1e6:.2f}M parameters",
        "  Tensor formats: " + ", ".join(f"{k} {v}" for k, v in raw["tensor_formats"].items()),
        f"  Limits: source up to {manifest.limits.max_source_len} tokens, target up to "
        f"{manifest.limits.max_target_len} tokens, batch (beams) up to {manifest.limits.max_batch}",
        f"  Decoding: default beam {manifest.decoding.default_beam}, length penalty "
        f"{manifest.decoding.length_penalty}, forced EOS at the length limit "
        f"{'yes' if manifest.decoding.forced_eos else 'no'}, never generates ids {list(manifest.decoding.banned_ids)}",
        f"  Special ids: pad {manifest.tokens.pad_id}, eos {manifest.tokens.eos_id}, unk {manifest.tokens.unk_id}, "
        f"decoder start {manifest.tokens.decoder_start_id}",
    ]
    for backend, graph in raw["graphs"].items():
        lines.extend(_graphs(backend, graph))
    lines.extend(_downloads(manifest))
    lines.extend(_quantization(raw.get("quantization")))
    lines.append("  Files:")
    total = 0
    for name, entry in raw["files"].items():
        total += entry["bytes"]
        lines.append(f"    {name:<20} {human_bytes(entry['bytes']):>10}  sha256 {entry['sha256'][:16]}")
    lines.append(f"    {'(total)':<20} {human_bytes(total):>10}")
    for backend, check in raw.get("export_check", {}).get("backends", {}).items():
        lines.append(
            f"  Export check {backend}: max |d log p| vs eager {check['max_abs_log_prob_diff']:.1e}, "
            f"{check['reference_token_mismatches']} reference mismatches"
        )
    prod = raw["producer"]
    lines.append(
        "  Made by: "
        + ", ".join(f"{k} {v}" for k, v in prod.items() if k != "created")
        + f"; created {prod.get('created', '?')}"
    )
    return lines


def _stored(stored: dict[str, int]) -> str:
    return ", ".join(f"{k} {human_bytes(v)}" for k, v in stored.items() if v)


def _graphs(backend: str, graph: dict[str, Any]) -> list[str]:
    if backend == "executorch":
        lines = [
            f"  Backend executorch: {graph['file']} ({graph.get('delegate', 'portable')}), "
            f"methods {graph['encode']} and {graph['decode_step']}"
        ]
        if graph.get("weight_bytes"):  # low-bit codes inside the one program, kept low-bit in memory
            lines.append(f"    weights stored in the program: {_stored(graph['weight_bytes'])}")
        return lines
    lines = [
        f"  Backend onnx: {graph['encode']} and {graph['decode_step']} (opset {graph.get('opset', '?')})"
    ]
    if graph.get("weight_bytes"):
        lines.append(f"    weights stored: {_stored(graph['weight_bytes'])}")
    return lines


def _downloads(manifest: Any) -> list[str]:
    """Bytes a phone downloads per backend, split into model, tokenizer and manifest, and the bits
    stored per linear weight."""
    raw = manifest.raw
    tokenizer = set(manifest.tokenizer_files())
    lines = []
    for backend in manifest.backends:
        names = manifest.files_for_backend(backend)
        model = sum(raw["files"][n]["bytes"] for n in names if n not in tokenizer)
        tok = sum(raw["files"][n]["bytes"] for n in tokenizer)
        lines.append(
            f"  Download for {backend}: model {human_bytes(model)} + tokenizer {human_bytes(tok)} "
            f"= {human_bytes(model + tok)} (plus manifest.json); linear layers stored at "
            f"{linear_bits(raw, backend):.2f} bits per weight"
        )
    return lines


def _quantization(quant: dict[str, Any] | None) -> list[str]:
    if not quant:
        return []
    kinds: dict[str, int] = {}
    for t in quant["tensors"].values():
        kinds[t["kind"]] = kinds.get(t["kind"], 0) + 1
    return [
        f"  Quantization: policy {quant['policy']['name']} ("
        + ", ".join(f"{n} {k} tensors" for k, n in sorted(kinds.items()))
        + f"), made by {quant.get('made_by', {}).get('method', '?')}"
    ]
