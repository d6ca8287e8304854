"""Constraint bookkeeping for lexically constrained beam search (docs/decoding.md, section 8).

A constraint is a set of alternatives (token sequences); producing any one of
them, contiguously, meets it. A hypothesis carries a ``ConstraintState``:
which constraints are met and which alternatives are partly produced. States
are immutable, so a beam step copies nothing it does not change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Constraint:
    alternatives: tuple[tuple[int, ...], ...]  # each non-empty; any one satisfies the constraint
    label: str = ""  # the target term, for reporting
    # per alternative: may the search start it on its own (section 8.2)? The others count only when the
    # model starts them itself (a term glued to a preceding quote, say), never forced after a word.
    proposed: tuple[bool, ...] = ()

    def __post_init__(self) -> None:
        if not self.alternatives or any(not alt for alt in self.alternatives):
            raise ValueError("a constraint needs at least one non-empty alternative")
        if self.proposed and len(self.proposed) != len(self.alternatives):
            raise ValueError("proposed must have one flag per alternative")

    def may_propose(self, alternative: int) -> bool:
        return not self.proposed or self.proposed[alternative]


@dataclass(frozen=True)
class ConstraintState:
    met: tuple[int, ...]  # per constraint: 0 = unmet, else 1 + index of the alternative that met it
    partial: frozenset[tuple[int, int, int]]  # (constraint, alternative, tokens matched so far)
    just_met: frozenset[int] = frozenset()  # met by the last token: undone if the next token extends the word

    @classmethod
    def start(cls, count: int) -> ConstraintState:
        return cls((0,) * count, frozenset())

    @property
    def all_met(self) -> bool:
        return all(self.met)

    def progress(self, constraints: Sequence[Constraint]) -> int:
        """Section 8.2: constraint tokens produced: met alternatives' lengths plus the longest
        partial match of each unmet constraint. The bank of the hypothesis."""
        total = 0
        best_partial: dict[int, int] = {}
        for c, _alt, k in self.partial:
            best_partial[c] = max(best_partial.get(c, 0), k)
        for c, m in enumerate(self.met):
            total += len(constraints[c].alternatives[m - 1]) if m else best_partial.get(c, 0)
        return total

    def advance(
        self,
        token: int,
        constraints: Sequence[Constraint],
        continues_word: bool = False,
        after_word: bool = False,
    ) -> ConstraintState:
        """Section 8.1: the state after appending ``token`` (``continues_word``: the token has no word-start
        marker and begins with a letter or digit, so it would extend a term just produced into a longer word;
        ``after_word``: the previous token ends with a letter or digit, so a glued alternative starting here
        would be the tail of a longer word and may not start)."""
        met = list(self.met)
        if continues_word:
            for c in self.just_met:
                met[c] = 0
        partial: set[tuple[int, int, int]] = set()
        # old partial triples in (constraint, alternative, matched) order, never a set's hash order: which
        # alternative of a constraint is recorded when two complete together depends on it (section 8.1)
        candidates = sorted(self.partial) + [
            (c, a, 0)
            for c, con in enumerate(constraints)
            if not met[c]
            for a in range(len(con.alternatives))
            if not (after_word and not con.may_propose(a))
        ]
        completed: set[int] = set()
        for c, a, k in candidates:
            if met[c] or c in completed:
                continue
            alt = constraints[c].alternatives[a]
            if alt[k] != token:
                continue
            if k + 1 == len(alt):
                met[c] = a + 1
                completed.add(c)
            else:
                partial.add((c, a, k + 1))
        return ConstraintState(
            tuple(met), frozenset(p for p in partial if not met[p[0]]), frozenset(completed)
        )

    def tokens_needed(self, constraints: Sequence[Constraint]) -> int:
        """Section 8.5: tokens that meet every unmet constraint from here: each one's shortest proposable
        alternative, less what the most advanced partial match saves (only one partial match can be
        continued; the next token breaks the others)."""
        saving = 0
        for c, a, k in self.partial:
            saving = max(saving, shortest(constraints[c]) - (len(constraints[c].alternatives[a]) - k))
        return self.fresh_need(constraints) - saving

    def fresh_need(self, constraints: Sequence[Constraint]) -> int:
        """Section 8.5: ``tokens_needed`` once every partial match is lost (after a token outside them)."""
        return sum(shortest(constraints[c]) for c, m in enumerate(self.met) if not m)

    def next_tokens(self, constraints: Sequence[Constraint]) -> list[int]:
        """Section 8.2: tokens that continue a partial match or start an unmet constraint, sorted."""
        out = {constraints[c].alternatives[a][k] for c, a, k in self.partial}
        for c, con in enumerate(constraints):
            if not self.met[c]:
                out.update(alt[0] for a, alt in enumerate(con.alternatives) if con.may_propose(a))
        return sorted(out)


def shortest(con: Constraint) -> int:
    return min(len(alt) for a, alt in enumerate(con.alternatives) if a == 0 or con.may_propose(a))


def max_progress(constraints: Sequence[Constraint]) -> int:
    return sum(max(len(alt) for alt in con.alternatives) for con in constraints)
