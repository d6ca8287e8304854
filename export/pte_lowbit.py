"""Low-bit ExecuTorch bundles for quantized checkpoints (``pocketmt quantize``).

The program is lowered to XNNPACK as usual, but with every constant moved out of it (ExecuTorch's
external constants: XNNPACK's under the sha256 of their bytes, the others under their module path).
Each constant whose bytes are a quantized tensor's dequantized values (as a ``[rows, cols]`` weight, or
its transpose) is stored as that tensor's packed codes and fp16 scales, once however many constants
use it: the tied embedding serves the encoder's and decoder's lookups and the output projection from
one packed copy. The rest (biases, layer norms, position tables) is stored as raw bytes, once per
distinct content. The runtime
decodes it all once at load (``runtime/packed_weights.py``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from pocketmt.export.compression.quantize import QTensor
from pocketmt.export.compression.quantizers import dequantize
from pocketmt.runtime.packed_weights import ENTRIES_KEY, build_ptd, pack_codes

WEIGHTS_FILE = "model.weights.safetensors"
ALIGNMENT = 16


def _layout_json(layout: Any) -> dict[str, Any] | None:
    if layout is None:
        return None
    return {
        "scalar_type": int(layout.scalar_type),
        "sizes": [int(s) for s in layout.sizes],
        "dim_order": [int(d) for d in layout.dim_order],
    }


def pack_external_constants(
    ptd: bytes, quantized: dict[str, QTensor], out_dir: Path
) -> tuple[dict[str, Any], dict[str, int]]:
    """Writes ``WEIGHTS_FILE`` for the program's data file ``ptd``; returns the manifest's ``weights``
    entry and the stored bytes (``linear`` codes and scales, ``embedding``, ``raw``)."""
    from executorch.exir._serialize._cord import Cord
    from executorch.extension.flat_tensor.serialize.serialize import FlatTensorSerializer
    from safetensors.numpy import save_file

    payload = FlatTensorSerializer().deserialize(Cord(ptd))
    by_hash: dict[str, tuple[str, str]] = {}
    for name, q in quantized.items():
        w = dequantize(q.codes, q.scales).numpy().astype(np.float32)
        by_hash[hashlib.sha256(w.tobytes()).hexdigest()] = (name, "rows")
        by_hash[hashlib.sha256(np.ascontiguousarray(w.T).tobytes()).hexdigest()] = (name, "transposed")

    stored: dict[str, np.ndarray] = {}
    entries: list[dict[str, Any]] = []
    tensors: dict[str, Any] = {}
    sizes = {"linear": 0, "embedding": 0, "raw": 0}
    for key in sorted(payload.named_data):
        entry = payload.named_data[key]
        data = bytes(payload.buffers[entry.buffer_index])
        layout = _layout_json(entry.tensor_layout)
        hit = by_hash.get(hashlib.sha256(data).hexdigest())
        if hit is None:  # stored once by content: both methods' position tables are the same bytes
            digest = hashlib.sha256(data).hexdigest()
            if f"raw/{digest}" not in stored:
                stored[f"raw/{digest}"] = np.frombuffer(data, dtype=np.uint8).copy()
                sizes["raw"] += len(data)
            entries.append({"key": key, "tensor": None, "raw": digest, "tensor_layout": layout})
            continue
        name, how = hit
        if name not in tensors:
            q = quantized[name]
            bits = q.scheme.bits
            stored[f"{name}/codes"] = pack_codes(q.codes.numpy(), bits)
            stored[f"{name}/scales"] = q.scales.numpy().astype(np.float16)
            kind = "embedding" if name.endswith("shared") or "embed" in name else "linear"
            sizes[kind] += stored[f"{name}/codes"].nbytes + stored[f"{name}/scales"].nbytes
            tensors[name] = {
                "kind": q.scheme.kind,
                "bits": bits,
                "group_size": q.scheme.group_size,
                "shape": list(q.codes.shape),
            }
        entries.append({"key": key, "tensor": name, "layout": how, "tensor_layout": layout})
    path = out_dir / WEIGHTS_FILE
    # the constant table travels inside the weights file (its header), covered by its sha256
    save_file(stored, str(path), metadata={ENTRIES_KEY: json.dumps(entries, separators=(",", ":"))})
    spec: dict[str, Any] = {
        "file": WEIGHTS_FILE,
        "alignment": ALIGNMENT,
        "tensors": tensors,
        "constants": len(entries),
    }
    ptd = build_ptd(path, spec)
    spec["ptd_bytes"] = len(ptd)
    spec["ptd_sha256"] = hashlib.sha256(ptd).hexdigest()
    return spec, sizes


def linear_bits(spec: dict[str, Any], sizes: dict[str, int]) -> float:
    weights = sum(
        t["shape"][0] * t["shape"][1]
        for name, t in spec["tensors"].items()
        if not (name.endswith("shared") or "embed" in name)
    )
    return round(8 * sizes["linear"] / weights, 4) if weights else 0.0
