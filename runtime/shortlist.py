"""The vocabulary shortlist (``docs/decoding.md``, section 12): per sentence, the target tokens the
output may use, and the step model that restricts every step to them.

``shortlist.safetensors`` holds three integer tensors: ``frequent [M]`` (always allowed), ``offsets
[V + 1]`` and ``targets`` (token ``s``'s list is ``targets[offsets[s]:offsets[s + 1]]``). A
sentence's candidates are the union of the frequent set, the lists of its source tokens, its source
tokens themselves (a name or number is often copied), EOS and whatever the search must be able to
produce (a glossary's target tokens), in ascending id order.

``ShortlistedModel`` wraps any step model. Its step scores only the candidates (a backend that can
compute the output projection over a subset does so: ``step_restricted``; any other one computes all
and the rest is dropped) and renormalizes them with a log-softmax over the sentence's own candidates,
the rest of the vocabulary at ``-inf``. Several sentences in one batch share one projection over the
union of their candidates, each row normalized over its own sentence's, so a batch gives what one
sentence at a time gives.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from pocketmt.runtime.errors import BundleError
from pocketmt.runtime.step import F32, I64, StepModel, decodes_batches

SHORTLIST_FILE = "shortlist.safetensors"
# what ``pocketmt export --shortlist-src`` keeps by default: the frequent set, and targets per source token
DEFAULT_FREQUENT = 256
DEFAULT_PER_TOKEN = 48
_KEYS = {"frequent", "offsets", "targets"}
NEG_INF = np.float32(-np.inf)


class Shortlist:
    def __init__(self, frequent: np.ndarray, offsets: np.ndarray, targets: np.ndarray, vocab: int) -> None:
        self.frequent = frequent.astype(np.int64)
        self.offsets = offsets.astype(np.int64)
        self.targets = targets.astype(np.int64)
        self.vocab = vocab

    def candidates(self, source_ids: Iterable[int], always: Iterable[int] = ()) -> I64:
        """The sentence's allowed target ids, ascending."""
        src = np.unique(np.asarray([i for i in source_ids if 0 <= i < self.vocab], np.int64))
        lists = [self.targets[self.offsets[s] : self.offsets[s + 1]] for s in src]
        extra = np.asarray(list(always), np.int64)
        found: I64 = np.unique(np.concatenate([self.frequent, src, extra, *lists]))
        return found


def write_shortlist(path: Path, frequent: np.ndarray, offsets: np.ndarray, targets: np.ndarray) -> None:
    """Write the file: ids as uint16 when the vocabulary fits (int32 otherwise), offsets as int32."""
    from safetensors.numpy import save_file

    vocab = len(offsets) - 1
    ids = np.uint16 if vocab <= 1 << 16 else np.int32
    save_file(
        {
            "frequent": np.ascontiguousarray(frequent, dtype=ids),
            "offsets": np.ascontiguousarray(offsets, dtype=np.int32),
            "targets": np.ascontiguousarray(targets, dtype=ids),
        },
        str(path),
    )


def load_shortlist(path: Path, vocab: int) -> Shortlist:
    """Read and check the file; anything malformed is one ``BundleError``."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        tensors: dict[str, Any] = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise BundleError(f"{path}: not a readable shortlist ({exc})") from exc
    if set(tensors) != _KEYS:
        raise BundleError(f"{path}: a shortlist holds exactly {sorted(_KEYS)}, not {sorted(tensors)}")
    frequent, offsets, targets = (tensors[k] for k in ("frequent", "offsets", "targets"))
    for name, a in (("frequent", frequent), ("offsets", offsets), ("targets", targets)):
        if a.ndim != 1 or a.dtype.kind not in "iu":
            raise BundleError(f"{path}: {name} must be a 1-d integer tensor")
    off = offsets.astype(np.int64)
    if len(off) != vocab + 1 or off[0] != 0 or off[-1] != len(targets) or (np.diff(off) < 0).any():
        raise BundleError(
            f"{path}: offsets must run from 0 to {len(targets)} without decreasing over {vocab + 1} entries"
        )
    for name, a in (("frequent", frequent), ("targets", targets)):
        if len(a) and (int(a.min()) < 0 or int(a.max()) >= vocab):
            raise BundleError(f"{path}: {name} holds ids outside the vocabulary of {vocab}")
    return Shortlist(frequent, offsets, targets, vocab)


def restricted_scores(model: StepModel, tokens: list[int], ids: I64) -> F32:
    """``[R, len(ids)]`` scores of ``ids``, equal up to a constant per row to the log-probs: over the
    subset where the model computes one (``step_restricted``), else the full step's columns."""
    restricted = getattr(model, "step_restricted", None)
    if restricted is not None:
        out: F32 = restricted(tokens, ids)
        return out
    full = model.step(tokens)
    return np.asarray(full[:, ids], dtype=np.float32)


