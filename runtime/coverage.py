"""Checks on what came out of each piece (docs/decoding.md, section 1.5): output suspiciously short for
its source, constrained output that kept the terms but lost the rest of the sentence, and target terms
the model can only spell with byte-fallback or unknown pieces.

The length rule counts subword tokens on both sides (the bundle's shared SentencePiece vocabulary), EOS
excluded. A translation's length in tokens is close to proportional to its source's, with a ratio near
1, because both sides are cut by one vocabulary trained on both (on Multi30k's human en-de and de-en
translations: median 1.06 and 1.00, 5th to 95th percentile 0.76-1.54 and 0.71-1.33). So an output with
fewer than half as many tokens as its source has lost content, not merely been concise,
unless the source is so short that one idiom swings the ratio (a thank-you of a few words is rightly
one German word): sources under six tokens are never flagged. A longer idiom can still be flagged now
and then; the flag is a warning and never changes the translation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

MIN_RATIO_NUMERATOR, MIN_RATIO_DENOMINATOR = 1, 2  # target tokens per source token below this: too short
MIN_SOURCE_TOKENS = 6  # shorter sources are never flagged

OK, BYTE_FALLBACK, UNKNOWN = "ok", "byte_fallback", "unknown"
_BYTE_PIECE = re.compile(r"<0x[0-9A-F]{2}>")
_RANK = {OK: 0, BYTE_FALLBACK: 1, UNKNOWN: 2}


def too_short(source_tokens: int, target_tokens: int) -> bool:
    """Fewer than half as many target tokens as source tokens, for a source of six tokens or more."""
    return (
        source_tokens >= MIN_SOURCE_TOKENS
        and target_tokens * MIN_RATIO_DENOMINATOR < source_tokens * MIN_RATIO_NUMERATOR
    )


def piece_spelling(pieces: Sequence[str], vocab: Mapping[str, int], unk_id: int) -> str:
    """``unknown`` if a piece is missing from the vocabulary (or is its unknown piece), else
    ``byte_fallback`` if a piece is a byte (``<0x41>``), else ``ok``."""
    if not pieces or any(vocab.get(p, unk_id) == unk_id for p in pieces):
        return UNKNOWN
    if any(_BYTE_PIECE.fullmatch(p) for p in pieces):
        return BYTE_FALLBACK
    return OK


def worst(spellings: Sequence[str]) -> str:
    """The worst of several spellings (``unknown`` > ``byte_fallback`` > ``ok``); none at all is ``unknown``."""
    return max(spellings, key=_RANK.__getitem__) if spellings else UNKNOWN
