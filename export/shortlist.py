"""Build a bundle's vocabulary shortlist from parallel training text (``docs/decoding.md``, section 12).

A lexical shortlist in the manner of Bergamot's and CTranslate2's ``vmap``: for each source token,
the target tokens that most often appear in the translations of sentences containing it, and a set of
target tokens frequent enough to be always allowed. At translation time the output projection is
computed over the union for the sentence only (``runtime/shortlist.py``).

Statistics are sentence-level co-occurrence counts on the bundle's own tokenizer: ``c(s)``, the
sentence pairs whose source holds token ``s``, and ``c(s, t)``, those whose target also holds ``t``.
Token ``s`` keeps the ``per_token`` targets of highest ``p(t | s) = c(s, t) / c(s)`` outside the
frequent set (ties: the more frequent pair, then the lower id). The frequent set is the ``frequent``
target tokens found in the most target sentences. No aligner is needed, the counts are exact and the
result is deterministic for the same text.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pocketmt.io.corpus import read_parallel
from pocketmt.runtime.shortlist import DEFAULT_FREQUENT, DEFAULT_PER_TOKEN, SHORTLIST_FILE, write_shortlist
from pocketmt.runtime.tokenizer import MarianTokenizer

CHUNK = 4096  # sentence pairs counted at a time: bounds memory on any corpus size


@dataclass(frozen=True)
class ShortlistConfig:
    src: str
    tgt: str
    frequent: int = DEFAULT_FREQUENT
    per_token: int = DEFAULT_PER_TOKEN


def _pair_counts(
    pairs: Iterable[tuple[list[int], list[int]]], vocab: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """``c(s)``, ``c(t)``, the nonzero ``c(s, t)`` as (keys ``s * vocab + t``, counts), sorted, and
    the number of pairs."""
    c_src = np.zeros(vocab, np.int64)
    c_tgt = np.zeros(vocab, np.int64)
    keys: list[np.ndarray] = []
    counts: list[np.ndarray] = []
    chunk: list[np.ndarray] = []

    def flush() -> None:
        if chunk:
            k, n = np.unique(np.concatenate(chunk), return_counts=True)
            keys.append(k)
            counts.append(n)
            chunk.clear()

    n = 0
    for n, (src, tgt) in enumerate(pairs, 1):
        s = np.unique(np.asarray(src, np.int64))
        t = np.unique(np.asarray(tgt, np.int64))
        c_src[s] += 1
        c_tgt[t] += 1
        chunk.append((s[:, None] * vocab + t[None, :]).reshape(-1))
        if n % CHUNK == 0:
            flush()
    flush()
    if not keys:
        return c_src, c_tgt, np.zeros(0, np.int64), np.zeros(0, np.int64), n
    all_keys = np.concatenate(keys)
    all_counts = np.concatenate(counts)
    order = np.argsort(all_keys, kind="stable")
    all_keys, all_counts = all_keys[order], all_counts[order]
    starts = np.flatnonzero(np.r_[True, all_keys[1:] != all_keys[:-1]])
    return c_src, c_tgt, all_keys[starts], np.add.reduceat(all_counts, starts), n


def build_shortlist(
    pairs: Iterable[tuple[list[int], list[int]]],
    vocab: int,
    frequent: int = DEFAULT_FREQUENT,
    per_token: int = DEFAULT_PER_TOKEN,
    never: Iterable[int] = (),
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(frequent ids, offsets ``[vocab + 1]``, targets, sentence pairs) from tokenized pairs; ``never``:
    ids no list holds (padding; the runtime adds EOS itself)."""
    if frequent < 0 or per_token < 0:
        raise ValueError("shortlist sizes must be 0 or more")
    c_src, c_tgt, keys, counts, counted = _pair_counts(pairs, vocab)
    banned = np.zeros(vocab, bool)
    banned[list(never)] = True
    by_freq = np.lexsort((np.arange(vocab), -c_tgt))
    by_freq = by_freq[(c_tgt[by_freq] > 0) & ~banned[by_freq]]
    top = np.sort(by_freq[:frequent]).astype(np.int64)
    skip = banned.copy()
    skip[top] = True
    s_of, t_of = keys // vocab, keys % vocab
    keep = ~skip[t_of]
    s_of, t_of, counts = s_of[keep], t_of[keep], counts[keep]
    prob = counts / np.maximum(c_src[s_of], 1)
    # per source token: highest p(t|s), then the larger count, then the lower id
    order = np.lexsort((t_of, -counts, -prob, s_of))
    s_of, t_of = s_of[order], t_of[order]
    rank = np.arange(len(s_of)) - np.searchsorted(s_of, s_of, side="left")
    chosen = rank < per_token
    s_of, t_of = s_of[chosen], t_of[chosen]
    offsets = np.zeros(vocab + 1, np.int64)
    np.add.at(offsets, s_of + 1, 1)
    offsets = np.cumsum(offsets)
    targets = t_of[np.lexsort((t_of, s_of))]  # each token's list in ascending id order
    return top, offsets, targets, counted


def write_bundle_shortlist(
    folder: Path, config: ShortlistConfig, tokenizer: MarianTokenizer, vocab: int, never: Iterable[int]
) -> dict[str, object]:
    """Tokenize the corpus, build the lists, write ``shortlist.safetensors``; the manifest's entry."""
    sources, targets = read_parallel(config.src, config.tgt)
    pairs = (
        (tokenizer.encode(s, add_eos=False), tokenizer.encode_target(t))
        for s, t in zip(sources, targets, strict=True)
        if s.strip() and t.strip()
    )
    top, offsets, lists, sentences = build_shortlist(pairs, vocab, config.frequent, config.per_token, never)
    if not sentences:
        raise ValueError(f"{config.src}: no sentence pairs to build a shortlist from")
    write_shortlist(folder / SHORTLIST_FILE, top, offsets, lists)
    return {
        "file": SHORTLIST_FILE,
        "frequent": int(len(top)),
        "per_token": config.per_token,
        "sentences": sentences,
        "entries": int(len(lists)),
    }
