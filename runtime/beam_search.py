"""Greedy and beam search: a direct reading of ``docs/decoding.md``.

Section numbers in comments refer to that page. The Java engine on the
phone implements the same page; keep the two in step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from pocketmt.runtime.errors import BundleError
from pocketmt.runtime.step import F32, I64, StepModel

NEG_INF = np.float32(-np.inf)


@dataclass(frozen=True)
class SearchConfig:
    """Everything the search needs besides the model (all of it from the manifest + options)."""

    beam_size: int
    max_new_tokens: int
    eos_id: int
    start_id: int
    banned_ids: tuple[int, ...] = ()
    length_penalty: float = 1.0
    forced_eos: bool = True


@dataclass
class Hypothesis:
    tokens: list[int]  # generated ids, start token excluded, EOS included when finished
    score: float  # sum of token log-probs (float32 arithmetic)
    normalized: float  # score / len(tokens) ** length_penalty (section 3)
    finished: bool
    extra: dict[str, object] = field(default_factory=dict)


def length_normalize(score: float, length: int, alpha: float) -> float:
    """Section 3: ``score / length ** alpha``; length counts generated tokens incl. EOS."""
    return float(np.float32(score) / np.float32(float(length) ** alpha))


def mask_log_probs(log_probs: F32, t: int, cfg: SearchConfig) -> F32:
    """Section 2: banned ids never appear; with forced EOS the last step may only end. A NaN or
    ``+inf`` left after masking is a broken model, not a score: the search stops with an error.
    Returns a new array; ``log_probs`` is left as it was."""
    out = log_probs.copy()
    for banned in cfg.banned_ids:  # (one or two ids: a column each, no index array to build)
        out[:, banned] = NEG_INF
    if cfg.forced_eos and t == cfg.max_new_tokens - 1:
        eos = out[:, cfg.eos_id].copy()
        out[:, :] = NEG_INF
        out[:, cfg.eos_id] = eos
    # one reduction, no temporary: the maximum is NaN when any entry is NaN, +inf when any is +inf
    if not out.max() < np.inf:
        raise BundleError(
            f"the model's log-probabilities at step {t} are not finite (NaN or +inf): "
            "its weights or graphs are broken"
        )
    return out


def no_finite_candidate(t: int) -> BundleError:
    """Section 2's masks (or the model) left every token at ``-inf``: nothing can be generated."""
    return BundleError(
        f"no token has a finite score at step {t}: the model gives every allowed token "
        "probability 0 (or the bundle's banned ids and forced EOS exclude them all)"
    )


def single_row_hypothesis(tokens: list[int], score: np.float32, cfg: SearchConfig) -> Hypothesis:
    """The result of one row decoded to its end: finished when it ends with EOS."""
    finished = bool(tokens) and tokens[-1] == cfg.eos_id
    return Hypothesis(
        tokens, float(score), length_normalize(float(score), len(tokens), cfg.length_penalty), finished
    )


def greedy_choice(log_probs: F32, t: int, cfg: SearchConfig) -> tuple[int, np.float32]:
    """Section 4's choice at step ``t`` from one row of unmasked log-probs: the first maximum after
    section 2's masks, and its score. Where the row's own first maximum is a finite allowed id before
    the forced-EOS step, masking could not move it (it only lowers other ids), so no masked copy is
    made; anything else (a banned id, NaN or +inf on top, the last step) goes through
    ``mask_log_probs``, with its errors."""
    best = int(np.argmax(log_probs))  # first maximum (NaN, then +inf, count as the largest)
    value = log_probs[best]
    last_step = cfg.forced_eos and t == cfg.max_new_tokens - 1
    if last_step or best in cfg.banned_ids or not value < np.inf:
        masked = mask_log_probs(log_probs[None, :], t, cfg)[0]
        best = int(np.argmax(masked))  # first maximum: lowest id wins ties
        value = masked[best]
    if value == NEG_INF:
        raise no_finite_candidate(t)
    return best, value


