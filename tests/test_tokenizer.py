"""The runtime tokenizer matches transformers' MarianTokenizer on the same files."""

from __future__ import annotations

from pathlib import Path

import pytest

from pocketmt.runtime.tokenizer import MarianTokenizer


@pytest.fixture(scope="module")
def tokenizers(tiny_model_dir: Path) -> tuple[MarianTokenizer, object]:
    from transformers import MarianTokenizer as HFMarianTokenizer

    ours = MarianTokenizer(
        tiny_model_dir / "source.spm", tiny_model_dir / "target.spm", tiny_model_dir / "vocab.json"
    )
    return ours, HFMarianTokenizer.from_pretrained(str(tiny_model_dir))


def test_source_ids_match_transformers(
    tokenizers: tuple[MarianTokenizer, object], sentences: list[str]
) -> None:
    ours, hf = tokenizers
    extra = ["", "Ünïcödé ñot in the vocabulary — 東京", ">>de<< A dog runs.", "  spaces   inside  "]
    for text in sentences + extra:
        assert ours.encode(text) == hf(text)["input_ids"], text  # type: ignore[operator]


def test_decode_inverts_encode_for_in_vocabulary_text(
    tokenizers: tuple[MarianTokenizer, object], sentences: list[str]
) -> None:
    ours, _ = tokenizers
    for text in sentences:
        assert ours.decode(ours.encode(text)) == text


def test_decode_drops_special_ids_and_marks_unknown(tokenizers: tuple[MarianTokenizer, object]) -> None:
    ours, _ = tokenizers
    ids = ours.encode("a dog")
    assert ours.decode(ids + [ours.pad_id, ours.eos_id]) == "a dog"
    assert "<unk>" in ours.decode([ours.unk_id] + ids)
