"""Several sentences searched together (``docs/decoding.md``, section 11).

Each sentence owns ``K`` rows of the model's batch and follows sections 4-5 on its own rows, through
the same rules as ``beam_search.py`` (``mask_log_probs``, ``beam_step``, ``best_finished``); the
batch only shares the graph calls. A sentence whose search stopped leaves the batch, so later steps
run on the rows of the sentences still going.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pocketmt.runtime.beam_search import (
    NEG_INF,
    Hypothesis,
    SearchConfig,
    beam_step,
    best_finished,
    candidate_columns,
    mask_log_probs,
    no_finite_candidate,
    single_row_hypothesis,
)
from pocketmt.runtime.step import F32, I64, BatchStepModel


@dataclass
class _Sentence:
    """One sentence's rows: their tokens and scores (5.1: row 0 live, the others at ``-inf``)."""

    tokens: list[list[int]]
    scores: F32
    finished: list[Hypothesis] = field(default_factory=list)
    steps: int = 0

    @classmethod
    def start(cls, k: int) -> _Sentence:
        scores = np.full((k,), NEG_INF, dtype=np.float32)
        scores[0] = 0.0
        return cls([[] for _ in range(k)], scores)


def _greedy_advance(
    s: _Sentence, log_probs: F32, t: int, cfg: SearchConfig, columns: I64 | None = None
) -> list[int] | None:
    """Section 4's step on the sentence's one row: the parent rows (``[0]``), or None once it stopped.
    (``columns`` is not needed: a row's first maximum is the same over the candidates or over all.)"""
    best = int(np.argmax(log_probs[0]))  # first maximum: lowest id wins ties
    if log_probs[0, best] == NEG_INF:
        raise no_finite_candidate(t)
    s.scores = np.asarray([s.scores[0] + log_probs[0, best]], dtype=np.float32)
    s.tokens[0].append(best)
    if best == cfg.eos_id or t == cfg.max_new_tokens - 1:
        s.finished.append(single_row_hypothesis(s.tokens[0], s.scores[0], cfg))
        return None
    return [0]


def _beam_advance(
    s: _Sentence, log_probs: F32, t: int, cfg: SearchConfig, columns: I64 | None
) -> list[int] | None:
    """Sections 5.2-5.5 on the sentence's ``K`` rows, as ``section5_search`` takes one step."""
    stepped: tuple[list[int], list[list[int]], F32] | None = beam_step(
        s.tokens, s.scores, log_probs, s.finished, t, cfg, columns
    )
    if stepped is None:
        return None
    parents, tokens, scores = stepped
    s.tokens, s.scores = tokens, scores
    return parents


def batch_search_steps(
    model: BatchStepModel, sources: list[list[int]], cfg: SearchConfig, pad_id: int
) -> list[tuple[Hypothesis, int]]:
    """Per sentence, ``beam_search``'s hypothesis and the decoder steps the sentence stayed in the batch."""
    if not sources:
        return []
    k = cfg.beam_size
    advance = _greedy_advance if k == 1 else _beam_advance
    model.start_batch(sources, rows=k, pad_id=pad_id)
    columns = candidate_columns(model)
    state = [_Sentence.start(k) for _ in sources]
    live = list(range(len(sources)))  # the batch's sentences, as indices into ``sources``
    for t in range(cfg.max_new_tokens):
        last = [toks[-1] if toks else cfg.start_id for j in live for toks in state[j].tokens]
        log_probs = mask_log_probs(model.step(last), t, cfg)
        kept: list[int] = []  # positions in this step's batch of the sentences that go on
        parents: list[int] = []
        for pos, j in enumerate(live):
            state[j].steps += 1
            rows = advance(state[j], log_probs[pos * k : (pos + 1) * k], t, cfg, columns(pos))
            if rows is not None:
                kept.append(pos)
                parents.extend(pos * k + row for row in rows)
        if not kept:
            break
        if len(kept) < len(live):
            model.select_sentences(kept)
        model.reorder(parents)
        live = [live[pos] for pos in kept]
    return [(best_finished(s.finished), s.steps) for s in state]


def batch_search(
    model: BatchStepModel, sources: list[list[int]], cfg: SearchConfig, pad_id: int
) -> list[Hypothesis]:
    """Per sentence, what ``beam_search(model, source, cfg)`` gives, decoded as one batch: the same rules,
    so the same tokens (scores up to the float32 rounding of the graphs' kernels, section 11)."""
    return [hyp for hyp, _ in batch_search_steps(model, sources, cfg, pad_id)]
