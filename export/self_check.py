"""Validate: the exported graphs must agree with the eager model before a bundle is written.

Tolerance (fp32): every log-probability and every cross-attention key/value
within ``ATOL + RTOL * |eager|`` (1e-3 each), and greedy and beam tokens
identical to eager on the reference samples.
"""

from __future__ import annotations

import numpy as np

from pocketmt.runtime.step import StepGraphs

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
            got = exported.decode_step(tokens, pos, self_k, self_v, rk, rv, mask)
            ref = eager.decode_step(tokens, pos, self_k, self_v, rk, rv, mask)
            for name, g, r in zip(("log_probs", "new_k", "new_v"), got, ref, strict=True):
                w, ok = _worst(g, r)
                if name == "log_probs":
                    worst_lp = max(worst_lp, w)
                if not ok:
                    problems.append(
                        f"{backend}: decode_step {name} at position {position} differs by {w:.2e}"
                    )
    return worst_lp, worst_cross, problems
