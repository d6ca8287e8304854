"""Which weights a policy can name: every linear weight and the token embedding, each once."""

from __future__ import annotations

import torch
from torch.nn.utils import parametrize


def _is_token_embedding(module: torch.nn.Module) -> bool:
    return isinstance(module, torch.nn.Embedding) and "position" not in type(module).__name__.lower()


def quantizable(model: torch.nn.Module) -> dict[str, list[torch.nn.Module]]:
    """Linear and token-embedding weights, each once, keyed by the first module name that holds it,
    with every module that shares it (the embedding is tied to the decoder input and the output)."""
    by_param: dict[int, tuple[str, list[torch.nn.Module]]] = {}
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) or _is_token_embedding(module):
            weight = module.weight
            if parametrize.is_parametrized(module, "weight"):
                weight = module.parametrizations.weight.original
            entry = by_param.setdefault(id(weight), (name, []))
            entry[1].append(module)
    return {name: modules for name, modules in by_param.values()}