class ShortlistedModel:
    """``model`` with every step restricted to the sentences' candidates (see the module docstring)."""

    def __init__(self, model: StepModel, shortlist: Shortlist, eos_id: int) -> None:
        self.inner = model
        self.shortlist = shortlist
        self._always = (eos_id,)
        self._required: tuple[int, ...] = ()
        self._sets: list[I64] = []
        self._union: I64 = np.zeros(0, np.int64)
        self._member = np.zeros((0, 0), bool)

    def __getattr__(self, name: str) -> Any:  # timings and the like: the wrapped model's
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def require(self, ids: Iterable[int]) -> None:
        """Ids that the searches begun by ``start`` from now on must be able to produce (a glossary's
        target tokens), until the next call. Batches (``start_batch``) hold no terms and ignore them."""
        self._required = tuple(int(i) for i in ids)

    def _begin(self, sources: list[list[int]], required: tuple[int, ...] = ()) -> None:
        always = (*self._always, *required)
        self._sets = [self.shortlist.candidates(s, always) for s in sources]
        self._rebuild()

    def _rebuild(self) -> None:
        self._union = np.unique(np.concatenate(self._sets))
        self._member = np.stack([np.isin(self._union, s, assume_unique=True) for s in self._sets])

    def start(self, source_ids: list[int], rows: int) -> None:
        self.inner.start(source_ids, rows)
        self._begin([source_ids], self._required)

    def step(self, tokens: list[int]) -> F32:
        scores = restricted_scores(self.inner, tokens, self._union)
        rows = len(tokens)
        if len(self._sets) == 1:  # the union is the sentence's own candidates: nothing to mask
            sub = scores
        else:
            member = np.repeat(self._member, rows // len(self._sets), axis=0)
            sub = np.where(member, scores, NEG_INF)
        top = sub.max(axis=1, keepdims=True)
        lse = top + np.log(np.exp(sub - top).sum(axis=1, keepdims=True, dtype=np.float32))
        out = np.full((rows, self.shortlist.vocab), NEG_INF, np.float32)
        out[:, self._union] = sub - lse
        return out

    def candidate_ids(self, position: int) -> I64:
        """The ascending ids that the rows of the batch's ``position``-th sentence can score (every
        other id is ``-inf`` in its steps): the search looks at these columns only."""
        return self._sets[position]

    def reorder(self, parents: list[int]) -> None:
        self.inner.reorder(parents)


class ShortlistedBatchModel(ShortlistedModel):
    """``ShortlistedModel`` over a model that decodes several sentences at once."""

    def start_batch(self, sources: list[list[int]], rows: int, pad_id: int) -> None:
        self.inner.start_batch(sources, rows, pad_id)
        self._begin(sources)

    def select_sentences(self, sentences: list[int]) -> None:
        """The sentences that stay: their rows of the membership table, over the columns one of them
        still uses (the union of their candidates, as ``_rebuild`` makes it, without rebuilding it)."""
        self.inner.select_sentences(sentences)
        self._sets = [self._sets[j] for j in sentences]
        member = self._member[np.asarray(sentences, dtype=np.int64)]
        used = member.any(axis=0)
        self._union = self._union[used]
        self._member = member[:, used]


def with_shortlist(model: StepModel, shortlist: Shortlist | None, eos_id: int) -> StepModel:
    """``model`` restricted to ``shortlist`` (itself when there is none)."""
    if shortlist is None:
        return model
    if decodes_batches(model):
        return ShortlistedBatchModel(model, shortlist, eos_id)
    return ShortlistedModel(model, shortlist, eos_id)
