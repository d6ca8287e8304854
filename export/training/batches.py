"""Token-budget batches in a deterministic order, so a resumed run sees the same batches."""

from __future__ import annotations

import random


def make_batches(lengths: list[tuple[int, int]], batch_tokens: int) -> list[list[int]]:
    """Group example indices of similar length so that ``rows * longest <= batch_tokens``."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i][0], lengths[i][1], i))
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for i in order:
        size = max(lengths[i])
        if current and max(longest, size) * (len(current) + 1) > batch_tokens:
            batches.append(current)
            current, longest = [], 0
        current.append(i)
        longest = max(longest, size)
    if current:
        batches.append(current)
    return batches


def epoch_order(batches: list[list[int]], seed: int, epoch: int) -> list[list[int]]:
    shuffled = list(batches)
    random.Random(seed * 100_003 + epoch).shuffle(shuffled)
    return shuffled
