"""Expected results of the Python search on seeded random log-prob tables, for the Java replay test.

Run from the repository root (the venv active):
    python android-demo/engine/tools/search_cases.py
It writes android-demo/engine/src/test/resources/org/pocketmt/engine/search/search_cases.json. Each case
holds every row the Python search asked its table for (a prefix of generated tokens -> V float32 log-probs,
as the bits of each float in hex), so Java replays the same model without reproducing numpy's generator:
a Java search that asks for a prefix Python never asked for has already diverged. Cases whose result
depends on the visiting order of partial triples (section 8.1: sorted) are marked ``order_sensitive``.
The last ``BROKEN`` cases draw tables with NaN, +inf and all--inf rows (section 2, item 3): their expected
result is the error the Python search stops with, or its result when the masks hide the damage.
"""

from __future__ import annotations

import json
import random
import struct
import sys
from pathlib import Path

import numpy as np

from pocketmt.runtime.beam_search import SearchConfig, beam_search, score_tokens
from pocketmt.runtime.constrained_search import constrained_beam_search
from pocketmt.runtime.constraints import Constraint, ConstraintState
from pocketmt.runtime.errors import BundleError

OUT = Path("android-demo/engine/src/test/resources/org/pocketmt/engine/search/search_cases.json")
CASES = 400
BROKEN = 80  # cases CASES .. CASES + BROKEN - 1: tables with non-finite rows


def f32_hex(x: float) -> str:
    return struct.pack(">f", np.float32(x)).hex()


class RecordingTable:
    """A step model whose rows are random per prefix (fixed once drawn) and recorded for the replay."""

    def __init__(self, rng: random.Random, vocab: int, style: str) -> None:
        self.rng, self.vocab, self.style = rng, vocab, style
        self.rows: dict[tuple[int, ...], np.ndarray] = {}
        self.prefixes: list[tuple[int, ...]] = []
        self.fresh = True

    def row(self, prefix: tuple[int, ...]) -> np.ndarray:
        if prefix not in self.rows:
            x = np.asarray([self.rng.gauss(0, 2) for _ in range(self.vocab)], dtype=np.float64)
            if self.style == "coarse":  # few distinct values: many exact ties in scores
                x = np.round(x)
            out = (x - x.max() - np.log(np.exp(x - x.max()).sum())).astype(np.float32)
            if self.style == "coarse":
                out = np.round(out * 2).astype(np.float32) / np.float32(2)
            if self.style == "broken" and self.rng.random() < 0.3:
                damage = self.rng.choice(["nan", "inf", "dead", "nan_last"])
                if damage == "dead":  # nothing finite (a banned id may still be, which the mask removes)
                    out[:] = -np.inf
                    if self.rng.random() < 0.5:
                        out[self.vocab - 1] = 0.0
                elif damage == "nan_last":  # NaN everywhere but EOS: harmless at the forced-EOS step
                    out[1:] = np.nan
                else:  # one id, which may be the banned one (masked: no error)
                    out[self.rng.randrange(self.vocab)] = np.nan if damage == "nan" else np.inf
            self.rows[prefix] = out
        return self.rows[prefix]

    def start(self, source_ids: list[int], rows: int) -> None:
        self.prefixes = [()] * rows
        self.fresh = True

    def step(self, tokens: list[int]) -> np.ndarray:
        if not self.fresh:
            self.prefixes = [p + (t,) for p, t in zip(self.prefixes, tokens, strict=True)]
        self.fresh = False
        return np.stack([self.row(p) for p in self.prefixes])

    def reorder(self, parents: list[int]) -> None:
        self.prefixes = [self.prefixes[r] for r in parents]


def random_constraints(rng: random.Random, vocab: int, eos: int, pad: int) -> list[Constraint]:
    ids = [i for i in range(vocab) if i not in (eos, pad)]
    out = []
    for _ in range(rng.randint(1, 3)):
        alts: list[tuple[int, ...]] = []
        for _ in range(rng.randint(1, 3)):
            if alts and rng.random() < 0.3:  # a proper suffix of another alternative: order-sensitive
                longer = max(alts, key=len)
                alt = longer[1:] if len(longer) > 1 else (rng.choice(ids),) + longer
            else:
                alt = tuple(rng.choice(ids) for _ in range(rng.randint(1, 3)))
            if alt and alt not in alts:
                alts.append(alt)
        proposed = tuple(a == 0 or rng.random() < 0.7 for a in range(len(alts)))
        out.append(Constraint(tuple(alts), f"c{len(out)}", proposed if rng.random() < 0.5 else ()))
    return out


