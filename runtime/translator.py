"""``Translator``: text in, text out, over a bundle on one backend."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pocketmt.runtime.backends.registry import open_graphs
from pocketmt.runtime.beam_search import Hypothesis, SearchConfig, beam_search
from pocketmt.runtime.bundle import Bundle
from pocketmt.runtime.constrained_search import constrained_beam_search
from pocketmt.runtime.errors import InputError
from pocketmt.runtime.glossary import Glossary, Term
from pocketmt.runtime.manifest import Manifest
from pocketmt.runtime.segment import Segments, segment
from pocketmt.runtime.step import CachedStepModel, StepGraphs, StepModel
from pocketmt.runtime.term_constraints import TermConstraint, term_constraint
from pocketmt.runtime.tokenizer import MarianTokenizer


@dataclass(frozen=True)
class TranslateOptions:
    """Per-call decoding options; ``None`` takes the bundle's default."""

    beam_size: int | None = None
    max_new_tokens: int | None = None
    length_penalty: float | None = None


@dataclass
class Timings:
    tokenize_ms: float = 0.0
    encode_ms: float = 0.0
    decode_ms: float = 0.0
    total_ms: float = 0.0
    steps: int = 0


@dataclass
class Translation:
    source: str
    text: str
    token_ids: list[int]  # generated target ids (EOS included when the search finished)
    score: float  # length-normalized log-probability (docs/decoding.md section 3)
    finished: bool
    timings: Timings
    segments: int = 1
    warnings: list[str] = field(default_factory=list)
    terms: list[TermResult] = field(default_factory=list)
    constraints_dropped: bool = False  # some piece could not meet its terms: that piece is unconstrained

    def to_json(self) -> dict[str, Any]:
        """The object ``pocketmt translate --json`` prints for this translation."""
        return {
            "source": self.source,
            "text": self.text,
            "token_ids": self.token_ids,
            "score": self.score,
            "finished": self.finished,
            "segments": self.segments,
            "timings_ms": {
                "tokenize": self.timings.tokenize_ms,
                "encode": self.timings.encode_ms,
                "decode": self.timings.decode_ms,
                "total": self.timings.total_ms,
            },
            "steps": self.timings.steps,
            "terms": [t.to_json() for t in self.terms],
            "constraints_dropped": self.constraints_dropped,
        }


@dataclass
class TermResult:
    source: str  # the source term (as in the glossary)
    required: tuple[str, ...]  # acceptable target forms
    produced: str | None  # the form the search produced, None when its constraint was dropped

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "required": list(self.required), "produced": self.produced}


def search_config(m: Manifest, options: TranslateOptions | None = None) -> SearchConfig:
    """The search settings for a bundle: its defaults, overridden by ``options`` within its limits."""
    opts = options or TranslateOptions()
    beam = opts.beam_size if opts.beam_size is not None else m.decoding.default_beam
    if not 1 <= beam <= m.limits.max_batch:
        raise InputError(f"beam size {beam} is outside 1..{m.limits.max_batch} (this bundle's max batch)")
    max_new = opts.max_new_tokens if opts.max_new_tokens is not None else m.limits.max_target_len
    if not 1 <= max_new <= m.limits.max_target_len:
        raise InputError(f"max new tokens {max_new} is outside 1..{m.limits.max_target_len}")
    alpha = opts.length_penalty if opts.length_penalty is not None else m.decoding.length_penalty
    return SearchConfig(
        beam_size=beam,
        max_new_tokens=max_new,
        eos_id=m.tokens.eos_id,
        start_id=m.tokens.decoder_start_id,
        banned_ids=m.decoding.banned_ids,
        length_penalty=alpha,
        forced_eos=m.decoding.forced_eos,
    )


def _graph_time(model: StepModel) -> tuple[float, float, int]:
    """Seconds in the encoder and the decoder step, and steps, that ``model`` has counted so far."""
    return (
        float(getattr(model, "encode_seconds", 0.0)),
        float(getattr(model, "step_seconds", 0.0)),
        int(getattr(model, "steps", 0)),
    )


