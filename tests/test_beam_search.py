"""The search against a fake step model with known log-probs (docs/decoding.md, sections 2-5)."""

from __future__ import annotations

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pocketmt.runtime.beam_search import (
    SearchConfig,
    beam_search,
    greedy_search,
    length_normalize,
    section5_search,
)
from tests.fake_step import TableStepModel, log_softmax

EOS, START, PAD = 0, 5, 5
V = 6


def cfg(**kw: object) -> SearchConfig:
    base: dict[str, object] = dict(
        beam_size=2,
        max_new_tokens=6,
        eos_id=EOS,
        start_id=START,
        banned_ids=(PAD,),
        length_penalty=1.0,
        forced_eos=False,
    )
    base.update(kw)
    return SearchConfig(**base)  # type: ignore[arg-type]


def lp(probs: dict[int, float]) -> np.ndarray:
    out = np.full(V, -30.0, dtype=np.float32)
    for tok, p in probs.items():
        out[tok] = np.log(p)
    return out


def test_greedy_takes_lowest_id_on_ties_and_stops_at_eos() -> None:
    def table(prefix: tuple[int, ...]) -> np.ndarray:
        if len(prefix) < 2:
            return lp({2: 0.4, 3: 0.4, 0: 0.2})  # tie between 2 and 3: 2 wins
        return lp({0: 0.9, 1: 0.1})

    hyp = greedy_search(TableStepModel(V, table), [1, 0], cfg(beam_size=1))
    assert hyp.tokens == [2, 2, 0]
    assert hyp.finished
    assert np.isclose(hyp.score, np.log(0.4) * 2 + np.log(0.9), atol=1e-5)
    assert np.isclose(hyp.normalized, hyp.score / 3, atol=1e-6)


def test_banned_token_is_never_generated_even_when_most_likely() -> None:
    hyp = greedy_search(TableStepModel(V, lambda p: lp({PAD: 0.9, 4: 0.06, 0: 0.04})), [1], cfg(beam_size=1))
    assert PAD not in hyp.tokens
    assert hyp.tokens[0] == 4


def test_forced_eos_ends_every_hypothesis_at_the_length_limit() -> None:
    # EOS is so unlikely that it never ranks inside the beam until it is forced
    model = TableStepModel(V, lambda p: lp({3: 0.7, 4: 0.29, 0: 0.001}))
    for beam in (1, 2):
        hyp = beam_search(model, [1], cfg(beam_size=beam, max_new_tokens=4, forced_eos=True))
        assert hyp.tokens == [3, 3, 3, 0]
        assert hyp.finished


def test_k_finished_hypotheses_stop_the_search() -> None:
    # step 0 finishes [0] (EOS ranks 2nd of the candidates), step 1 finishes [3, 0]: two finished, stop
    model = TableStepModel(V, lambda p: lp({3: 0.98, 0: 0.02}))
    hyp = beam_search(model, [1], cfg(beam_size=2, max_new_tokens=6))
    assert hyp.tokens == [3, 0]
    assert model.calls == 2


def test_without_forced_eos_an_unfinished_hypothesis_is_returned_and_flagged() -> None:
    model = TableStepModel(V, lambda p: lp({3: 0.7, 4: 0.29, 0: 0.001}))
    hyp = beam_search(model, [1], cfg(beam_size=2, max_new_tokens=4))
    assert hyp.tokens == [3, 3, 3, 3]
    assert not hyp.finished


def test_beam_finds_what_greedy_misses() -> None:
    # greedy takes 1 (0.6) and then a flat distribution; the beam keeps 2 (0.4), which ends confidently
    def table(prefix: tuple[int, ...]) -> np.ndarray:
        if not prefix:
            return lp({1: 0.6, 2: 0.4})
        if prefix[0] == 1:
            return lp({0: 0.25, 3: 0.25, 4: 0.25, 1: 0.25})
        return lp({0: 0.99, 3: 0.01})

    greedy = greedy_search(TableStepModel(V, table), [1], cfg(beam_size=1))
    beam = beam_search(TableStepModel(V, table), [1], cfg(beam_size=2))
    assert greedy.tokens[:2] == [1, 0]
    assert beam.tokens == [2, 0]
    assert beam.normalized > greedy.normalized


def test_eos_outside_the_top_k_candidates_does_not_finish() -> None:
    # at step 0 the candidates are 1 (0.5), 2 (0.3), EOS (0.2): with k=2 the EOS ranks third and is ignored
    def table(prefix: tuple[int, ...]) -> np.ndarray:
        if not prefix:
            return lp({1: 0.5, 2: 0.3, 0: 0.2})
        return lp({0: 0.5, 3: 0.5})

    model = TableStepModel(V, table)
    hyp = beam_search(model, [1], cfg(beam_size=2, max_new_tokens=3))
    assert hyp.tokens in ([1, 0], [2, 0])
    assert hyp.tokens == [1, 0]


def test_eos_beyond_the_beam_is_ignored_with_several_live_rows() -> None:
    # Step 1 ranks [2 EOS] (finished), [1 3], [1 EOS], [2 4]. [1 EOS] ranks 2 >= K: ignored, so only one
    # hypothesis has finished and the search goes on to [1 3 EOS] (normalized -0.43 against [2 EOS]'s
    # -0.51). Were [1 EOS] taken, two would have finished at step 1 and [2 EOS] would be returned.
    tables = {
        (): {1: 0.5, 2: 0.4, 0: 0.1},
        (1,): {3: 0.55, 0: 0.45},
        (2,): {0: 0.9, 4: 0.1},
        (1, 3): {0: 0.99, 4: 0.01},
    }
    model = TableStepModel(V, lambda p: lp(tables.get(p, {0: 0.5, 4: 0.5})))
    hyp = beam_search(model, [1], cfg(beam_size=2, max_new_tokens=6))
    assert hyp.tokens == [1, 3, 0]
    assert model.calls == 3


