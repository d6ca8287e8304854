"""Long inputs are split, never silently shortened (docs/decoding.md, section 1)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pocketmt.runtime.segment import segment, split_sentences

EOS = 0


def encode(text: str) -> list[int]:
    """One id per word (its length + 1) then EOS: easy to count."""
    return [len(w) + 1 for w in text.split()] + [EOS]


def test_short_text_is_one_piece() -> None:
    seg = segment("a b c.", encode, 8, EOS)
    assert seg.pieces == [encode("a b c.")]
    assert seg.warnings == []


def test_split_at_sentence_ends_and_packed_greedily() -> None:
    text = "One two three. Four five! Six seven eight? Nine."
    seg = segment(text, encode, 6, EOS)
    assert seg.warnings == []
    assert all(len(p) <= 6 for p in seg.pieces)
    assert seg.pieces == [encode("One two three. Four five!"), encode("Six seven eight? Nine.")]


def test_overlong_sentence_is_cut_into_chunks_with_a_warning() -> None:
    text = "w " * 20 + "end."
    seg = segment(text, encode, 8, EOS)
    assert len(seg.warnings) == 1 and "exceeds the max source length 8" in seg.warnings[0]
    body = [i for p in seg.pieces for i in p if i != EOS]
    assert body == encode(text)[:-1]  # every token kept, in order


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(["a", "bb", "ccc", "d.", "e!", "f?", "g\u3002"]), min_size=0, max_size=60),
    st.integers(2, 12),
)
def test_no_token_is_ever_dropped(words: list[str], max_len: int) -> None:
    text = " ".join(words)
    seg = segment(text, encode, max_len, EOS)
    assert all(len(p) <= max_len and p[-1] == EOS for p in seg.pieces)
    kept = [i for p in seg.pieces for i in p[:-1]]
    assert kept == encode(text)[:-1]


def test_split_sentences_keeps_punctuation() -> None:
    assert split_sentences("Hi. There! Ok? Done\u3002 End") == ["Hi.", "There!", "Ok?", "Done\u3002", "End"]