def reversed_advance(self, token, constraints, continues_word=False, after_word=False):
    """ConstraintState.advance visiting the old partial triples in the reverse of their sorted order."""
    met = list(self.met)
    if continues_word:
        for c in self.just_met:
            met[c] = 0
    partial = set()
    candidates = sorted(self.partial, reverse=True) + [
        (c, a, 0)
        for c, con in enumerate(constraints)
        if not met[c]
        for a in range(len(con.alternatives))
        if not (after_word and not con.may_propose(a))
    ]
    completed = set()
    for c, a, k in candidates:
        if met[c] or c in completed or constraints[c].alternatives[a][k] != token:
            continue
        if k + 1 == len(constraints[c].alternatives[a]):
            met[c] = a + 1
            completed.add(c)
        else:
            partial.add((c, a, k + 1))
    return ConstraintState(tuple(met), frozenset(p for p in partial if not met[p[0]]), frozenset(completed))


def order_sensitive(model, cfg, cons, continuations, ends, expected) -> bool:
    """Would visiting the partial triples in another order change this case's result?"""
    original = ConstraintState.advance
    ConstraintState.advance = reversed_advance
    try:
        other = run_search(
            lambda: constrained_beam_search(
                model, [1, 0], cfg, cons, frozenset(continuations), frozenset(ends)
            )
        )
    finally:
        ConstraintState.advance = original
    return other != expected


def hyp_json(hyp) -> dict:
    return {
        "tokens": hyp.tokens,
        "score": f32_hex(hyp.score),
        "normalized": f32_hex(hyp.normalized),
        "finished": hyp.finished,
        "met": hyp.extra.get("met"),
        "dropped": hyp.extra.get("constraints_dropped"),
    }


def run_search(search) -> dict:
    """The search's result as JSON, or the error it stopped with (section 2, item 3)."""
    try:
        return hyp_json(search())
    except BundleError as exc:
        return {"error": str(exc)}


def one_case(index: int) -> dict:
    rng = random.Random(index)
    vocab = rng.randint(4, 9)
    eos, pad = 0, vocab - 1
    kind = ["beam", "beam", "constrained", "constrained", "constrained", "score"][index % 6]
    k = rng.randint(1, 4)
    cfg = SearchConfig(
        beam_size=k,
        max_new_tokens=rng.randint(1, 9),
        eos_id=eos,
        start_id=pad,
        banned_ids=(pad,) if rng.random() < 0.8 else (),
        length_penalty=rng.choice([0.0, 1.0, 1.0, 0.6, 1.3]),
        forced_eos=rng.random() < 0.6,
    )
    style = rng.choice(["fine", "coarse"])
    model = RecordingTable(rng, vocab, "broken" if index >= CASES else style)
    case: dict = {
        "kind": kind,
        "vocab": vocab,
        "config": {
            "beam": k,
            "max_new": cfg.max_new_tokens,
            "eos": eos,
            "start": pad,
            "banned": list(cfg.banned_ids),
            "alpha": cfg.length_penalty,
            "forced_eos": cfg.forced_eos,
        },
    }
    if kind == "beam":
        expected = run_search(lambda: beam_search(model, [1, eos], cfg))
    elif kind == "score":
        tokens = [rng.randrange(vocab) for _ in range(rng.randint(0, cfg.max_new_tokens))]
        case["score_tokens"] = tokens
        expected = run_search(lambda: score_tokens(model, [1, eos], tokens, cfg))
    else:
        cons = random_constraints(rng, vocab, eos, pad)
        continuations = sorted(i for i in range(vocab) if i not in (eos, pad) and rng.random() < 0.3)
        ends = sorted(i for i in range(vocab) if i not in (eos, pad) and rng.random() < 0.5)
        case["constraints"] = [
            {"alternatives": [list(a) for a in c.alternatives], "proposed": list(c.proposed)} for c in cons
        ]
        case["continuations"], case["word_ends"] = continuations, ends
        expected = run_search(
            lambda: constrained_beam_search(
                model, [1, eos], cfg, cons, frozenset(continuations), frozenset(ends)
            )
        )
        case["order_sensitive"] = order_sensitive(model, cfg, cons, continuations, ends, expected)
    case["expected"] = expected
    case["table"] = {
        ",".join(map(str, p)): "".join(f32_hex(x) for x in row) for p, row in sorted(model.rows.items())
    }
    return case


def main() -> None:
    assert ConstraintState.start(1).met == (0,)
    cases = [one_case(i) for i in range(CASES + BROKEN)]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    data = {"python": sys.version.split()[0], "cases": cases}
    OUT.write_text(json.dumps(data, separators=(",", ":")) + "\n")
    kinds = {k: sum(c["kind"] == k for c in cases) for k in ("beam", "score", "constrained")}
    dropped = sum(bool(c["expected"].get("dropped")) for c in cases)
    errors = sum("error" in c["expected"] for c in cases)
    sensitive = sum(bool(c.get("order_sensitive")) for c in cases)
    print(
        f"wrote {OUT}: {len(cases)} cases {kinds}, {dropped} with constraints dropped, {sensitive} order-sensitive,"
        f" {errors} stopped by a broken model"
    )


if __name__ == "__main__":
    main()
