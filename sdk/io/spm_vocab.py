"""Joint SentencePiece training with byte fallback, and the OPUS-MT ``vocab.json`` layout."""

from __future__ import annotations

import io
import json
from pathlib import Path

from pocketmt.runtime.errors import InputError


def train_joint_spm(
    lines: list[str], vocab_size: int, byte_fallback: bool = True, seed_sentences: int = 200_000
) -> bytes:
    """A unigram model over both sides; byte fallback so any character stays representable."""
    import sentencepiece as spm

    model = io.BytesIO()
    try:
        _train(spm, lines[:seed_sentences], model, vocab_size, byte_fallback)
    except RuntimeError as exc:  # sentencepiece reports bad settings as RuntimeError with a long prefix
        raise InputError(f"SentencePiece training failed: {str(exc).split('] ')[-1]}") from exc
    return model.getvalue()


def _train(spm: object, lines: list[str], model: io.BytesIO, vocab_size: int, byte_fallback: bool) -> None:
    spm.SentencePieceTrainer.train(  # type: ignore[attr-defined]
        sentence_iterator=iter(lines),
        model_writer=model,
        vocab_size=vocab_size,
        model_type="unigram",
        character_coverage=1.0,
        byte_fallback=byte_fallback,
        hard_vocab_limit=False,
        normalization_rule_name="nmt_nfkc",
        num_threads=2,
        minloglevel=2,
    )


def marian_vocab(proto: bytes, min_size: int = 0) -> dict[str, int]:
    """``</s>`` 0, ``<unk>`` 1, the pieces, filler entries up to ``min_size``, and ``<pad>`` last
    (it also starts the decoder)."""
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_proto=proto)
    vocab: dict[str, int] = {"</s>": 0, "<unk>": 1}
    for i in range(sp.get_piece_size()):
        piece = sp.id_to_piece(i)
        if piece not in vocab and piece not in ("<s>", "<pad>"):
            vocab[piece] = len(vocab)
    while len(vocab) < min_size - 1:
        vocab[f"<extra_{len(vocab)}>"] = len(vocab)
    vocab["<pad>"] = len(vocab)
    return vocab


def write_tokenizer(
    folder: Path,
    proto: bytes,
    vocab: dict[str, int],
    source_lang: str,
    target_lang: str,
    max_length: int = 512,
) -> None:
    (folder / "source.spm").write_bytes(proto)
    (folder / "target.spm").write_bytes(proto)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False, indent=0), encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "source_lang": source_lang,
                "target_lang": target_lang,
                "model_max_length": max_length,
                "tokenizer_class": "MarianTokenizer",
                "separate_vocabs": False,
            },
            indent=1,
        )
    )
