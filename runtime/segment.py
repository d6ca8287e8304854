"""Fitting long inputs into the bundle's max source length without losing text.

Rule (also in docs/decoding.md, section 1): if a text's ids (with EOS) exceed
the limit, split it after sentence-final punctuation followed by space and
pack consecutive sentences greedily into pieces that fit. A single sentence
that still does not fit is cut into consecutive token chunks that do, with a
warning. Every piece is translated; outputs are joined with one space.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

_SENTENCE_END = re.compile(r"(?<=[.!?\u2026\u3002\uff01\uff1f])\s+")


@dataclass
class Segments:
    pieces: list[list[int]]  # source ids per piece, each ending in EOS
    warnings: list[str] = field(default_factory=list)
    texts: list[str | None] = field(default_factory=list)  # each piece's text; None for a cut chunk


def split_sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(text) if s]


def segment(text: str, encode: Callable[[str], list[int]], max_len: int, eos_id: int) -> Segments:
    ids = encode(text)
    if len(ids) <= max_len:
        return Segments([ids], texts=[text])
    out = Segments([])
    current = ""
    for sentence in split_sentences(text):
        candidate = f"{current} {sentence}" if current else sentence
        if len(encode(candidate)) <= max_len:
            current = candidate
            continue
        if current:
            out.pieces.append(encode(current))
            out.texts.append(current)
        current = ""
        sentence_ids = encode(sentence)
        if len(sentence_ids) <= max_len:
            current = sentence
            continue
        body = sentence_ids[:-1]
        width = max_len - 1
        chunks = [body[i : i + width] + [eos_id] for i in range(0, len(body), width)]
        out.pieces.extend(chunks)
        out.texts.extend([None] * len(chunks))
        preview = sentence if len(sentence) <= 40 else sentence[:37] + "..."
        out.warnings.append(
            f"sentence of {len(sentence_ids)} tokens exceeds the max source length {max_len}; "
            f"cut into {len(chunks)} pieces: {preview!r}"
        )
    if current:
        out.pieces.append(encode(current))
        out.texts.append(current)
    return out
