"""The arithmetic of each scheme: codes and scales from a weight, back again, and bit packing.

All schemes are symmetric. For int8/int4 a group's scale is ``max|w| / qmax`` and its codes
``clamp(round(w / scale), -qmax, qmax)``; ternary uses BitNet b1.58's absmean scale,
``mean|w|`` over the group, and codes in {-1, 0, 1}. Groups run along the input dimension
(the last axis); ``group_size = 0`` means one group per row. Scales are rounded to fp16 (bundles
store them in 16 bits, exactly). This is pocketmt's one int8 quantizer: ``pocketmt quantize`` and
``pocketmt export --weights int8`` both use it.
"""

from __future__ import annotations

import torch

from pocketmt.export.compression.schemes import Scheme


def _grouped(w: torch.Tensor, scheme: Scheme) -> torch.Tensor:
    rows, cols = w.shape
    group = scheme.group_size or cols
    if cols % group:
        raise ValueError(f"input dimension {cols} is not a multiple of the group size {group}")
    return w.reshape(rows, cols // group, group)


def _scale(w: torch.Tensor, scheme: Scheme) -> torch.Tensor:
    """One scale per group (last axis of ``w``): absmean for ternary, max / qmax otherwise, rounded
    to fp16; an all-zero group (or one too small for fp16) gets scale 1 and codes 0."""
    raw = w.abs().mean(dim=-1) if scheme.kind == "ternary" else w.abs().amax(dim=-1) / scheme.qmax
    half = raw.detach().to(torch.float16).to(w.dtype)
    return torch.where(half > 0, half, torch.ones_like(half))


def quantize_tensor(weight: torch.Tensor, scheme: Scheme) -> tuple[torch.Tensor, torch.Tensor]:
    """``(codes int8 [rows, cols], scales fp32 [rows, groups])`` for a 2-D weight."""
    if not scheme.integer:
        raise ValueError(f"{scheme.kind} keeps no integer codes; quantize_ rounds such weights in place")
    w = _grouped(weight.detach().to(torch.float32), scheme)
    scale = _scale(w, scheme)
    codes = torch.clamp(torch.round(w / scale[..., None]), -scheme.qmax, scheme.qmax)
    return codes.reshape(weight.shape).to(torch.int8), scale


def dequantize(codes: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    rows, cols = codes.shape
    groups = scales.shape[1]
    w = codes.to(torch.float32).reshape(rows, groups, cols // groups) * scales[..., None]
    return w.reshape(rows, cols)


def fake_quantize(weight: torch.Tensor, scheme: Scheme) -> torch.Tensor:
    """Quantize-dequantize with a straight-through gradient (for quantization-aware training)."""
    if not scheme.integer:
        return weight + (weight.to(torch.float16).to(weight.dtype) - weight).detach()
    w = _grouped(weight, scheme)
    scale = _scale(w, scheme)[..., None]
    q = torch.clamp(torch.round(w / scale), -scheme.qmax, scheme.qmax) * scale
    return (w + (q - w).detach()).reshape(weight.shape)
