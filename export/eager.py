"""Eager PyTorch implementation of the runtime's ``StepGraphs`` (the reference for every check)."""

from __future__ import annotations

import numpy as np
import torch

from pocketmt.export.arch.base import StepGraphs as TorchGraphs


class EagerGraphs:
    def __init__(self, graphs: TorchGraphs) -> None:
        self.graphs = graphs

    @torch.no_grad()
    def encode(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k, v = self.graphs.encoder(torch.from_numpy(input_ids), torch.from_numpy(attention_mask))
        return k.numpy(), v.numpy()

    @torch.no_grad()
    def decode_step(self, input_ids, position, self_k, self_v, cross_k, cross_v, attention_mask):  # type: ignore[no-untyped-def]
        args = [
            torch.from_numpy(np.ascontiguousarray(a))
            for a in (input_ids, position, self_k, self_v, cross_k, cross_v, attention_mask)
        ]
        lp, nk, nv = self.graphs.decoder_step(*args)
        return lp.numpy(), nk.numpy(), nv.numpy()
