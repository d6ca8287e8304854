"""``Translator``: text in, text out, over a bundle on one backend."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from pocketmt.runtime.backends.registry import open_graphs
from pocketmt.runtime.batch_search import batch_search_steps
from pocketmt.runtime.beam_search import Hypothesis, SearchConfig, beam_search
from pocketmt.runtime.bundle import Bundle
from pocketmt.runtime.constrained_search import constrained_beam_search
from pocketmt.runtime.coverage import BYTE_FALLBACK, OK, UNKNOWN, piece_spelling, too_short, worst
from pocketmt.runtime.errors import InputError
from pocketmt.runtime.glossary import Glossary, Term
from pocketmt.runtime.manifest import Manifest, check_vocabulary
from pocketmt.runtime.segment import Segments, segment
from pocketmt.runtime.shortlist import Shortlist, load_shortlist, with_shortlist
from pocketmt.runtime.step import BatchStepModel, StepGraphs, StepModel, decodes_batches, make_step_model
from pocketmt.runtime.term_constraints import TermConstraint, term_constraint
from pocketmt.runtime.tokenizer import MarianTokenizer

if TYPE_CHECKING:
    from pocketmt.runtime.signing import PublicKeySource

# pieces decoded together by ``translate`` and ``search_batch`` (docs/decoding.md, section 11)
DEFAULT_BATCH_SIZE = 16


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
    # docs/decoding.md section 1.5: pieces (0-based) whose output is too short for their source, and
    # constrained pieces whose output besides the terms is too short for the source besides them
    short_output: list[int] = field(default_factory=list)
    coverage_lost: list[int] = field(default_factory=list)

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
            "short_output": self.short_output,
            "coverage_lost": self.coverage_lost,
        }


@dataclass
class TermResult:
    source: str  # the source term (as in the glossary)
    required: tuple[str, ...]  # acceptable target forms
    produced: str | None  # the form the search produced, None when its constraint was dropped or skipped
    spelling: str = "ok"  # section 1.5: "ok", "byte_fallback" or "unknown" (its worst target form)

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "required": list(self.required),
            "produced": self.produced,
            "spelling": self.spelling,
        }


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
        public_key: PublicKeySource | None = None,
        shortlist: bool = True,
    ) -> None:
        if isinstance(bundle, Bundle):
            if public_key is not None:
                bundle.check_signature(public_key)
            self.bundle = bundle
        else:
            self.bundle = Bundle.open(bundle, public_key=public_key)
        # a signature vouches for the manifest, and the manifest for the files through their hashes
        check_integrity = check_integrity or public_key is not None
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
        check_vocabulary(manifest, self.tokenizer.piece_to_id, str(self.bundle.file(tok["vocab"])))
        self.graphs = graphs
        self.manifest = manifest
        # the bundle's vocabulary shortlist (docs/decoding.md, section 12), unless turned off
        self.shortlist: Shortlist | None = None
        if shortlist and "shortlist" in manifest.raw:
            name = str(manifest.raw["shortlist"]["file"])
            if check_integrity:
                self.bundle.check_files([name])
            self.shortlist = load_shortlist(self.bundle.file(name), manifest.model.vocab_size)
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
            self._shared_model = self._step_model()
        return self._shared_model

    @model.setter
    def model(self, value: StepModel) -> None:
        self._fixed_model = value

    def new_step_model(self) -> StepModel:
        """The decoding state of one call: a fresh KV cache over the shared graphs (the graphs themselves
        are safe to run from several threads: see the backends), or the model assigned to ``model``."""
        if self._fixed_model is not None:
            return self._fixed_model
        return self._step_model()

    def _step_model(self) -> StepModel:
        model = make_step_model(self.graphs, self.manifest)
        return with_shortlist(model, self.shortlist, self.manifest.tokens.eos_id)

    def search_config(self, options: TranslateOptions | None = None) -> SearchConfig:
        return search_config(self.manifest, options)

    def _check_source(self, source_ids: list[int]) -> None:
        if not source_ids or len(source_ids) > self.manifest.limits.max_source_len:
            raise InputError(
                f"source must have 1..{self.manifest.limits.max_source_len} ids, got {len(source_ids)}"
            )

    def search_ids(self, source_ids: list[int], options: TranslateOptions | None = None) -> Hypothesis:
        """Token ids in, best hypothesis out (no tokenizer, no splitting)."""
        self._check_source(source_ids)
        return beam_search(self.new_step_model(), source_ids, self.search_config(options))

    def search_batch(
        self,
        sources: Sequence[list[int]],
        options: TranslateOptions | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> list[Hypothesis]:
        """``search_ids`` for each source, in their order: decoded ``batch_size`` at a time (sources of
        similar length together) where the model can batch, else one at a time; the same hypotheses."""
        if batch_size < 1:
            raise InputError(f"batch size must be 1 or more, not {batch_size}")
        for ids in sources:
            self._check_source(ids)
        cfg = self.search_config(options)
        model = self.new_step_model()
        batched = _batch_model(model, batch_size)
        if batched is None:
            return [beam_search(model, list(ids), cfg) for ids in sources]
        found: dict[int, Hypothesis] = {}
        for batch in length_batches([len(ids) for ids in sources], batch_size):
            searched = batch_search_steps(batched, [list(sources[j]) for j in batch], cfg, self._pad_id)
            found.update((j, hyp) for j, (hyp, _) in zip(batch, searched, strict=True))
        return [found[j] for j in range(len(sources))]

    @property
    def _pad_id(self) -> int:
        return int(self.manifest.tokens.pad_id)

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
        out, seg, per_piece = self._prepare(text, glossary, terms)
        if seg is None:
            return out
        model = self.new_step_model()
        enc0, step0, steps0 = _graph_time(model)
        self._assemble(out, seg, per_piece, cfg, model, {})
        enc1, step1, steps1 = _graph_time(model)
        timings = out.timings
        timings.encode_ms = (enc1 - enc0) * 1000
        timings.decode_ms = (step1 - step0) * 1000
        timings.steps = steps1 - steps0
        timings.total_ms = (time.perf_counter() - began) * 1000
        return out

    def _prepare(
        self, text: str, glossary: Glossary | None, terms: Sequence[Term]
    ) -> tuple[Translation, Segments | None, list[list[Term]]]:
        """The text's pieces and each piece's terms, in a Translation still to fill (``tokenize_ms`` set);
        no segments for an empty text, whose Translation is complete."""
        began = time.perf_counter()
        timings = Timings()
        if not text.strip():
            return Translation(text, "", [], 0.0, True, timings, segments=0), None, []
        seg = segment(
            text,
            self.tokenizer.encode,
            self.manifest.limits.max_source_len,
            self.tokenizer.eos_id,
            self.manifest.model.source_lang,
        )
        per_piece = self._terms_per_piece(seg, glossary, terms)
        timings.tokenize_ms = (time.perf_counter() - began) * 1000
        out = Translation(
            text, "", [], 0.0, True, timings, segments=len(seg.pieces), warnings=list(seg.warnings)
        )
        return out, seg, per_piece

    def _assemble(
        self,
        out: Translation,
        seg: Segments,
        per_piece: list[list[Term]],
        cfg: SearchConfig,
        model: StepModel,
        searched: dict[int, Hypothesis],
    ) -> None:
        """Fill ``out`` piece by piece: a piece in ``searched`` (decoded in a batch, no terms) takes that
        hypothesis, any other is searched now on ``model``; then each piece's length check."""
        texts: list[str] = []
        score = 0.0
        for i, (piece, piece_terms) in enumerate(zip(seg.pieces, per_piece, strict=True)):
            if i in searched:
                hyp, term_tokens = searched[i], None
            else:
                hyp, term_tokens = self._search(model, piece, cfg, piece_terms, out)
            self._check_length(i, len(seg.pieces), piece, hyp, term_tokens, out)
            texts.append(self.tokenizer.decode(hyp.tokens))
            out.token_ids.extend(hyp.tokens)
            score += hyp.normalized
            out.finished = out.finished and hyp.finished
        out.text = " ".join(t for t in texts if t)
        out.score = score / len(seg.pieces)

    def _check_length(
        self,
        i: int,
        count: int,
        piece: list[int],
        hyp: Hypothesis,
        term_tokens: tuple[int, int] | None,
        out: Translation,
    ) -> None:
        """Section 1.5: flag piece ``i`` whose output is too short for its source (``short_output``), or,
        under met terms, whose output besides the terms is too short for the source besides them."""
        eos = self.tokenizer.eos_id
        source = sum(1 for t in piece if t != eos)
        target = sum(1 for t in hyp.tokens if t != eos)
        where = f"piece {i + 1} of {count}"
        if too_short(source, target):
            out.short_output.append(i)
            out.warnings.append(
                f"{where}: {target} target tokens for {source} source tokens (under half): "
                "part of the source may be missing from the translation"
            )
        if term_tokens is not None:
            rest_source, rest_target = max(0, source - term_tokens[0]), max(0, target - term_tokens[1])
            if too_short(rest_source, rest_target):
                out.coverage_lost.append(i)
                out.warnings.append(
                    f"{where}: besides its terms, {rest_target} target tokens for {rest_source} source "
                    "tokens (under half): the terms may have cost the rest of the sentence"
                )

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
    ) -> tuple[Hypothesis, tuple[int, int] | None]:
        """The piece's best hypothesis, and for a search that met its terms, the source and target tokens
        the met terms take (for the coverage check, docs/decoding.md section 1.5)."""
        built: list[tuple[Term, TermConstraint | None, str]] = []
        for term in terms:
            tc, warning = term_constraint(term, self.tokenizer)
            spelling, spelling_warning = self._spelling(term)
            if tc is None:
                out.warnings.append(str(warning))
            elif spelling_warning:
                out.warnings.append(spelling_warning)
            built.append((term, tc, spelling))
        usable = [tc for _, tc, _ in built if tc is not None]
        require = getattr(model, "require", None)
        if require is not None:  # a shortlist never hides a term's target tokens
            require(t for tc in usable for alt in tc.constraint.alternatives for t in alt)
        if not usable:
            hyp = beam_search(model, piece, cfg)
            out.terms.extend(TermResult(t.source, t.targets, None, spelling) for t, _, spelling in built)
            return hyp, None
        hyp = constrained_beam_search(
            model,
            piece,
            cfg,
            [tc.constraint for tc in usable],
            self.tokenizer.word_continuations,
            self.tokenizer.word_ends,
        )
        dropped = bool(hyp.extra.get("constraints_dropped"))
        out.constraints_dropped = out.constraints_dropped or dropped
        met = hyp.extra.get("met")
        alternatives = iter(met if isinstance(met, list) else [-1] * len(usable))
        source_tokens = target_tokens = 0
        for term, tc, spelling in built:
            alt = next(alternatives) if tc is not None else -1
            produced = tc.forms[alt] if tc is not None and alt >= 0 else None
            out.terms.append(TermResult(term.source, term.targets, produced, spelling))
            if tc is not None and alt >= 0:
                source_tokens += len(self.tokenizer.encode(term.source, add_eos=False))
                target_tokens += len(tc.constraint.alternatives[alt])
        return hyp, None if dropped else (source_tokens, target_tokens)

    def _spelling(self, term: Term) -> tuple[str, str | None]:
        """Section 1.5: the worst spelling of the term's target forms as written, and a warning when it is
        not ``ok`` (none for a term that cannot be spelled at all: it is skipped with its own warning)."""
        tok = self.tokenizer
        forms = [f.strip() for f in term.targets if f.strip()]
        each = [piece_spelling(tok.target_pieces(f), tok.piece_to_id, tok.unk_id) for f in forms]
        spelling = worst(each)
        if spelling == OK or all(s == UNKNOWN for s in each):
            return spelling, None
        named = ", ".join(repr(f) for f, s in zip(forms, each, strict=True) if s == spelling)
        if spelling == BYTE_FALLBACK:
            return spelling, (
                f"target term {named} for {term.source!r} is spelled with byte-fallback pieces (characters "
                "the model's vocabulary lacks): the rest of the sentence may suffer"
            )
        return spelling, f"target term {named} for {term.source!r} has pieces the vocabulary lacks; skipped"

    def translate(
        self,
        texts: str | Sequence[str],
        options: TranslateOptions | None = None,
        glossary: Glossary | None = None,
        terms: Sequence[Sequence[Term]] | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> list[Translation]:
        """``translate_one`` for each text, in their order. ``terms``, when given, is one list of required
        terms per text (aligned with ``texts``).

        Pieces without terms, from all the texts, are decoded ``batch_size`` at a time (pieces of similar
        length together) where the model can batch (``start_batch``; else, and for ``batch_size`` 1, each
        text goes through ``translate_one``); pieces with terms are searched one at a time. The
        translations are the same either way. Timings in a batch run: ``tokenize_ms`` and the graph time
        of a text's own constrained pieces are its own; of each batch's encoder time every piece takes an
        equal share (its ``K`` rows), and of its decoder time and wall time a share in proportion to the
        steps the piece stayed in the batch (its rows times steps); ``steps`` counts those steps, as one
        at a time would. ``total_ms`` is the text's own work plus its shares."""
        if isinstance(texts, str):
            texts = [texts]
        if terms is not None and len(terms) != len(texts):
            raise InputError(f"{len(terms)} term lists for {len(texts)} texts")
        if batch_size < 1:
            raise InputError(f"batch size must be 1 or more, not {batch_size}")
        cfg = self.search_config(options)
        model = self.new_step_model()
        batched = _batch_model(model, batch_size)
        if batched is None:
            return [
                self.translate_one(t, options, glossary, terms[i] if terms is not None else ())
                for i, t in enumerate(texts)
            ]
        prepared = [
            self._prepare(t, glossary, terms[i] if terms is not None else ()) for i, t in enumerate(texts)
        ]
        free = [
            (i, p, seg.pieces[p])
            for i, (_, seg, per_piece) in enumerate(prepared)
            if seg is not None
            for p, piece_terms in enumerate(per_piece)
            if not piece_terms
        ]
        searched: list[dict[int, Hypothesis]] = [{} for _ in texts]
        for batch in length_batches([len(ids) for _, _, ids in free], batch_size):
            enc0, step0, _ = _graph_time(model)
            began = time.perf_counter()
            found = batch_search_steps(batched, [free[j][2] for j in batch], cfg, self._pad_id)
            wall = time.perf_counter() - began
            enc1, step1, _ = _graph_time(model)
            row_steps = sum(steps for _, steps in found)
            for j, (hyp, steps) in zip(batch, found, strict=True):
                i, p, _ = free[j]
                searched[i][p] = hyp
                timings = prepared[i][0].timings
                timings.encode_ms += (enc1 - enc0) * 1000 / len(found)
                timings.decode_ms += (step1 - step0) * 1000 * steps / row_steps
                timings.total_ms += wall * 1000 * steps / row_steps
                timings.steps += steps
        for (out, seg, per_piece), done in zip(prepared, searched, strict=True):
            if seg is None:
                continue
            began = time.perf_counter()
            enc0, step0, steps0 = _graph_time(model)
            self._assemble(out, seg, per_piece, cfg, model, done)  # searches the pieces with terms
            enc1, step1, steps1 = _graph_time(model)
            timings = out.timings
            timings.encode_ms += (enc1 - enc0) * 1000
            timings.decode_ms += (step1 - step0) * 1000
            timings.steps += steps1 - steps0
            timings.total_ms += timings.tokenize_ms + (time.perf_counter() - began) * 1000
        return [out for out, _, _ in prepared]


def length_batches(lengths: list[int], size: int) -> list[list[int]]:
    """Indices into ``lengths`` in groups of at most ``size``, shortest first, so a batch pads little."""
    order = sorted(range(len(lengths)), key=lambda j: lengths[j])
    return [order[b : b + size] for b in range(0, len(order), size)]


def _batch_model(model: StepModel, batch_size: int) -> BatchStepModel | None:
    """``model`` as a batch model when it can decode several sentences at once and more than one is asked."""
    if batch_size > 1 and decodes_batches(model):
        return cast(BatchStepModel, model)
    return None
