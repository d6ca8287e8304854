"""Apply a ``QuantPolicy`` to a model, and read and write a quantized checkpoint's files.

Post-training quantization rounds to nearest (symmetric). Quantization-aware training (ternary)
uses ``add_fake_quant`` and ``frozen_copy`` from here and the trainer from
``pocketmt.export.training.qat``: training depends on quantization, never the reverse.

The output folder is a normal Hugging Face checkpoint (``model.safetensors`` holds the dequantized
values, so transformers loads it unchanged) plus:

* ``quantized.safetensors``: the integer codes (int8) and fp32 scales of every quantized tensor,
  keyed ``<module>.codes`` / ``<module>.scales``: what export packs, bit for bit;
* ``quantization.json``: the policy, each tensor's scheme, and how the weights were made.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.nn.utils import parametrize

from pocketmt.export.compression.quantizers import dequantize, fake_quantize, quantize_tensor
from pocketmt.export.compression.schemes import QuantPolicy, Scheme
from pocketmt.export.compression.targets import quantizable
from pocketmt.io.tokenizer_files import copy_tokenizer

QUANT_JSON = "quantization.json"
QUANT_TENSORS = "quantized.safetensors"
FORMAT_VERSION = 1


@dataclass
class QTensor:
    scheme: Scheme
    codes: torch.Tensor  # int8 [rows, cols]
    scales: torch.Tensor  # fp32 [rows, groups]


def plan(model: torch.nn.Module, policy: QuantPolicy) -> dict[str, tuple[Scheme, list[torch.nn.Module]]]:
    found = {}
    for name, modules in quantizable(model).items():
        scheme = policy.scheme_for(name)
        if scheme is not None:
            found[name] = (scheme, modules)
    if not found:
        raise ValueError(f"policy {policy.name!r} matches no linear or embedding weight")
    return found


@torch.no_grad()
def quantize_(model: torch.nn.Module, policy: QuantPolicy) -> dict[str, QTensor]:
    """The one quantization entry point, in place (torchao's ``quantize_(model, config)``): every
    weight the policy names becomes ``codes * scales`` (integer schemes; returned by module name)
    or its fp16 rounding. ``pocketmt quantize``, QAT's freezing and ``export --weights`` all call it."""
    out: dict[str, QTensor] = {}
    for name, (scheme, modules) in plan(model, policy).items():
        weight = modules[0].weight
        if not scheme.integer:
            weight.copy_(weight.to(torch.float16).to(weight.dtype))
            continue
        codes, scales = quantize_tensor(weight, scheme)
        weight.copy_(dequantize(codes, scales).to(weight.dtype))
        out[name] = QTensor(scheme, codes, scales)
    return out


class _FakeQuant(torch.nn.Module):
    def __init__(self, scheme: Scheme) -> None:
        super().__init__()
        self.scheme = scheme

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return fake_quantize(weight, self.scheme)


def add_fake_quant(model: torch.nn.Module, policy: QuantPolicy) -> None:
    """Train through quantization: each weight the policy names is fake-quantized in the forward pass
    (straight-through gradient to the latent fp32 weight), in every module that shares it."""
    for scheme, modules in plan(model, policy).values():
        for module in modules:
            parametrize.register_parametrization(module, "weight", _FakeQuant(scheme), unsafe=True)


def frozen_copy(model: torch.nn.Module, policy: QuantPolicy) -> tuple[torch.nn.Module, dict[str, QTensor]]:
    """A plain copy of a fake-quantized model with its weights frozen to exact quantized values
    (codes from the latent weights, so the frozen model computes what training's forward pass did)."""
    plain = type(model)(model.config)
    latent = {
        k.replace(".parametrizations.weight.original", ".weight"): v for k, v in model.state_dict().items()
    }
    plain.load_state_dict(latent, strict=False)
    plain.tie_weights()
    plain.eval()
    return plain, quantize_(plain, policy)


def write_tensors(tensors: dict[str, QTensor], folder: Path) -> None:
    from safetensors.torch import save_file

    flat = {}
    for name, q in tensors.items():
        flat[f"{name}.codes"] = q.codes.contiguous()
        flat[f"{name}.scales"] = q.scales.contiguous()
    save_file(flat, str(folder / QUANT_TENSORS))


def read_tensors(folder: Path, schemes: dict[str, Scheme]) -> dict[str, QTensor]:
    from safetensors.torch import load_file

    flat = load_file(str(folder / QUANT_TENSORS))
    return {name: QTensor(s, flat[f"{name}.codes"], flat[f"{name}.scales"]) for name, s in schemes.items()}


def save_quantized(
    model: Any, tensors: dict[str, QTensor], policy: QuantPolicy, source: Path, out: Path, how: dict[str, Any]
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    copy_tokenizer(source, out)
    write_tensors(tensors, out)
    meta = {
        "format_version": FORMAT_VERSION,
        "policy": policy.to_json(),
        "tensors": {
            name: {**q.scheme.to_json(), "shape": list(q.codes.shape)} for name, q in sorted(tensors.items())
        },
        "made_by": how,
    }
    (out / QUANT_JSON).write_text(json.dumps(meta, indent=1) + "\n")


def load_quantization(folder: Path) -> tuple[dict[str, Any], dict[str, QTensor]] | None:
    """The ``quantization.json`` metadata and the codes/scales of a quantized checkpoint, or None."""
    meta_path = folder / QUANT_JSON
    if not meta_path.is_file():
        return None
    meta = json.loads(meta_path.read_text())
    schemes = {name: Scheme(i["kind"], i["group_size"]) for name, i in meta["tensors"].items()}
    return meta, read_tensors(folder, schemes)