def test_length_penalty_prefers_longer_with_higher_alpha() -> None:
    # short: EOS at once, p=0.4; long: 3 then EOS, p=0.5*0.7=0.35 (lower total, higher per token)
    def table(prefix: tuple[int, ...]) -> np.ndarray:
        if not prefix:
            return lp({3: 0.5, 0: 0.4, 4: 0.1})
        return lp({0: 0.7, 4: 0.3})

    short = beam_search(TableStepModel(V, table), [1], cfg(beam_size=2, length_penalty=0.0))
    long = beam_search(TableStepModel(V, table), [1], cfg(beam_size=2, length_penalty=1.0))
    assert short.tokens == [0]
    assert long.tokens == [3, 0]
    assert np.isclose(length_normalize(-1.0, 4, 1.0), -0.25)


def test_equal_scores_tie_break_by_row_then_token() -> None:
    # two tokens with identical probability: the lower id is kept first, and wins the final tie
    def table(prefix: tuple[int, ...]) -> np.ndarray:
        if not prefix:
            return lp({3: 0.5, 2: 0.5})
        return lp({0: 1.0})

    hyp = beam_search(TableStepModel(V, table), [1], cfg(beam_size=2))
    assert hyp.tokens == [2, 0]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from([-np.inf, -3.0, -1.0, -0.5, 0.0]), min_size=2, max_size=24), st.integers(1, 30)
)
def test_top_candidates_equal_a_full_stable_sort(values: list[float], count: int) -> None:
    from pocketmt.runtime.beam_search import top_candidates

    scores = (
        np.asarray(values, dtype=np.float32).reshape(2, -1)
        if len(values) % 2 == 0
        else (np.asarray(values, dtype=np.float32).reshape(1, -1))
    )
    flat = scores.reshape(-1)
    expected = [int(i) for i in np.argsort(-flat, kind="stable")[:count] if np.isfinite(flat[i])]
    got = [r * scores.shape[1] + t for r, t, _ in top_candidates(scores, count)]
    assert got == expected


@st.composite
def random_tables(draw: st.DrawFn) -> tuple[int, dict[tuple[int, ...], np.ndarray]]:
    seed = draw(st.integers(0, 2**31 - 1))
    return seed, {}


@settings(max_examples=60, deadline=None)
@given(random_tables(), st.integers(1, 5), st.integers(1, 8), st.floats(0.0, 2.0), st.booleans())
def test_search_invariants_on_random_models(
    seeded: tuple[int, dict], beam: int, max_len: int, alpha: float, forced: bool
) -> None:
    seed, cache = seeded
    rng = np.random.default_rng(seed)

    def table(prefix: tuple[int, ...]) -> np.ndarray:
        if prefix not in cache:
            cache[prefix] = log_softmax(rng.normal(0, 2, V))
        return cache[prefix]

    c = cfg(beam_size=beam, max_new_tokens=max_len, length_penalty=alpha, forced_eos=forced)
    hyp = beam_search(TableStepModel(V, table), [1], c)
    again = beam_search(TableStepModel(V, table), [1], c)
    assert hyp.tokens == again.tokens  # deterministic
    assert 1 <= len(hyp.tokens) <= max_len
    assert PAD not in hyp.tokens
    assert EOS not in hyp.tokens[:-1]
    assert hyp.finished == (hyp.tokens[-1] == EOS)
    if forced:
        assert hyp.finished
    # the reported score is the sum of the model's log-probs along the returned tokens
    total = np.float32(0)
    for i, tok in enumerate(hyp.tokens):
        total = np.float32(total + table(tuple(hyp.tokens[:i]))[tok])
    assert np.isclose(hyp.score, total, atol=1e-4)
    assert np.isclose(hyp.normalized, length_normalize(hyp.score, len(hyp.tokens), alpha), atol=1e-5)
    if beam == 1:  # section 4 is section 5 with one row: two separate loops, one result
        general = section5_search(TableStepModel(V, table), [1], c)
        assert (general.tokens, general.score, general.finished) == (hyp.tokens, hyp.score, hyp.finished)


@settings(max_examples=300, deadline=None)
@example([-1.0, -2.0, -np.inf, -1.0, -2.0, -0.5], 0, False)  # the row's own maximum is the banned PAD
@example([-1.0, -2.0, -0.5, -1.0, -2.0, np.nan], 1, False)  # a NaN the mask removes
@given(
    st.lists(st.sampled_from([-np.inf, -2.0, -1.0, -0.5, np.nan, np.inf]), min_size=V, max_size=V),
    st.integers(0, 5),
    st.booleans(),
)
def test_greedy_choice_is_the_first_maximum_after_the_masks(
    values: list[float], t: int, forced: bool
) -> None:
    # the unmasked shortcut must choose what section 2's masked copy chooses, and fail where it fails
    from pocketmt.runtime.beam_search import BundleError, greedy_choice, mask_log_probs

    row = np.asarray(values, dtype=np.float32)
    c = cfg(forced_eos=forced)
    try:
        masked = mask_log_probs(row[None, :], t, c)[0]
        best = int(np.argmax(masked))
        expected: object = (best, masked[best]) if masked[best] > -np.inf else "no candidate"
    except BundleError as exc:
        expected = str(exc)
    try:
        got: object = greedy_choice(row, t, c)
    except BundleError as exc:
        got = "no candidate" if "no token has a finite score" in str(exc) else str(exc)
    assert got == expected
    assert np.array_equal(row, np.asarray(values, dtype=np.float32), equal_nan=True)  # left as it was
