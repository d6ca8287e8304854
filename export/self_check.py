"""Validate: the exported graphs must agree with the eager model before a bundle is written.

Tolerance (fp32): every log-probability and every cross-attention key/value
within ``ATOL + RTOL * |eager|`` (1e-3 each), and greedy and beam tokens
identical to eager on the reference samples.
"""

from __future__ import annotations

import numpy as np

from pocketmt.runtime.step import F32, I64, GrowingStepGraphs, StepGraphs

ATOL = 1e-3
RTOL = 1e-3


def _worst(a: np.ndarray, b: np.ndarray) -> tuple[float, bool]:
    diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
    ok = bool(np.all(diff <= ATOL + RTOL * np.abs(b)))
    return float(diff.max()) if diff.size else 0.0, ok


def compare_graphs(
    backend: str,
    exported: StepGraphs,
    eager: StepGraphs,
    samples: list[list[int]],
    max_target_len: int,
    layers: int,
    heads: int,
    head_dim: int,
    rows: int,
) -> tuple[float, float, list[str]]:
    """Run encode and a few decode steps (random cache contents, several rows) on both."""
    rng = np.random.default_rng(0)
    worst_lp = 0.0
    worst_cross = 0.0
    problems: list[str] = []
    for ids in samples:
        src = np.asarray([ids] * rows, dtype=np.int64)
        mask = np.ones_like(src)
        if rows > 1 and src.shape[1] > 2:
            mask[-1, -1] = 0  # one padded row exercises the source mask
        ek, ev = exported.encode(src, mask)
        rk, rv = eager.encode(src, mask)
        for got, ref in ((ek, rk), (ev, rv)):
            w, ok = _worst(got, ref)
            worst_cross = max(worst_cross, w)
            if not ok:
                problems.append(f"{backend}: encoder output differs from eager by {w:.2e}")
        shape = (layers, rows, heads, max_target_len, head_dim)
        self_k = rng.standard_normal(shape).astype(np.float32)
        self_v = rng.standard_normal(shape).astype(np.float32)
        for position in (0, 1, max_target_len - 1):
            tokens = rng.integers(0, 8, size=(rows, 1)).astype(np.int64)
            pos = np.asarray([position], dtype=np.int64)
            ref = eager.decode_step(tokens, pos, self_k, self_v, rk, rv, mask)
            if getattr(exported, "step_contract", 1) == 2:
                got = _grow(exported, tokens, pos, self_k, self_v, rk, rv, mask)
            else:
                got = exported.decode_step(tokens, pos, self_k, self_v, rk, rv, mask)
            for name, g, r in zip(("log_probs", "new_k", "new_v"), got, ref, strict=True):
                w, ok = _worst(g, r)
                if name == "log_probs":
                    worst_lp = max(worst_lp, w)
                if not ok:
                    problems.append(
                        f"{backend}: decode_step {name} at position {position} differs by {w:.2e}"
                    )
    return worst_lp, worst_cross, problems


def _grow(
    graphs: GrowingStepGraphs,
    tokens: I64,
    position: I64,
    self_k: F32,
    self_v: F32,
    cross_k: F32,
    cross_v: F32,
    mask: I64,
) -> tuple[F32, F32, F32]:
    """A contract-2 step on the same inputs as contract 1's ``decode_step``, its outputs in contract
    1's terms: the filled positions come in with the rows reversed and ``parents`` undoing it, each row
    is its own sentence, and the new position is cut from ``present``."""
    p = int(position[0])
    rows = tokens.shape[0]
    flipped = np.arange(rows - 1, -1, -1, dtype=np.int64)
    past_k = np.ascontiguousarray(self_k[:, flipped, :, :p])
    past_v = np.ascontiguousarray(self_v[:, flipped, :, :p])
    lp, pk, pv = graphs.decode_grow(tokens, position, past_k, past_v, flipped, cross_k, cross_v, mask)
    if pk.shape[3] != p + 1 or not np.array_equal(pk[:, :, :, :p], self_k[:, :, :, :p]):
        return lp, np.full_like(pk[:, :, :, -1:], np.nan), pv[:, :, :, -1:]
    return lp, pk[:, :, :, p : p + 1], pv[:, :, :, p : p + 1]
