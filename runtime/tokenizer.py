"""Marian tokenization: SentencePiece pieces mapped through the shared ``vocab.json``.

This mirrors ``transformers.MarianTokenizer`` for shared-vocabulary OPUS-MT
models (checked in the tests): an optional leading ``>>xx<<`` language code
is its own token, pieces missing from the vocabulary become ``<unk>``, and
every source ends with ``</s>``. It is a separate layer: the search takes
and returns token ids only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pocketmt.runtime.errors import BundleError, InputError

_WORD_START = "\u2581"


def _require_unicode(text: str) -> None:
    """SentencePiece takes UTF-8: a lone surrogate (what Python makes of invalid UTF-8 in a command
    line argument) is the caller's error, not SentencePiece's ``RuntimeError``."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError(
            f"text is not valid Unicode: lone surrogate {text[exc.start]!r} at character {exc.start + 1} "
            "(invalid UTF-8 in the input?)"
        ) from exc


class MarianTokenizer:
    def __init__(self, source_spm: Path, target_spm: Path, vocab_json: Path) -> None:
        import sentencepiece as spm

        try:
            self._source: Any = spm.SentencePieceProcessor(model_file=str(source_spm))
            # a joint vocabulary names one file for both sides: load it once
            self._target: Any = (
                self._source
                if target_spm == source_spm
                else spm.SentencePieceProcessor(model_file=str(target_spm))
            )
        except (OSError, RuntimeError) as exc:
            raise BundleError(f"cannot load SentencePiece model: {exc}") from exc
        try:
            vocab = json.loads(vocab_json.read_text("utf-8"))
        # ValueError: an id of more than 4300 digits; RecursionError: nesting deeper than the parser goes
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
            reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            if type(exc) is ValueError:  # not its subclasses JSONDecodeError and UnicodeDecodeError
                reason = reason.split(":")[0]  # drop the advice to call sys.set_int_max_str_digits
            raise BundleError(f"{vocab_json}: not a readable vocabulary ({reason})") from exc
        if not isinstance(vocab, dict) or "<unk>" not in vocab or "</s>" not in vocab:
            raise BundleError(f"{vocab_json}: vocabulary must map pieces to ids and contain <unk> and </s>")
        bad = next(
            ((k, v) for k, v in vocab.items() if isinstance(v, bool) or not isinstance(v, int) or v < 0), None
        )
        if bad is not None:
            raise BundleError(f"{vocab_json}: piece {bad[0]!r} has id {bad[1]!r}, not a non-negative integer")
        self.piece_to_id: dict[str, int] = dict(vocab)
        self.id_to_piece: dict[int, str] = {v: k for k, v in self.piece_to_id.items()}
        self.unk_id = self.piece_to_id["<unk>"]
        self.eos_id = self.piece_to_id["</s>"]
        self.pad_id = self.piece_to_id.get("<pad>", len(self.piece_to_id) - 1)
        self.special_ids = {self.unk_id, self.eos_id, self.pad_id}
        # pieces that glue onto the previous one inside a word (no word-start marker, a letter or digit first)
        self.word_continuations = frozenset(
            i for p, i in self.piece_to_id.items() if p[:1].isalnum() and i not in self.special_ids
        )
        # pieces whose last character is a letter or digit: a glued term may not start right after one
        self.word_ends = frozenset(
            i for p, i in self.piece_to_id.items() if p[-1:].isalnum() and i not in self.special_ids
        )

    def pieces(self, text: str) -> list[str]:
        _require_unicode(text)
        code: list[str] = []
        if text.startswith(">>") and (end := text.find("<<")) != -1:
            code.append(text[: end + 2])
            text = text[end + 2 :]
        pieces: list[str] = self._source.encode(text, out_type=str)
        return code + pieces

    def encode(self, text: str, add_eos: bool = True) -> list[int]:
        ids = [self.piece_to_id.get(p, self.unk_id) for p in self.pieces(text)]
        if add_eos:
            ids.append(self.eos_id)
        return ids

    def encode_target(self, text: str) -> list[int]:
        """Target-side ids of ``text`` (no EOS), as a reference translation is tokenized."""
        return [self.piece_to_id.get(p, self.unk_id) for p in self.target_pieces(text)]

    def target_pieces(self, text: str) -> list[str]:
        _require_unicode(text)
        pieces: list[str] = self._target.encode(text, out_type=str)
        return pieces

    def source_text(self, ids: list[int]) -> str:
        """Source ids back to text (for re-reading a piece of a split input)."""
        pieces = [self.id_to_piece.get(i, "") for i in ids if i not in self.special_ids]
        text: str = self._source.decode_pieces(pieces)
        return text

    def decode(self, ids: list[int]) -> str:
        """Target ids to text; special tokens are dropped."""
        pieces = [self.id_to_piece.get(i, "<unk>") for i in ids if i not in (self.eos_id, self.pad_id)]
        out: list[str] = []
        run: list[str] = []
        for piece in pieces:
            if piece == "<unk>":
                out.append(self._target.decode_pieces(run))
                out.append(" <unk> ")
                run = []
            else:
                run.append(piece)
        out.append(self._target.decode_pieces(run))
        text: str = "".join(out).replace(_WORD_START, " ")
        return " ".join(text.split()) if "<unk>" in pieces else text.strip()
