"""Batched translation with transformers' ``generate``, for validation and for teacher outputs.

(The runtime's search is the reference for what a phone does; this is the fast path for training-time
work on many sentences at once.)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch


def length_sorted_batches(encoded: list[list[int]], batch: int) -> Iterator[tuple[list[int], int]]:
    """Indices of ``encoded`` in batches of similar length, each with its longest length."""
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    for start in range(0, len(order), batch):
        idx = order[start : start + batch]
        yield idx, max(len(encoded[i]) for i in idx)


@torch.no_grad()
def translate_lines(model: Any, tok: Any, lines: list[str], beam: int, batch: int, max_len: int) -> list[str]:
    """Translate in length-sorted batches; output order follows ``lines``."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    pad = tok.pad_id
    encoded = [tok.encode(s)[:max_len] for s in lines]
    out = [""] * len(lines)
    for idx, width in length_sorted_batches(encoded, batch):
        ids = torch.tensor([encoded[i] + [pad] * (width - len(encoded[i])) for i in idx], device=device)
        gen = model.generate(
            input_ids=ids,
            attention_mask=(ids != pad).long(),
            num_beams=beam,
            do_sample=False,
            max_new_tokens=int(width * 1.5) + 10,
            bad_words_ids=[[pad]],
        )
        for row, i in enumerate(idx):
            out[i] = tok.decode([t for t in gen[row].tolist()[1:] if t != pad])
    model.train(was_training)
    return out
