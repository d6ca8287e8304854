"""Beam search with the host-side KV cache and its reorder, checked against a step model without a cache.

``PrefixRecomputeStep`` runs the same exported graphs, but every step rebuilds the self-attention cache
from each row's own token prefix (positions 0..t, all rows in one batch), so it has no cache to reorder:
a row's log-probs depend only on its tokens. If ``CachedStepModel.reorder`` (or the cache writes) moved
the wrong rows, the cached search would see another hypothesis's history and the two would differ.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pocketmt.runtime import TranslateOptions, Translator
from pocketmt.runtime.beam_search import beam_search
from pocketmt.runtime.step import F32, CachedStepModel, GrowingStepModel, StepGraphs


class PrefixRecomputeStep:
    """A ``StepModel`` over ``StepGraphs`` with no cache between calls (docs/bundle.md's contract)."""

    def __init__(self, graphs: StepGraphs, cached: CachedStepModel | GrowingStepModel) -> None:
        self.graphs = graphs
        self.shape = (cached.layers, cached.heads, cached.max_target_len, cached.head_dim)
        self.prefixes: list[list[int]] = []
        self.reorders = 0  # reorders that moved at least one row
        self._cross: tuple[F32, F32] = (np.zeros(0, np.float32), np.zeros(0, np.float32))
        self._mask = np.zeros(0, np.int64)

    def start(self, source_ids: list[int], rows: int) -> None:
        ids = np.asarray([source_ids], dtype=np.int64)
        cross_k, cross_v = self.graphs.encode(ids, np.ones_like(ids))
        if getattr(self.graphs, "step_contract", 1) == 2:  # one encoder row per sentence
            self._cross = (cross_k, cross_v)
            self._mask = np.ones_like(ids)
        else:
            self._cross = (np.repeat(cross_k, rows, axis=1), np.repeat(cross_v, rows, axis=1))
            self._mask = np.ones((rows, ids.shape[1]), np.int64)
        self.prefixes = [[] for _ in range(rows)]

    def step(self, tokens: list[int]) -> F32:
        for prefix, token in zip(self.prefixes, tokens, strict=True):
            prefix.append(token)
        layers, heads, slots, head_dim = self.shape
        rows = len(tokens)
        if getattr(self.graphs, "step_contract", 1) == 2:
            # contract 2 from an empty cache, every row continuing itself
            past_k = np.zeros((layers, rows, heads, 0, head_dim), np.float32)
            past_v = np.zeros_like(past_k)
            log_probs = np.zeros(0, np.float32)
            for pos in range(len(self.prefixes[0])):
                ids = np.asarray([[p[pos]] for p in self.prefixes], dtype=np.int64)
                log_probs, past_k, past_v = self.graphs.decode_grow(  # type: ignore[attr-defined]
                    ids,
                    np.asarray([pos], np.int64),
                    past_k,
                    past_v,
                    np.arange(rows),
                    *self._cross,
                    self._mask,
                )
            return np.asarray(log_probs, dtype=np.float32)
        self_k = np.zeros((layers, rows, heads, slots, head_dim), np.float32)
        self_v = np.zeros_like(self_k)
        log_probs = np.zeros(0, np.float32)
        for pos in range(len(self.prefixes[0])):  # every row of one sentence has the same length
            ids = np.asarray([[p[pos]] for p in self.prefixes], dtype=np.int64)
            log_probs, new_k, new_v = self.graphs.decode_step(
                ids, np.asarray([pos], np.int64), self_k, self_v, *self._cross, self._mask
            )
            self_k[:, :, :, pos] = new_k[:, :, :, 0]
            self_v[:, :, :, pos] = new_v[:, :, :, 0]
        return np.asarray(log_probs, dtype=np.float32)

    def reorder(self, parents: list[int]) -> None:
        if parents != list(range(len(parents))):
            self.reorders += 1
        self.prefixes = [list(self.prefixes[p]) for p in parents]


@pytest.mark.parametrize("backend", ["onnx", "executorch"])
def test_cached_beam_search_equals_a_cache_free_reference(
    tiny_bundle: Path, sentences: list[str], backend: str
) -> None:
    translator = Translator(tiny_bundle, backend)
    cfg = translator.search_config(TranslateOptions(beam_size=4, max_new_tokens=12))
    reference = PrefixRecomputeStep(translator.model.graphs, translator.model)
    compared = 0
    for text in sentences[:24]:
        ids = translator.tokenizer.encode(text)
        cached = beam_search(translator.model, ids, cfg)
        expected = beam_search(reference, ids, cfg)
        assert cached.tokens == expected.tokens, text
        assert cached.score == pytest.approx(expected.score, abs=1e-4)
        compared += 1
    assert compared == 24
    # the comparison means something only if the beam really moved rows between hypotheses
    assert reference.reorders >= 10