def load_graphs(bundle: Bundle, backend: str) -> StepGraphs:
    """The bundle's graphs on ``backend``, through the backend registry."""
    return open_graphs(bundle, backend)


class Translator:
    """Translate with a bundle. ``backend`` is ``"executorch"`` or ``"onnx"`` (default: what the bundle has,
    ExecuTorch first). Files are checked against the manifest's sha256 before anything is loaded.

    One translator may be shared by several threads: each ``translate_one``/``search_ids`` call decodes
    on a KV cache of its own over the shared graphs, and its timings count only its own graph calls."""

    def __init__(
        self,
        bundle: str | Path | Bundle,
        backend: str | None = None,
        *,
        graphs: StepGraphs | None = None,
        check_integrity: bool = True,
    ) -> None:
        self.bundle = bundle if isinstance(bundle, Bundle) else Bundle.open(bundle)
        manifest = self.bundle.manifest
        if graphs is None:
            self.backend = self.bundle.resolve_backend(backend)
            if check_integrity:
                self.bundle.check_backend_files(self.backend)
            graphs = load_graphs(self.bundle, self.backend)
        else:
            self.backend = backend or "custom"
            if check_integrity:
                self.bundle.check_files(manifest.tokenizer_files())
        tok = manifest.tokenizer
        self.tokenizer = MarianTokenizer(
            self.bundle.file(tok["source_spm"]),
            self.bundle.file(tok["target_spm"]),
            self.bundle.file(tok["vocab"]),
        )
        self.graphs = graphs
        self.manifest = manifest
        self._shared_model: StepModel | None = None  # for ``model``'s single-threaded callers
        self._fixed_model: StepModel | None = None  # set through ``model``: every call uses it

    @property
    def model(self) -> StepModel:
        """One step model over this translator's graphs, for callers that drive the search themselves one
        call at a time (``verify``, the step server). ``translate_one`` and ``search_ids`` do not use it:
        each call decodes on a state of its own (``new_step_model``), so threads may share a translator.
        Assigning a model here (an ensemble, say) makes every call use that one, one call at a time."""
        if self._fixed_model is not None:
            return self._fixed_model
        if self._shared_model is None:
            self._shared_model = CachedStepModel(self.graphs, self.manifest)
        return self._shared_model

    @model.setter
    def model(self, value: StepModel) -> None:
        self._fixed_model = value

    def new_step_model(self) -> StepModel:
        """The decoding state of one call: a fresh KV cache over the shared graphs (the graphs themselves
        are safe to run from several threads: see the backends), or the model assigned to ``model``."""
        if self._fixed_model is not None:
            return self._fixed_model
        return CachedStepModel(self.graphs, self.manifest)

    def search_config(self, options: TranslateOptions | None = None) -> SearchConfig:
        return search_config(self.manifest, options)

    def search_ids(self, source_ids: list[int], options: TranslateOptions | None = None) -> Hypothesis:
        """Token ids in, best hypothesis out (no tokenizer, no splitting)."""
        if not source_ids or len(source_ids) > self.manifest.limits.max_source_len:
            raise InputError(
                f"source must have 1..{self.manifest.limits.max_source_len} ids, got {len(source_ids)}"
            )
        return beam_search(self.new_step_model(), source_ids, self.search_config(options))

    def translate_one(
        self,
        text: str,
        options: TranslateOptions | None = None,
        glossary: Glossary | None = None,
        terms: Sequence[Term] = (),
    ) -> Translation:
        """Translate one text. Terms of ``glossary`` found in it, and ``terms`` given for it, must appear
        in the translation (docs/decoding.md, sections 8 and 9)."""
        cfg = self.search_config(options)
        began = time.perf_counter()
        timings = Timings()
        if not text.strip():
            return Translation(text, "", [], 0.0, True, timings, segments=0)
        seg = segment(text, self.tokenizer.encode, self.manifest.limits.max_source_len, self.tokenizer.eos_id)
        per_piece = self._terms_per_piece(seg, glossary, terms)
        timings.tokenize_ms = (time.perf_counter() - began) * 1000
        model = self.new_step_model()
        enc0, step0, steps0 = _graph_time(model)
        out = Translation(
            text, "", [], 0.0, True, timings, segments=len(seg.pieces), warnings=list(seg.warnings)
        )
        texts: list[str] = []
        score = 0.0
        for piece, piece_terms in zip(seg.pieces, per_piece, strict=True):
            hyp = self._search(model, piece, cfg, piece_terms, out)
            texts.append(self.tokenizer.decode(hyp.tokens))
            out.token_ids.extend(hyp.tokens)
            score += hyp.normalized
            out.finished = out.finished and hyp.finished
        out.text = " ".join(t for t in texts if t)
        out.score = score / len(seg.pieces)
        enc1, step1, steps1 = _graph_time(model)
        timings.encode_ms = (enc1 - enc0) * 1000
        timings.decode_ms = (step1 - step0) * 1000
        timings.steps = steps1 - steps0
        timings.total_ms = (time.perf_counter() - began) * 1000
        return out

    def _terms_per_piece(
        self, seg: Segments, glossary: Glossary | None, terms: Sequence[Term]
    ) -> list[list[Term]]:
        """Glossary matches of each piece's text; given terms go where their source occurs (else the first)."""
        sources = [
            t if t is not None else self.tokenizer.source_text(ids)
            for t, ids in zip(seg.texts, seg.pieces, strict=True)
        ]
        per_piece: list[list[Term]] = [[] for _ in seg.pieces]
        if glossary is not None:
            for i, source in enumerate(sources):
                per_piece[i].extend(m.term for m in glossary.match(source))
        if len(seg.pieces) == 1:
            per_piece[0].extend(terms)
        elif terms:
            given = Glossary.from_terms(list(terms), on_conflict="last")
            placed: set[str] = set()
            for i, source in enumerate(sources):
                for m in given.match(source):
                    if m.term.source not in placed:
                        per_piece[i].append(m.term)
                        placed.add(m.term.source)
            per_piece[0].extend(t for t in given.terms if t.source not in placed)
        return [list({t.source: t for t in piece}.values()) for piece in per_piece]

    def _search(
        self, model: StepModel, piece: list[int], cfg: SearchConfig, terms: list[Term], out: Translation
    ) -> Hypothesis:
        usable: list[TermConstraint] = []
        for term in terms:
            tc, warning = term_constraint(term, self.tokenizer)
            if tc is None:
                out.warnings.append(str(warning))
            else:
                usable.append(tc)
        if not usable:
            return beam_search(model, piece, cfg)
        hyp = constrained_beam_search(
            model,
            piece,
            cfg,
            [tc.constraint for tc in usable],
            self.tokenizer.word_continuations,
            self.tokenizer.word_ends,
        )
        out.constraints_dropped = out.constraints_dropped or bool(hyp.extra.get("constraints_dropped"))
        met = hyp.extra.get("met")
        alternatives = met if isinstance(met, list) else [-1] * len(usable)
        for tc, alt in zip(usable, alternatives, strict=True):
            produced = tc.forms[alt] if alt >= 0 else None
            out.terms.append(TermResult(tc.term.source, tc.term.targets, produced))
        return hyp

    def translate(
        self,
        texts: str | Sequence[str],
        options: TranslateOptions | None = None,
        glossary: Glossary | None = None,
        terms: Sequence[Sequence[Term]] | None = None,
    ) -> list[Translation]:
        """``terms``, when given, is one list of required terms per text (aligned with ``texts``)."""
        if isinstance(texts, str):
            texts = [texts]
        if terms is not None and len(terms) != len(texts):
            raise InputError(f"{len(terms)} term lists for {len(texts)} texts")
        return [
            self.translate_one(t, options, glossary, terms[i] if terms is not None else ())
            for i, t in enumerate(texts)
        ]
