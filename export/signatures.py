"""Example inputs and dynamic axes of the two graphs, shared by every exporter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch.export import Dim

from pocketmt.export.arch.base import ModelDims

ENCODE_INPUTS = ["input_ids", "attention_mask"]
ENCODE_OUTPUTS = ["cross_k", "cross_v"]
STEP_INPUTS = ["input_ids", "position", "self_k", "self_v", "cross_k", "cross_v", "attention_mask"]
STEP_OUTPUTS = ["log_probs", "new_k", "new_v"]
# step contract 2 (docs/bundle.md): the cache grows by one position per step, rows follow ``parents``,
# the encoder's keys and values are one per sentence
GROWING_INPUTS = [
    "input_ids",
    "position",
    "past_k",
    "past_v",
    "parents",
    "cross_k",
    "cross_v",
    "attention_mask",
]
GROWING_OUTPUTS = ["log_probs", "present_k", "present_v"]
# contract 2 with a vocabulary shortlist: the projection over ``vocab_ids`` only, as logits
SHORTLIST_INPUTS = [*GROWING_INPUTS, "vocab_ids"]
SHORTLIST_OUTPUTS = ["logits", "present_k", "present_v"]


@dataclass(frozen=True)
class GraphShapes:
    dims: ModelDims
    max_batch: int
    max_source_len: int
    max_target_len: int

    def _axes(self) -> tuple[Any, Any]:
        # min 1: a phone translates one sentence greedily with batch 1
        batch = Dim("batch", min=1, max=max(2, self.max_batch))
        src = Dim("src_len", min=1, max=max(2, self.max_source_len))
        return batch, src

    def encode_example(self) -> tuple[torch.Tensor, ...]:
        ids = torch.full((2, 5), 3, dtype=torch.long)
        return ids, torch.ones_like(ids)

    def encode_dynamic(self) -> tuple[dict[int, Any], ...]:
        batch, src = self._axes()
        return {0: batch, 1: src}, {0: batch, 1: src}

    def step_example(self) -> tuple[torch.Tensor, ...]:
        d = self.dims
        cache = (d.decoder_layers, 2, d.attention_heads, self.max_target_len, d.head_dim)
        cross = (d.decoder_layers, 2, d.attention_heads, 5, d.head_dim)
        return (
            torch.full((2, 1), 3, dtype=torch.long),
            torch.tensor([1], dtype=torch.long),
            torch.zeros(cache),
            torch.zeros(cache),
            torch.zeros(cross),
            torch.zeros(cross),
            torch.ones((2, 5), dtype=torch.long),
        )

    def growing_example(self) -> tuple[torch.Tensor, ...]:
        """Rows (4), past rows (3), sentences (2), filled positions (3) and source length (5): each
        above 1, so that the exporter keeps every one of them a dynamic axis."""
        d = self.dims
        past = (d.decoder_layers, 3, d.attention_heads, 3, d.head_dim)
        cross = (d.decoder_layers, 2, d.attention_heads, 5, d.head_dim)
        return (
            torch.full((4, 1), 3, dtype=torch.long),
            torch.tensor([3], dtype=torch.long),
            torch.zeros(past),
            torch.zeros(past),
            torch.tensor([0, 0, 1, 2], dtype=torch.long),
            torch.zeros(cross),
            torch.zeros(cross),
            torch.ones((2, 5), dtype=torch.long),
        )

    def growing_dynamic(self) -> tuple[dict[int, Any] | None, ...]:
        batch, src = self._axes()
        # rows: up to max_batch sentences of up to max_batch beams each
        rows = Dim("rows", min=1, max=max(4, self.max_batch * self.max_batch))
        past_rows = Dim("past_rows", min=1, max=max(4, self.max_batch * self.max_batch))
        filled = Dim("filled", min=0, max=max(4, self.max_target_len))
        return (
            {0: rows},
            None,
            {1: past_rows, 3: filled},
            {1: past_rows, 3: filled},
            {0: rows},
            {1: batch, 3: src},
            {1: batch, 3: src},
            {0: batch, 1: src},
        )

    def step_dynamic(self) -> tuple[dict[int, Any] | None, ...]:
        batch, src = self._axes()
        return (
            {0: batch},
            None,
            {1: batch},
            {1: batch},
            {1: batch, 3: src},
            {1: batch, 3: src},
            {0: batch, 1: src},
        )

    def shortlist_example(self) -> tuple[torch.Tensor, ...]:
        """``growing_example`` and 6 candidate ids (a count no other axis has: it stays dynamic)."""
        return (*self.growing_example(), torch.tensor([0, 1, 2, 3, 5, 8], dtype=torch.long))

    def shortlist_dynamic(self) -> tuple[dict[int, Any] | None, ...]:
        candidates = Dim("candidates", min=1, max=self.dims.vocab_size)
        return (*self.growing_dynamic(), {0: candidates})
