"""``pocketmt eval``: sacreBLEU and chrF of a bundle (or a checkpoint folder, run eagerly) on a test set."""

from __future__ import annotations

import gzip
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pocketmt.runtime.errors import InputError
from pocketmt.runtime.translator import TranslateOptions, Translator


@dataclass
class EvalResult:
    bleu: float
    chrf: float
    sentences: int
    seconds: float
    signature_bleu: str
    signature_chrf: str
    hypotheses: list[str]

    @property
    def sentences_per_second(self) -> float:
        return self.sentences / self.seconds if self.seconds else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "bleu": round(self.bleu, 2),
            "chrf": round(self.chrf, 2),
            "sentences": self.sentences,
            "seconds": round(self.seconds, 3),
            "sentences_per_second": round(self.sentences_per_second, 2),
            "bleu_signature": self.signature_bleu,
            "chrf_signature": self.signature_chrf,
        }


def read_lines(path: str | Path) -> list[str]:
    """Lines of a plain or gzipped UTF-8 text file (gzip is detected by content, not by name)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"file not found: {p}")
    raw = p.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise InputError(f"{p}: damaged gzip file ({exc})") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(f"{p}: invalid UTF-8 on line {line}") from exc
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def open_translator(target: str | Path, backend: str | None) -> Translator:
    """A bundle folder runs on its backend; a Hugging Face checkpoint folder runs eagerly in PyTorch."""
    path = Path(target)
    if (path / "manifest.json").is_file() or not (path / "config.json").is_file():
        return Translator(path, backend)
    from pocketmt.export.pipeline import eager_translator

    return eager_translator(path)


def evaluate(
    translator: Translator, sources: list[str], references: list[str], options: TranslateOptions
) -> EvalResult:
    import sacrebleu

    if len(sources) != len(references):
        raise InputError(f"source has {len(sources)} lines but reference has {len(references)}")
    translator.search_config(options)
    began = time.perf_counter()
    hyps = [t.text for t in translator.translate(sources, options)]
    seconds = time.perf_counter() - began
    bleu = sacrebleu.metrics.BLEU()
    chrf = sacrebleu.metrics.CHRF()
    b = bleu.corpus_score(hyps, [references])
    c = chrf.corpus_score(hyps, [references])
    return EvalResult(
        b.score, c.score, len(sources), seconds, str(bleu.get_signature()), str(chrf.get_signature()), hyps
    )
