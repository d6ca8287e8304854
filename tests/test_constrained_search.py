"""Constraint bookkeeping and Dynamic Beam Allocation against a fake step model (docs/decoding.md §8)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pocketmt.runtime.beam_search import SearchConfig, beam_search
from pocketmt.runtime.constrained_search import constrained_beam_search
from pocketmt.runtime.constraints import Constraint, ConstraintState
from tests.fake_step import TableStepModel, log_softmax

EOS, PAD = 0, 9
V = 10


def cfg(**kw: object) -> SearchConfig:
    base: dict[str, object] = dict(
        beam_size=4,
        max_new_tokens=8,
        eos_id=EOS,
        start_id=PAD,
        banned_ids=(PAD,),
        length_penalty=1.0,
        forced_eos=True,
    )
    base.update(kw)
    return SearchConfig(**base)  # type: ignore[arg-type]


def contains(tokens: list[int], seq: tuple[int, ...]) -> bool:
    return any(tuple(tokens[i : i + len(seq)]) == seq for i in range(len(tokens) - len(seq) + 1))


def peaked(prefix: tuple[int, ...]) -> np.ndarray:
    """A model that wants to say 1 2 1 2 ... then stop: it never says 5, 6 or 7 on its own."""
    out = np.full(V, -12.0, dtype=np.float32)
    out[1 + len(prefix) % 2] = -0.1
    out[EOS] = -0.5 if len(prefix) >= 3 else -6.0
    return log_softmax(out)


def random_table(seed: int) -> Callable[[tuple[int, ...]], np.ndarray]:
    """A model with random log-probabilities, fixed per prefix."""
    rng = np.random.default_rng(seed)
    cache: dict[tuple[int, ...], np.ndarray] = {}

    def table(prefix: tuple[int, ...]) -> np.ndarray:
        if prefix not in cache:
            cache[prefix] = log_softmax(rng.normal(0, 2, V))
        return cache[prefix]

    return table


def test_state_tracks_multi_token_and_overlapping_matches() -> None:
    cons = [Constraint(((5, 5, 6),)), Constraint(((7,), (8,)))]
    s = ConstraintState.start(2)
    for tok in (5, 5, 5):
        s = s.advance(tok, cons)
    assert s.met == (0, 0) and s.progress(cons) == 2
    assert s.next_tokens(cons) == [5, 6, 7, 8]
    s = s.advance(6, cons)
    assert s.met == (1, 0) and not s.partial
    s = s.advance(8, cons)
    assert s.met == (1, 2) and s.all_met and s.progress(cons) == 4


def test_unconstrained_output_lacks_the_term_and_constrained_output_has_it() -> None:
    free = beam_search(TableStepModel(V, peaked), [1], cfg())
    assert 5 not in free.tokens
    hyp = constrained_beam_search(TableStepModel(V, peaked), [1], cfg(), [Constraint(((5,),))])
    assert 5 in hyp.tokens and hyp.finished and hyp.tokens[-1] == EOS
    assert hyp.extra == {"met": [0], "constraints_dropped": False}


def test_multi_token_and_disjunctive_constraints_are_all_met() -> None:
    cons = [Constraint(((5, 6),)), Constraint(((7,), (3, 3)))]
    hyp = constrained_beam_search(TableStepModel(V, peaked), [1], cfg(max_new_tokens=10), cons)
    assert contains(hyp.tokens, (5, 6))
    assert contains(hyp.tokens, (7,)) or contains(hyp.tokens, (3, 3))
    assert hyp.extra["met"][0] == 0 and hyp.extra["met"][1] in (0, 1)
    assert not hyp.extra["constraints_dropped"]


def test_impossible_constraints_fall_back_to_the_unconstrained_best_and_say_so() -> None:
    cons = [Constraint(((5, 6, 7),)), Constraint(((3, 4, 3),))]
    c = cfg(max_new_tokens=4)  # 6 constraint tokens + EOS cannot fit in 4
    hyp = constrained_beam_search(TableStepModel(V, peaked), [1], c, cons)
    assert hyp.extra["constraints_dropped"] is True
    assert hyp.tokens == beam_search(TableStepModel(V, peaked), [1], c).tokens


def test_no_constraints_is_plain_beam_search() -> None:
    hyp = constrained_beam_search(TableStepModel(V, peaked), [1], cfg(), [])
    assert hyp.tokens == beam_search(TableStepModel(V, peaked), [1], cfg()).tokens


def test_model_calls_do_not_grow_with_the_number_of_constraints() -> None:
    calls = []
    for n in (1, 2, 4):
        model = TableStepModel(V, peaked)
        cons = [Constraint(((t,),)) for t in (5, 6, 7, 8)[:n]]
        hyp = constrained_beam_search(model, [1], cfg(max_new_tokens=12), cons)
        assert all(t in hyp.tokens for t in (5, 6, 7, 8)[:n])
        calls.append(model.calls)
    assert max(calls) <= 12  # one batched call per step, K rows each, whatever n is


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 2**31 - 1),
    st.integers(2, 5),
    st.lists(
        st.lists(st.lists(st.integers(1, 8), min_size=1, max_size=2), min_size=1, max_size=2),
        min_size=1,
        max_size=3,
    ),
)
def test_constraints_are_met_or_the_drop_is_flagged(
    seed: int, beam: int, spec: list[list[list[int]]]
) -> None:
    table = random_table(seed)
    cons = [Constraint(tuple(tuple(a) for a in alts)) for alts in spec]
    c = cfg(beam_size=beam, max_new_tokens=12)
    hyp = constrained_beam_search(TableStepModel(V, table), [1], c, cons)
    again = constrained_beam_search(TableStepModel(V, table), [1], c, cons)
    assert hyp.tokens == again.tokens
    assert PAD not in hyp.tokens and 1 <= len(hyp.tokens) <= 12
    if not hyp.extra["constraints_dropped"]:
        for con, met in zip(cons, hyp.extra["met"], strict=True):
            assert contains(hyp.tokens, con.alternatives[met])


def test_a_term_extended_into_a_longer_word_is_undone() -> None:
    cons = [Constraint(((5,),))]
    s = ConstraintState.start(1).advance(5, cons)
    assert s.all_met
    assert not s.advance(6, cons, continues_word=True).all_met  # "eats" + "hed": not the term
    assert s.advance(6, cons, continues_word=False).all_met  # "eats" + "▁bread": still the term


def test_a_glued_spelling_starts_only_after_a_non_word_character() -> None:
    # alternative 0: "▁ESFRI" (proposed); alternative 1: "ESFRI" glued (tracked, not proposed)
    cons = [Constraint(((5, 6), (7, 6)), "ESFRI", (True, False))]
    start = ConstraintState.start(1)
    after_quote = start.advance(7, cons, after_word=False).advance(6, cons)
    assert after_quote.all_met  # '"' + "ESFRI": the term, glued to a quote
    inside_word = start.advance(7, cons, after_word=True).advance(6, cons)
    assert not inside_word.all_met  # "ESFRE" + "ESFRI": the tail of a longer word
    assert start.advance(5, cons, after_word=True).advance(6, cons).all_met  # the word-start spelling is free


def looping(prefix: tuple[int, ...]) -> np.ndarray:
    """A model stuck in a loop: 1 1 1 ... and never EOS before the length limit (a demo model on text
    from another domain does this)."""
    out = np.full(V, -14.0, dtype=np.float32)
    out[1] = -0.01
    out[EOS] = -9.0
    return log_softmax(out)


def test_terms_are_placed_before_the_length_limit_when_the_model_loops() -> None:
    cons = [Constraint(((5, 6),)), Constraint(((7,),))]
    for limit in (4, 6, 9):  # 3 constraint tokens + the forced EOS fit in 4
        hyp = constrained_beam_search(TableStepModel(V, looping), [1], cfg(max_new_tokens=limit), cons)
        assert not hyp.extra["constraints_dropped"], limit
        assert contains(hyp.tokens, (5, 6)) and 7 in hyp.tokens and len(hyp.tokens) <= limit


def test_tokens_needed_counts_the_cheaper_of_partial_and_fresh() -> None:
    cons = [Constraint(((5, 6, 7), (8,))), Constraint(((3, 4),))]
    s = ConstraintState.start(2)
    assert s.tokens_needed(cons) == 1 + 2
    s = s.advance(3, cons)
    assert s.tokens_needed(cons) == 1 + 1 and s.fresh_need(cons) == 1 + 2


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 2**31 - 1),
    st.integers(1, 4),
    st.permutations([1, 2, 3, 4, 5, 6, 7, 8]),
    st.lists(st.integers(1, 3), min_size=1, max_size=3),
)
def test_terms_that_fit_in_the_length_limit_are_never_dropped(
    seed: int, beam: int, tokens: list[int], lengths: list[int]
) -> None:
    table = random_table(seed)
    cons, used = [], 0
    for n in lengths:  # disjoint token sets: one term cannot undo another's partial match
        cons.append(Constraint((tuple(tokens[used : used + n]),)))
        used += n
    limit = used + 1  # exactly enough: every term token, then the forced EOS
    hyp = constrained_beam_search(
        TableStepModel(V, table), [1], cfg(beam_size=beam, max_new_tokens=limit), cons
    )
    assert not hyp.extra["constraints_dropped"]
    for con in cons:
        assert contains(hyp.tokens, con.alternatives[0])


def test_terms_sharing_a_first_token_are_all_placed_before_the_limit() -> None:
    cons = [Constraint(((5, 6),)), Constraint(((5, 7),)), Constraint(((5, 8, 3),))]
    hyp = constrained_beam_search(TableStepModel(V, looping), [1], cfg(max_new_tokens=8), cons)
    assert not hyp.extra["constraints_dropped"]
    assert all(contains(hyp.tokens, c.alternatives[0]) for c in cons)
