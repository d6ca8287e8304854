"""``pocketmt eval``: sacreBLEU and chrF of a bundle (or a checkpoint folder, run eagerly) on a test set."""

from __future__ import annotations

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
