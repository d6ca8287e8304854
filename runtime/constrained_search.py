"""Lexically constrained beam search with Dynamic Beam Allocation (Post and Vilar, 2018).

A direct reading of docs/decoding.md, section 8. The model is called once per
step for the same ``K`` rows whatever the number of constraints, so the cost
of the model is constant in it; only this bookkeeping grows, and it is small.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pocketmt.runtime.beam_search import (
    NEG_INF,
    Hypothesis,
    SearchConfig,
    beam_search,
    length_normalize,
    mask_log_probs,
    top_candidates,
)
from pocketmt.runtime.constraints import Constraint, ConstraintState, max_progress, shortest
from pocketmt.runtime.step import StepModel


@dataclass(frozen=True)
class _Candidate:
    row: int
    token: int
    score: np.float32
    flat: int  # row * V + token: the tie-breaker
    state: ConstraintState
    bank: int


def _allocate(cands: list[_Candidate], k: int, banks: int) -> list[_Candidate]:
    """Section 8.3: choose ``k`` candidates, ``k // banks`` per bank (the remainder to the highest banks);
    slots a bank cannot fill go to the best remaining candidates, highest bank first."""
    groups: list[list[_Candidate]] = [[] for _ in range(banks)]
    for c in cands:
        groups[c.bank].append(c)
    for g in groups:
        g.sort(key=lambda c: (-float(c.score), c.flat))
    alloc = [k // banks] * banks
    for i in range(k % banks):
        alloc[banks - 1 - i] += 1
    chosen: list[_Candidate] = []
    rest: list[_Candidate] = []
    for b in range(banks - 1, -1, -1):
        chosen.extend(groups[b][: alloc[b]])
        rest.extend(groups[b][alloc[b] :])
    chosen.extend(rest[: k - len(chosen)])  # rest is already ordered highest bank first
    return chosen


def _leave_room(
    log_probs: np.ndarray,
    row: int,
    state: ConstraintState,
    constraints: Sequence[Constraint],
    room: int,
    last: int,
    word_continuations: frozenset[int],
    continuation_ids: np.ndarray,
    word_ends: frozenset[int],
) -> None:
    """Section 8.5: near the length limit, a row may not take a token after which its unmet constraints
    would no longer fit in the tokens left (a token that breaks a partial match, or a word continuation
    that undoes a term just met), as long as some token keeps them fitting."""
    undo = sum(shortest(constraints[c]) for c in state.just_met)
    fresh = state.fresh_need(constraints)
    if fresh + undo <= room:
        return

    def fits(v: int) -> bool:
        after = state.advance(v, constraints, v in word_continuations, last in word_ends)
        return bool(after.tokens_needed(constraints) <= room)

    keep = [v for v in state.next_tokens(constraints) if fits(v)]
    if fresh <= room:  # only the undo threatens: ban the word continuations that are not kept
        saved = log_probs[row, keep].copy()
        log_probs[row, continuation_ids] = NEG_INF
        log_probs[row, keep] = saved
    elif keep:
        saved = log_probs[row, keep].copy()
        log_probs[row, :] = NEG_INF
        log_probs[row, keep] = saved


def constrained_beam_search(
    model: StepModel,
    source_ids: list[int],
    cfg: SearchConfig,
    constraints: Sequence[Constraint],
    word_continuations: frozenset[int] = frozenset(),
    word_ends: frozenset[int] = frozenset(),
) -> Hypothesis:
    """Section 8. The result's ``extra`` holds ``met`` (per constraint, the alternative produced, or -1)
    and ``constraints_dropped`` (true when no hypothesis could meet them all: the unconstrained best)."""
    if not constraints:
        hyp = beam_search(model, source_ids, cfg)
        hyp.extra.update(met=[], constraints_dropped=False)
        return hyp
    k = cfg.beam_size
    banks = max_progress(constraints) + 1
    model.start(source_ids, rows=k)
    beam_scores = np.full((k,), NEG_INF, dtype=np.float32)
    beam_scores[0] = 0.0
    beam_tokens: list[list[int]] = [[] for _ in range(k)]
    states = [ConstraintState.start(len(constraints))] * k
    cont_ids = np.fromiter(sorted(word_continuations), dtype=np.int64, count=len(word_continuations))
    finished: list[tuple[Hypothesis, ConstraintState]] = []
    for t in range(cfg.max_new_tokens):
        last = [toks[-1] if toks else cfg.start_id for toks in beam_tokens]
        log_probs = mask_log_probs(model.step(last), t, cfg)
        room = cfg.max_new_tokens - t - 1 - int(cfg.forced_eos)  # tokens that may still follow this one
        for r in range(k):  # 8.2: only a hypothesis that met every constraint may end
            if not states[r].all_met:
                log_probs[r, cfg.eos_id] = NEG_INF
            _leave_room(
                log_probs, r, states[r], constraints, room, last[r], word_continuations, cont_ids, word_ends
            )
        scores = (beam_scores[:, None] + log_probs).astype(np.float32)
        vocab = scores.shape[1]
        pairs = {(r, v) for r, v, _ in top_candidates(scores, 2 * k)}
        for r in range(k):
            if not np.isfinite(beam_scores[r]):
                continue
            pairs.add((r, int(np.argmax(scores[r]))))
            pairs.update((r, v) for v in states[r].next_tokens(constraints))
        cands = []
        for r, v in pairs:
            if not np.isfinite(scores[r, v]):
                continue
            state = (
                states[r]
                if v == cfg.eos_id
                else states[r].advance(v, constraints, v in word_continuations, last[r] in word_ends)
            )
            cands.append(_Candidate(r, v, scores[r, v], r * vocab + v, state, state.progress(constraints)))
        chosen = _allocate(cands, k, banks)
        survivors = []
        for c in chosen:
            if c.token == cfg.eos_id:
                toks = beam_tokens[c.row] + [c.token]
                norm = length_normalize(float(c.score), len(toks), cfg.length_penalty)
                finished.append((Hypothesis(toks, float(c.score), norm, True), c.state))
            else:
                survivors.append(c)
        if len(survivors) < k:  # 8.3: EOS winners leave their slots to the next best continuations
            taken = {(c.row, c.token) for c in chosen}
            extra = [c for c in cands if c.token != cfg.eos_id and (c.row, c.token) not in taken]
            survivors.extend(_allocate(extra, k - len(survivors), banks) if extra else [])
        if len(finished) >= k or not survivors or t == cfg.max_new_tokens - 1:
            if t == cfg.max_new_tokens - 1 and len(finished) < k:
                for c in survivors:
                    if c.state.all_met and len(finished) < k:
                        toks = beam_tokens[c.row] + [c.token]
                        norm = length_normalize(float(c.score), len(toks), cfg.length_penalty)
                        finished.append((Hypothesis(toks, float(c.score), norm, False), c.state))
            break
        while len(survivors) < k:
            first = survivors[0]
            survivors.append(_Candidate(first.row, first.token, NEG_INF, first.flat, first.state, first.bank))
        model.reorder([c.row for c in survivors])
        beam_tokens = [beam_tokens[c.row] + [c.token] for c in survivors]
        beam_scores = np.asarray([c.score for c in survivors], dtype=np.float32)
        states = [c.state for c in survivors]
    if not finished:  # 8.4: no hypothesis met every constraint within the length limit
        hyp = beam_search(model, source_ids, cfg)
        hyp.extra.update(met=[-1] * len(constraints), constraints_dropped=True)
        return hyp
    best, best_state = finished[0]
    for hyp, state in finished[1:]:
        if hyp.normalized > best.normalized:
            best, best_state = hyp, state
    best.extra.update(met=[m - 1 for m in best_state.met], constraints_dropped=False)
    return best
