"""Weight storage formats for a bundle: round a model's weights to what the bundle will store.

``round_weights(model, "int8")`` replaces every linear weight and the token embedding (shared with
the output projection when tied) by its per-output-channel symmetric int8 rounding,
``q = clamp(round(w / s), -127, 127)`` with ``s = max|w_row| / 127``, stored back as ``q * s`` in fp32.
``"fp16"`` rounds the same tensors to half precision. Biases, layer norms and positional tables stay
fp32. The rounded model is then the eager reference: the exported graphs hold exactly these values
(``onnx_storage`` encodes them losslessly), so the export self-check still compares like with like.
Compute stays fp32; only storage shrinks. Lower-bit schemes belong to the compression work.
"""

from __future__ import annotations

from typing import Any

import torch

from pocketmt.export.compression.targets import quantizable

WEIGHT_FORMATS: tuple[str, ...] = ("fp32", "fp16", "int8")
INT8_MAX = 127


def int8_rows(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric per-row int8: ``(q, scale)`` with ``weight ~ q * scale[:, None]``."""
    w = weight.detach().to(torch.float32)
    amax = w.abs().amax(dim=1)
    scale = torch.where(amax > 0, amax / INT8_MAX, torch.ones_like(amax))
    q = torch.clamp(torch.round(w / scale[:, None]), -INT8_MAX, INT8_MAX)
    return q.to(torch.int8), scale


@torch.no_grad()
def round_weights(model: Any, fmt: str) -> dict[str, str]:
    """Round ``model``'s linear and embedding weights in place; returns the manifest's ``tensor_formats``."""
    if fmt not in WEIGHT_FORMATS:
        raise ValueError(f"unknown weight format {fmt!r}; choose from {', '.join(WEIGHT_FORMATS)}")
    if fmt != "fp32":
        for modules in quantizable(model).values():
            param = modules[0].weight
            if fmt == "fp16":
                param.copy_(param.to(torch.float16).to(param.dtype))
            else:
                q, scale = int8_rows(param)
                param.copy_(q.to(torch.float32) * scale[:, None])
    return tensor_formats(fmt)


def tensor_formats(fmt: str) -> dict[str, str]:
    """The manifest's ``tensor_formats`` for a model rounded with ``round_weights(model, fmt)``."""
    return {"embeddings": fmt, "linear": fmt, "layer_norm": "fp32", "lm_head": fmt}
