"""``pocketmt export --weights fp32|fp16|int8``: a policy from ``schemes.WEIGHT_POLICIES``, applied
with ``quantize_`` like any other, and the manifest's ``tensor_formats`` for it.

``int8`` replaces every linear weight and the token embedding (shared with the output projection when
tied) by ``code * scale``, one fp16-representable scale per output row (``quantizers.quantize_tensor``,
the same int8 as ``pocketmt quantize``); ``fp16`` rounds the same tensors to half precision. Biases,
layer norms and positional tables stay fp32. The rounded model is then the eager reference: the
exported graphs hold exactly these values (``onnx_storage`` encodes them losslessly), so the export
self-check still compares like with like. The ONNX graphs compute int8 ``MatMulNBits`` on the codes
(``onnx_lowbit``); ``--lowbit-compute fp32`` keeps fp32 activations.
"""

from __future__ import annotations

from typing import Any

from pocketmt.export.compression.quantize import QTensor, quantize_
from pocketmt.export.compression.schemes import WEIGHT_POLICIES, QuantPolicy

WEIGHT_FORMATS: tuple[str, ...] = tuple(WEIGHT_POLICIES)


def weights_policy(fmt: str) -> QuantPolicy:
    if fmt not in WEIGHT_POLICIES:
        raise ValueError(f"unknown weight format {fmt!r}; choose from {', '.join(WEIGHT_FORMATS)}")
    return WEIGHT_POLICIES[fmt]


def round_weights(model: Any, fmt: str) -> dict[str, str]:
    """``quantize_(model, weights_policy(fmt))``; returns the manifest's ``tensor_formats``."""
    rounded_codes(model, fmt)
    return tensor_formats(fmt)


def rounded_codes(model: Any, fmt: str) -> dict[str, QTensor]:
    """``quantize_(model, weights_policy(fmt))``; returns the integer codes and scales (none for fp16)."""
    policy = weights_policy(fmt)
    return quantize_(model, policy) if policy.rules else {}


def tensor_formats(fmt: str) -> dict[str, str]:
    """The manifest's ``tensor_formats`` for a model rounded with ``round_weights(model, fmt)``."""
    return {"embeddings": fmt, "linear": fmt, "layer_norm": "fp32", "lm_head": fmt}
