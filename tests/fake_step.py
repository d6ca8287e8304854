"""A step model with known log-probabilities, for testing the search bookkeeping."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


class TableStepModel:
    """Log-probs are a function of the row's token history: ``table(prefix) -> [V] log-probs``."""

    def __init__(self, vocab: int, table: Callable[[tuple[int, ...]], np.ndarray]) -> None:
        self.vocab = vocab
        self.table = table
        self.prefixes: list[tuple[int, ...]] = []
        self.calls = 0
        self.fresh = True

    def start(self, source_ids: list[int], rows: int) -> None:
        self.prefixes = [()] * rows
        self.fresh = True

    def step(self, tokens: list[int]) -> np.ndarray:
        self.calls += 1
        if not self.fresh:  # the first step after start() feeds the start token
            self.prefixes = [p + (t,) for p, t in zip(self.prefixes, tokens, strict=True)]
        self.fresh = False
        return np.stack([np.asarray(self.table(p), dtype=np.float32) for p in self.prefixes])

    def reorder(self, parents: list[int]) -> None:
        self.prefixes = [self.prefixes[r] for r in parents]


def log_softmax(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    m = x.max()
    return (x - m - np.log(np.exp(x - m).sum())).astype(np.float32)
