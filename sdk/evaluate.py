"""``pocketmt eval``: sacreBLEU and chrF of a bundle (or a checkpoint folder, run eagerly) on a test set."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pocketmt.io.corpus import read_lines
from pocketmt.runtime.errors import InputError
from pocketmt.runtime.glossary import Term, parse_json, terms_from_wmt, units
from pocketmt.runtime.translator import DEFAULT_BATCH_SIZE, TranslateOptions, Translator


@dataclass
class EvalResult:
    bleu: float
    chrf: float
    sentences: int
    seconds: float
    signature_bleu: str
    signature_chrf: str
    hypotheses: list[str]
    term_success: float | None = None
    constraints_dropped: int = 0

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
            **(
                {"term_success": round(self.term_success, 4), "constraints_dropped": self.constraints_dropped}
                if self.term_success is not None
                else {}
            ),
        }


def open_ensemble(targets: Sequence[str | Path]) -> Translator:
    """Checkpoint folders sharing one vocabulary, run eagerly as one ensemble (averaged probabilities)."""
    from pocketmt.export.checkpoint import read_config, validate_files
    from pocketmt.export.pipeline import eager_translator
    from pocketmt.export.training.ensemble_search import EnsembleStepModel, check_shared_vocabulary

    for target in targets:
        if not (Path(target) / "config.json").is_file() or (Path(target) / "manifest.json").is_file():
            raise InputError(f"an ensemble takes Hugging Face checkpoint folders: {target} is not one")
        read_config(Path(target))
        validate_files(Path(target))
    check_shared_vocabulary([Path(t) for t in targets])
    translators = [eager_translator(t) for t in targets]
    translator = translators[0]
    translator.model = EnsembleStepModel([t.model for t in translators])  # type: ignore[assignment]
    return translator


def open_translator(target: str | Path, backend: str | None, shortlist: bool = True) -> Translator:
    """A bundle folder runs on its backend (with its vocabulary shortlist unless ``shortlist`` is
    False); a Hugging Face checkpoint folder runs eagerly in PyTorch."""
    path = Path(target)
    if (path / "manifest.json").is_file() or not (path / "config.json").is_file():
        return Translator(path, backend, shortlist=shortlist)
    from pocketmt.export.pipeline import eager_translator

    return eager_translator(path)


def read_terms(path: str | Path, count: int, source_lang: str, target_lang: str) -> list[list[Term]]:
    """One JSON list of term pairs per line (WMT 2023 format), aligned with the source lines."""
    lines = read_lines(path)
    if len(lines) != count:
        raise InputError(f"{path} has {len(lines)} lines but the source has {count}")
    out = []
    for number, line in enumerate(lines, start=1):
        data = parse_json(line, f"{path}:{number}") if line.strip() else []
        out.append(terms_from_wmt(data, source_lang, target_lang, f"{path}:{number}"))
    return out


def term_found(forms: Sequence[str], hypothesis: str) -> bool:
    """The term_success rule (docs/decoding.md, section 9.3): some form's units (words, punctuation
    marks, characters of unspaced scripts), NFKC-normalised and case-folded, occur contiguously among
    the hypothesis's units."""
    hyp = units(hypothesis)
    for form in forms:
        need = units(form)
        if need and any(hyp[i : i + len(need)] == need for i in range(len(hyp) - len(need) + 1)):
            return True
    return False


def evaluate(
    translator: Translator,
    sources: list[str],
    references: list[str],
    options: TranslateOptions,
    terms: list[list[Term]] | None = None,
    enforce: bool = True,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> EvalResult:
    """``batch_size`` sentences are decoded together (``Translator.translate``); the scores do not
    depend on it, only ``seconds`` does."""
    import sacrebleu

    if len(sources) != len(references):
        raise InputError(f"source has {len(sources)} lines but reference has {len(references)}")
    if not sources:
        raise InputError("the source and reference files are empty: nothing to score")
    translator.search_config(options)
    began = time.perf_counter()
    results = translator.translate(sources, options, terms=terms if enforce else None, batch_size=batch_size)
    seconds = time.perf_counter() - began
    hyps = [r.text for r in results]
    bleu = sacrebleu.metrics.BLEU()
    chrf = sacrebleu.metrics.CHRF()
    b = bleu.corpus_score(hyps, [references])
    c = chrf.corpus_score(hyps, [references])
    result = EvalResult(
        b.score, c.score, len(sources), seconds, str(bleu.get_signature()), str(chrf.get_signature()), hyps
    )
    if terms is not None:
        required = [
            (t.targets, h) for sentence, h in zip(terms, hyps, strict=True) for t in sentence if t.targets
        ]
        found = sum(term_found(forms, h) for forms, h in required)
        result.term_success = found / len(required) if required else 1.0
        result.constraints_dropped = sum(r.constraints_dropped for r in results)
    return result
