"""Glossary terms -> search constraints (docs/decoding.md, section 9.2).

A target form's subword spelling depends on its context: after a space its
first piece carries the word-start marker (``▁Haus``), glued to what precedes
(after a quote or a hyphen) it does not (``Haus``). Both spellings, for the
form as written and with its first letter upper-cased (sentence start), are
alternatives of one constraint.
"""

from __future__ import annotations

from dataclasses import dataclass

from pocketmt.runtime.constraints import Constraint
from pocketmt.runtime.glossary import Term
from pocketmt.runtime.tokenizer import MarianTokenizer

_WORD_START = "\u2581"


@dataclass(frozen=True)
class TermConstraint:
    term: Term
    constraint: Constraint
    forms: tuple[str, ...]  # the target form each alternative spells, index-aligned with the alternatives


def _variants(form: str) -> list[str]:
    return list(dict.fromkeys([form, form[:1].upper() + form[1:]]))


def term_constraint(term: Term, tok: MarianTokenizer) -> tuple[TermConstraint | None, str | None]:
    """The constraint for ``term``, or ``None`` and a warning naming what cannot be spelled."""
    vocab = tok.piece_to_id
    alts: dict[tuple[int, ...], str] = {}
    glued: set[tuple[int, ...]] = set()
    unspellable = []
    for form in term.targets:
        if not form.strip():
            continue
        for variant in _variants(form.strip()):
            pieces = tok.target_pieces(variant)
            if not pieces or any(p not in vocab for p in pieces):
                unspellable.append(variant)
                continue
            ids = tuple(vocab[p] for p in pieces)
            alts.setdefault(ids, form)
            first = pieces[0]
            bare = ids[1:] if first == _WORD_START else None
            if first.startswith(_WORD_START) and first[1:] in vocab:
                bare = (vocab[first[1:]],) + ids[1:]
            if bare and bare not in alts:
                alts[bare] = form
                glued.add(bare)
    if not alts:
        what = ", ".join(repr(f) for f in term.targets) or "(empty)"
        reason = "characters the vocabulary lacks" if unspellable else "no target form"
        return None, f"target term {what} for {term.source!r} cannot be tokenized ({reason}); skipped"
    proposed = tuple(alt not in glued for alt in alts)
    return TermConstraint(term, Constraint(tuple(alts), term.source, proposed), tuple(alts.values())), None
