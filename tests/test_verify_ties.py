"""``replay`` tells a search that another CPU's rounding sent down another path from a model that changed.

The models here have fixed step probabilities, so every score is known exactly; ``test_verify_logprobs``
runs the same judgements on exported bundles.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from pocketmt.runtime.beam_search import Hypothesis, SearchConfig, beam_search, score_tokens
from pocketmt.runtime.translator import TranslateOptions
from pocketmt.runtime.verify import (
    FP32_TOLERANCE,
    LOWBIT_EAGER_TOLERANCE,
    LOWBIT_OWN_TOLERANCE,
    NOT_RECORDED,
    replay,
    token_log_probs,
)

# every step: eos (id 0) 0.2, id 1 0.5, id 2 0.3, id 3 (the start id) never
PROBS = [0.2, 0.5, 0.3, 1e-30]


class FixedModel:
    """Step probabilities by position: ``probs[t]`` (the last one repeats)."""

    def __init__(self, *probs: list[float]) -> None:
        with np.errstate(divide="ignore"):  # a probability 0 is a log-probability -inf
            self.probs = [np.log(np.array([p], dtype=np.float32)) for p in probs or (PROBS,)]
        self.t = 0

    def start(self, source_ids: list[int], rows: int) -> None:
        self.t = 0
        self.rows = rows

    def step(self, tokens: list[int]) -> Any:
        out = self.probs[min(self.t, len(self.probs) - 1)]
        self.t += 1
        return np.repeat(out, len(tokens), axis=0)

    def reorder(self, parents: list[int]) -> None:
        pass


class StubTranslator:
    """A translator over a model with fixed step probabilities; its search returns ``found`` when given,
    else what the beam search finds."""

    backend = "stub"

    def __init__(self, found: list[int] | None = None, model: FixedModel | None = None) -> None:
        self.model = model or FixedModel()
        self.found = found

    def new_step_model(self) -> FixedModel:
        return self.model

    def search_config(self, options: TranslateOptions | None = None) -> SearchConfig:
        assert options is not None and options.beam_size is not None and options.max_new_tokens is not None
        return SearchConfig(
            beam_size=options.beam_size, max_new_tokens=options.max_new_tokens, eos_id=0, start_id=3
        )

    def search_ids(self, source_ids: list[int], options: TranslateOptions | None = None) -> Hypothesis:
        cfg = self.search_config(options)
        if self.found is None:
            return beam_search(self.model, source_ids, cfg)
        return score_tokens(self.model, source_ids, self.found, cfg)


def _sample(key: str, recorded: list[int], **extra: Any) -> dict[str, Any]:
    return {"source_ids": [5], "max_new_tokens": 8, "beam_size": 2, key: recorded, **extra}


def _log_probs(model: FixedModel, tokens: list[int], beam: int = 2) -> list[float]:
    cfg = SearchConfig(beam_size=beam, max_new_tokens=8, eos_id=0, start_id=3)
    return token_log_probs(model, [5], tokens, cfg)


def _replay(found: list[int], recorded: list[int]) -> Any:
    return replay(StubTranslator(found), [_sample("beam", recorded)])


def test_identical_tokens_pass_without_notes_beyond_the_unrecorded_log_probs() -> None:
    result = _replay([1, 0], [1, 0])
    assert result.ok and not result.ties
    assert result.notes == [NOT_RECORDED]


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


# a model degraded so that it loops: at export it ended after one word (eos 0.9); here the end is
# pushed down (eos 0.2) and the search repeats a word up to the length limit, where it must end
HEALTHY = FixedModel([0.05, 0.9, 0.05, 1e-30], [0.9, 0.05, 0.05, 1e-30])
LOOPING = FixedModel([0.05, 0.9, 0.05, 1e-30], [0.2, 0.4, 0.4, 1e-30])


@pytest.mark.parametrize("key", ["greedy", "beam"])
def test_a_looping_model_that_scores_the_recorded_tokens_higher_fails_on_their_log_probs(key: str) -> None:
    recorded = [1, 0]
    beam = 1 if key == "greedy" else 2
    sample = _sample(key, recorded, log_probs={key: _log_probs(HEALTHY, recorded, beam)})
    cfg = StubTranslator().search_config(TranslateOptions(beam, 8))
    found = beam_search(LOOPING, [5], cfg)
    assert len(found.tokens) == 8  # it loops to the limit
    # the recorded tokens still score higher here than the loop: the branch that used to pass it
    assert score_tokens(LOOPING, [5], recorded, cfg).normalized > found.normalized
    result = replay(StubTranslator(model=LOOPING), [sample])
    assert not result.ok
    assert f"{key} force-scored log-probs differ from eager at export: token 1" in result.mismatches[0]
    # the healthy model passes the same sample, log-probs compared
    healthy = replay(StubTranslator(model=HEALTHY), [sample])
    assert healthy.ok and not healthy.notes and "eager at export" in healthy.compared


def test_greedy_that_loops_past_the_recorded_end_fails_even_without_recorded_log_probs() -> None:
    # greedy takes the best token: leaving the recorded tokens is a near-tie or a changed model
    result = replay(StubTranslator(model=LOOPING), [_sample("greedy", [1, 0])])
    assert not result.ok
    assert "at token 1 this model prefers id 1 to the recorded 0" in result.mismatches[0]
    assert result.notes == [NOT_RECORDED]


def test_greedy_leaving_the_recorded_tokens_at_a_near_tie_is_a_tie() -> None:
    tie = FixedModel([0.2, 0.4, 0.4 * (1 - 1e-4), 1e-30], [0.9, 0.05, 0.05, 1e-30])
    recorded = [2, 0]  # the export host broke the 1 / 2 tie the other way
    lps = _log_probs(tie, recorded, beam=1)
    result = replay(StubTranslator(model=tie), [_sample("greedy", recorded, log_probs={"greedy": lps})])
    assert result.ok, result.mismatches
    assert "near-tie: at token 0 id 1 beats the recorded 2" in result.ties[0]


def _shifted(values: list[float], by: float) -> list[float]:
    return [v + by for v in values]


def test_each_kind_of_record_has_its_own_tolerance() -> None:
    recorded = [1, 0]
    exact = _log_probs(HEALTHY, recorded)
    translator = StubTranslator(model=HEALTHY)
    off = 0.015  # within the low-bit tolerances, ten times the fp32 one
    assert off < LOWBIT_OWN_TOLERANCE.atol and off > FP32_TOLERANCE.bound(exact[0])

    fp32 = replay(translator, [_sample("beam", recorded, log_probs={"beam": _shifted(exact, off)})])
    assert not fp32.ok and "eager at export" in fp32.mismatches[0]

    lowbit = {"beam": recorded, "log_probs": {"beam": _shifted(exact, off / 3)}}
    lowbit["eager_log_probs"] = {"beam": _shifted(exact, off)}
    result = replay(translator, [_sample("beam", [2, 0], backends={"stub": lowbit})])
    assert result.ok, result.mismatches  # each backend's own tokens, not the eager ones
    assert set(result.compared) == {"this backend at export", "eager"}

    lowbit["eager_log_probs"] = {"beam": _shifted(exact, 5 * LOWBIT_EAGER_TOLERANCE.atol)}
    result = replay(translator, [_sample("beam", [2, 0], backends={"stub": lowbit})])
    assert not result.ok and "differ from eager: token 0" in result.mismatches[0]


def test_a_drift_of_every_token_one_way_fails_on_the_mean() -> None:
    recorded = [1, 0]
    exact = _log_probs(HEALTHY, recorded)
    drift = 1.5 * LOWBIT_OWN_TOLERANCE.mean  # under the per-token bound, over the mean one
    assert drift < LOWBIT_OWN_TOLERANCE.atol
    record = {"beam": recorded, "log_probs": {"beam": _shifted(exact, drift)}}
    result = replay(StubTranslator(model=HEALTHY), [_sample("beam", [0], backends={"stub": record})])
    assert not result.ok and "off on average" in result.mismatches[0]
    record["log_probs"] = {"beam": [v + (drift if i % 2 else -drift) for i, v in enumerate(exact)]}
    result = replay(StubTranslator(model=HEALTHY), [_sample("beam", [0], backends={"stub": record})])
    assert result.ok, result.mismatches  # the same size without a sign is rounding noise


def test_a_non_finite_log_prob_here_fails() -> None:
    broken = FixedModel([0.05, 0.9, 0.05, 1e-30], [0.0, 0.5, 0.5, 0.0])  # eos has probability 0 here
    recorded = [1, 0]
    sample = _sample("beam", recorded, log_probs={"beam": _log_probs(HEALTHY, recorded)})
    result = replay(StubTranslator(found=recorded, model=broken), [sample])
    assert not result.ok and "log-prob -inf here" in result.mismatches[0]


def test_log_probs_recorded_for_other_tokens_are_a_mismatch() -> None:
    sample = _sample("beam", [1, 0], log_probs={"beam": [-0.1, -0.1, -0.1]})
    result = replay(StubTranslator(model=HEALTHY), [sample])
    assert not result.ok and "3 log-probs from eager at export for 2 tokens" in result.mismatches[0]