def greedy_search(model: StepModel, source_ids: list[int], cfg: SearchConfig) -> Hypothesis:
    """Section 4."""
    model.start(source_ids, rows=1)
    tokens: list[int] = []
    score = np.float32(0.0)
    last = cfg.start_id
    for t in range(cfg.max_new_tokens):
        best, value = greedy_choice(model.step([last])[0], t, cfg)
        score = np.float32(score + value)
        tokens.append(best)
        last = best
        if best == cfg.eos_id:
            break
    return single_row_hypothesis(tokens, score, cfg)


def score_tokens(model: StepModel, source_ids: list[int], tokens: list[int], cfg: SearchConfig) -> Hypothesis:
    """Section 7: the score this model gives a fixed token sequence (forced decoding, masks applied)."""
    model.start(source_ids, rows=1)
    score = np.float32(0.0)
    last = cfg.start_id
    for t, token in enumerate(tokens):
        log_probs = mask_log_probs(model.step([last]), t, cfg)[0]
        score = np.float32(score + log_probs[token])
        last = token
    return single_row_hypothesis(list(tokens), score, cfg)


def top_candidates(scores: F32, count: int) -> list[tuple[int, int, np.float32]]:
    """Section 5.2: the ``count`` best finite (row, token, score), best first.

    Order: higher score first; equal scores by lower flat index ``row * V + token``.
    """
    rows, vocab = scores.shape
    flat = scores.reshape(-1)
    count = min(count, flat.size)
    # Same result as a full stable sort on -score, without sorting K*V entries: keep everything at
    # least as good as a lower bound of the count-th best score (ties included), then order that
    # handful exactly. The bound is the count-th best of one row (row 0, the best beam's, the
    # tightest in practice): the count best of all rows are at least as good. Non-finite scores are
    # never candidates, so a bound of -inf keeps only the finite ones.
    row0 = scores[0]
    masked = int(np.count_nonzero(row0 == NEG_INF))
    if masked * 8 <= vocab and count <= vocab - masked:
        # a few -inf (the banned ids) among at least ``count`` finite scores: the count-th best of the
        # whole row is finite, and what passes a finite bound is finite
        bound = np.partition(row0, vocab - count)[vocab - count]
        pool = np.flatnonzero(flat >= bound)
    else:
        first = row0[row0 > NEG_INF]  # (a selection over many equal -inf is slow)
        n = len(first)
        bound = np.partition(first, n - count)[n - count] if count <= n else NEG_INF
        pool = np.flatnonzero((flat >= bound) & (flat > NEG_INF))
    order = pool[np.lexsort((pool, -flat[pool]))][:count]
    return [(int(i) // vocab, int(i) % vocab, flat[i]) for i in order]


def advance_beam(
    scores: F32,
    beam_tokens: list[list[int]],
    finished: list[Hypothesis],
    t: int,
    cfg: SearchConfig,
    columns: I64 | None = None,
) -> list[tuple[int, int, np.float32]] | None:
    """Sections 5.2-5.5 for one sentence at step ``t``: appends what finishes to ``finished`` and
    returns the k (parent row, token, score) of the next beam, or None when the search stops.
    ``columns``: the ascending token ids that ``scores``' columns are (``beam_step``), else all."""
    k = cfg.beam_size
    next_rows: list[tuple[int, int, np.float32]] = []
    for rank, (row, col, score) in enumerate(top_candidates(scores, 2 * k)):
        token = col if columns is None else int(columns[col])
        if token == cfg.eos_id:
            # 5.3: an EOS candidate finishes only if it ranks within the beam
            if rank < k:
                toks = beam_tokens[row] + [token]
                norm = length_normalize(float(score), len(toks), cfg.length_penalty)
                finished.append(Hypothesis(toks, float(score), norm, True))
        else:
            next_rows.append((row, token, score))
        if len(next_rows) == k:
            break
    # 5.4: stop when the beam has k finished hypotheses, nothing is left, or at the length limit
    if len(finished) >= k or not next_rows or t == cfg.max_new_tokens - 1:
        if t == cfg.max_new_tokens - 1 and len(finished) < k:
            for row, token, score in next_rows[: k - len(finished)]:
                toks = beam_tokens[row] + [token]
                norm = length_normalize(float(score), len(toks), cfg.length_penalty)
                finished.append(Hypothesis(toks, float(score), norm, False))
        return None
    # 5.5: fewer than k survivors (tiny vocabularies): pad with dead rows
    while len(next_rows) < k:
        row, token, _ = next_rows[0]
        next_rows.append((row, token, NEG_INF))
    return next_rows


def beam_step(
    beam_tokens: list[list[int]],
    beam_scores: F32,
    log_probs: F32,
    finished: list[Hypothesis],
    t: int,
    cfg: SearchConfig,
    columns: I64 | None = None,
) -> tuple[list[int], list[list[int]], F32] | None:
    """One step of section 5 for one sentence's ``K`` rows: the parent rows, tokens and scores of the
    next beam, or None once the search stopped (what finished is appended to ``finished``).
    ``columns``: ascending ids outside which every log-prob is ``-inf`` (a shortlist's candidates,
    ``candidate_ids``): the same step on those columns only. No candidate is lost (the others are never
    candidates) and the order is kept (row by row, ids ascending: the flat-index order of 5.2)."""
    chosen = log_probs if columns is None else log_probs[:, columns]
    scores = beam_scores[:, None] + chosen  # float32 + float32: float32, a new array
    next_rows = advance_beam(scores, beam_tokens, finished, t, cfg, columns)
    if next_rows is None:
        if not finished:  # 5.4 stopped with no survivors and nothing finished
            raise no_finite_candidate(t)
        return None
    parents = [row for row, _, _ in next_rows]
    tokens = [beam_tokens[row] + [token] for row, token, _ in next_rows]
    return parents, tokens, np.asarray([s for _, _, s in next_rows], dtype=np.float32)


def candidate_columns(model: StepModel) -> Callable[[int], I64 | None]:
    """Per sentence of the model's batch (its position), the ids outside which its steps give ``-inf``
    (``candidate_ids``, a shortlist's), or None where a step may give any id."""
    found = getattr(model, "candidate_ids", None)
    if found is None:
        return lambda position: None
    return found  # type: ignore[no-any-return]


def best_finished(finished: list[Hypothesis]) -> Hypothesis:
    """5.6: best normalized score; ties go to the hypothesis that finished first."""
    best = finished[0]
    for hyp in finished[1:]:
        if hyp.normalized > best.normalized:
            best = hyp
    return best


def beam_search(model: StepModel, source_ids: list[int], cfg: SearchConfig) -> Hypothesis:
    """Section 5; ``K = 1`` takes section 4's loop, which section 5 reduces to (the tests check that
    equality against ``section5_search`` with one row)."""
    if cfg.beam_size == 1:
        return greedy_search(model, source_ids, cfg)
    return section5_search(model, source_ids, cfg)


def section5_search(model: StepModel, source_ids: list[int], cfg: SearchConfig) -> Hypothesis:
    """Section 5 for any ``K``, one included (no greedy shortcut)."""
    k = cfg.beam_size
    model.start(source_ids, rows=k)
    columns = candidate_columns(model)
    # 5.1: row 0 is the only live hypothesis at first; the others wait at -inf
    beam_scores = np.full((k,), NEG_INF, dtype=np.float32)
    beam_scores[0] = 0.0
    beam_tokens: list[list[int]] = [[] for _ in range(k)]
    finished: list[Hypothesis] = []
    for t in range(cfg.max_new_tokens):
        last = [toks[-1] if toks else cfg.start_id for toks in beam_tokens]
        log_probs = mask_log_probs(model.step(last), t, cfg)
        stepped = beam_step(beam_tokens, beam_scores, log_probs, finished, t, cfg, columns(0))
        if stepped is None:
            break
        parents, beam_tokens, beam_scores = stepped
        model.reorder(parents)
    return best_finished(finished)
