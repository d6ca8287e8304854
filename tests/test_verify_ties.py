"""``replay`` tells a beam that another CPU's rounding sent down another path from a model that changed."""

from __future__ import annotations

from typing import Any

import numpy as np

from pocketmt.runtime.beam_search import Hypothesis, SearchConfig, score_tokens
from pocketmt.runtime.translator import TranslateOptions
from pocketmt.runtime.verify import replay

# every step: eos (id 0) 0.2, id 1 0.5, id 2 0.3, id 3 (the start id) never
LOG_PROBS = np.log(np.array([[0.2, 0.5, 0.3, 1e-30]], dtype=np.float32))


class FixedModel:
    def start(self, source_ids: list[int], rows: int) -> None:
        pass

    def step(self, tokens: list[int]) -> Any:
        return LOG_PROBS.copy()

    def reorder(self, parents: list[int]) -> None:
        pass


class StubTranslator:
    """A translator whose search returns ``found``, over a model with fixed step probabilities."""

    backend = "stub"

    def __init__(self, found: list[int]) -> None:
        self.model = FixedModel()
        self.found = found

    def search_config(self, options: TranslateOptions | None = None) -> SearchConfig:
        assert options is not None
        return SearchConfig(
            beam_size=options.beam_size, max_new_tokens=options.max_new_tokens, eos_id=0, start_id=3
        )

    def search_ids(self, source_ids: list[int], options: TranslateOptions | None = None) -> Hypothesis:
        return score_tokens(self.model, source_ids, self.found, self.search_config(options))


def _replay(found: list[int], recorded: list[int]) -> Any:
    sample = {"source_ids": [5], "max_new_tokens": 8, "beam_size": 2, "beam": recorded}
    return replay(StubTranslator(found), [sample])  # type: ignore[arg-type]


def test_identical_tokens_pass_without_notes() -> None:
    result = _replay([1, 0], [1, 0])
    assert result.ok and not result.ties


def test_search_losing_a_hypothesis_the_model_prefers_is_a_tie_not_a_failure() -> None:
    result = _replay(found=[2, 0], recorded=[1, 0])  # this model scores the recorded tokens higher
    assert result.ok
    assert len(result.ties) == 1 and "scores the recorded tokens higher" in result.ties[0]


def test_a_model_that_prefers_other_tokens_by_more_than_the_tolerance_fails() -> None:
    result = _replay(found=[1, 0], recorded=[2, 0])  # log 0.5 against log 0.3 per token: far apart
    assert not result.ok
    assert "differ from the export-time reference" in result.mismatches[0]


def test_equal_scores_are_a_near_tie() -> None:
    result = _replay(found=[1, 2, 0], recorded=[2, 1, 0])  # same tokens, other order: same score
    assert result.ok
    assert "near-tie" in result.ties[0]
