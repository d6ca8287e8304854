"""The export pipeline: load -> validate -> transform -> check -> save.

``export_bundle(model, out_dir, ExportOptions(...))`` writes a bundle folder
(see docs/bundle.md) or raises a one-line ``PocketMTError`` and writes nothing.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from pocketmt.export.arch import ADAPTERS
from pocketmt.export.arch.base import StepGraphs as StepGraphsT
from pocketmt.export.checkpoint import Checkpoint, load_checkpoint
from pocketmt.export.compression.weight_formats import WEIGHT_FORMATS, rounded_codes
from pocketmt.export.eager import EagerGraphs
from pocketmt.export.errors import ExportError
from pocketmt.export.manifest_writer import build_manifest, file_entry, file_table
from pocketmt.export.reference import add_backend_records, reference_samples, write_reference
from pocketmt.export.self_check import ATOL, RTOL, compare_graphs
from pocketmt.export.shortlist import (
    DEFAULT_FREQUENT,
    DEFAULT_PER_TOKEN,
    ShortlistConfig,
    write_bundle_shortlist,
)
from pocketmt.export.signatures import GraphShapes
from pocketmt.io.corpus import read_lines
from pocketmt.io.tokenizer_files import bundle_tokenizer_files
from pocketmt.runtime import translator as runtime_translator
from pocketmt.runtime.beam_search import SearchConfig, beam_search
from pocketmt.runtime.bundle import Bundle
from pocketmt.runtime.errors import InputError
from pocketmt.runtime.manifest import MANIFEST_NAME, parse_manifest
from pocketmt.runtime.step import CachedStepModel, StepGraphs, make_step_model
from pocketmt.runtime.tokenizer import MarianTokenizer
from pocketmt.runtime.translator import TranslateOptions, Translator, search_config

FORMATS = ("pte", "onnx")
REFERENCE_FILE = "reference.json"
PARITY_SENTENCES = 200
PARITY_MIN_AGREEMENT = 0.95
# Short everyday sentences recorded (with the eager model's output) for `pocketmt verify`.
REFERENCE_TEXTS = (
    "A dog runs through the snow.",
    "Two young children are playing on the beach.",
    "The man in the red jacket is reading a newspaper at the station.",
    "Hello!",
)


@dataclass(frozen=True)
class ExportOptions:
    formats: tuple[str, ...] = FORMATS
    max_source_len: int = 128
    max_target_len: int = 128
    beam_size: int = 4  # default beam, and the largest batch the graphs accept
    overwrite: bool = False
    weights: str = "fp32"  # stored weight format: fp32, fp16 or int8 (compression/weight_formats.py)
    # sentences for the greedy-token parity check of quantized checkpoints (up to PARITY_SENTENCES)
    parity_src: str | None = None
    # quantized linears in ONNX: "int8" activations (fast kernels), "fp32" (closest to eager), or
    # "auto": int8 where the export gate passes, else fp32 (``export_bundle``)
    lowbit_compute: str = "auto"
    # the ExecuTorch program's int8 linears of --weights int8: "int8" activations (XNNPACK's dynamically
    # quantized linears, one scale per token) or "fp32" (weight-only); ``export_bundle`` sets it from
    # ``lowbit_compute``, trying int8 first under "auto"
    pte_lowbit_compute: str = "fp32"
    # the ONNX decoder's step contract (docs/bundle.md): 2 grows the cache; 1 is the static cache of
    # schema 1 bundles, kept so that runtimes can be tested against them
    onnx_step_contract: int = 2
    # a vocabulary shortlist built from this parallel text (docs/decoding.md, section 12)
    shortlist_src: str | None = None
    shortlist_tgt: str | None = None
    shortlist_frequent: int = DEFAULT_FREQUENT
    shortlist_per_token: int = DEFAULT_PER_TOKEN


@dataclass
class ExportReport:
    bundle: Path
    seconds: dict[str, float] = field(default_factory=dict)
    files: dict[str, int] = field(default_factory=dict)
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)


def _validate_options(options: ExportOptions) -> None:
    unknown = [f for f in options.formats if f not in FORMATS]
    if unknown or not options.formats:
        raise ExportError(
            f"unknown format {', '.join(unknown) or '(none)'}; choose from {', '.join(FORMATS)}"
        )
    if options.onnx_step_contract not in (1, 2):
        raise ExportError(f"the ONNX step contract is 1 or 2, not {options.onnx_step_contract}")
    if options.lowbit_compute not in _COMPUTE_ATTEMPTS:
        raise ExportError(f"lowbit compute must be auto, int8 or fp32, not {options.lowbit_compute!r}")
    if options.weights not in WEIGHT_FORMATS:
        raise ExportError(
            f"unknown weight format {options.weights!r}; choose from {', '.join(WEIGHT_FORMATS)}"
        )
    for name in ("max_source_len", "max_target_len", "beam_size"):
        if getattr(options, name) < 1:
            raise ExportError(f"{name.replace('_', '-')} must be at least 1")
    if (options.shortlist_src is None) != (options.shortlist_tgt is None):
        raise ExportError("a shortlist needs both --shortlist-src and --shortlist-tgt")
    for flag, name in (
        ("--shortlist-src", options.shortlist_src),
        ("--shortlist-tgt", options.shortlist_tgt),
    ):
        if name is not None and not Path(name).is_file():
            raise ExportError(f"{flag} {name}: file not found")
    if options.shortlist_frequent < 0 or options.shortlist_per_token < 0:
        raise ExportError("shortlist sizes must be 0 or more")
    if options.parity_src and not Path(options.parity_src).is_file():
        raise ExportError(f"--parity-src {options.parity_src}: file not found")


def _reference_samples(
    tokenizer: MarianTokenizer,
    eager: CachedStepModel,
    cfg_greedy: SearchConfig,
    cfg_beam: SearchConfig,
    max_source_len: int,
) -> list[dict[str, Any]]:
    return reference_samples(REFERENCE_TEXTS, tokenizer, eager, cfg_greedy, cfg_beam, max_source_len)


def _write_reference(
    staging: Path,
    manifest: Any,
    samples: list[dict[str, Any]],
    checks: dict[str, dict[str, Any]],
    eager: CachedStepModel,
    greedy_cfg: SearchConfig,
    beam_cfg: SearchConfig,
) -> None:
    """``reference.json``. A low-bit bundle's checks hold each backend's own tokens: they are recorded
    per backend, force-scored by that backend's graphs and by eager (the reference ``verify`` holds
    each backend to), and leave the check results."""
    bundle = Bundle(staging, manifest)
    for backend, check in checks.items():
        if "tokens" in check:
            own = make_step_model(runtime_translator.load_graphs(bundle, backend), manifest)
            add_backend_records(samples, backend, check.pop("tokens"), own, eager, greedy_cfg, beam_cfg)
    write_reference(staging / REFERENCE_FILE, samples)


def _parity_sources(tokenizer: MarianTokenizer, options: ExportOptions) -> list[list[int]]:
    """Source ids for the quantized parity check: ``parity_src`` (first 200 lines) or the reference texts."""
    if options.parity_src:
        texts = [t for t in read_lines(options.parity_src) if t.strip()][:PARITY_SENTENCES]
    else:
        texts = list(REFERENCE_TEXTS)
    out = []
    for text in texts:
        ids = tokenizer.encode(text)[: options.max_source_len]
        ids[-1] = tokenizer.eos_id
        out.append(ids)
    return out


def _probe_ids(vocab_size: int, special: set[int], max_source_len: int) -> list[list[int]]:
    rng = np.random.default_rng(1234)
    usable = np.asarray([i for i in range(vocab_size) if i not in special])
    lengths = sorted({min(3, max_source_len), min(11, max_source_len), max_source_len})
    return [[int(x) for x in rng.choice(usable, size=n)] for n in lengths]


def load_step_graphs(model: str | Path, options: ExportOptions) -> tuple[Checkpoint, StepGraphsT]:
    """Load and validate a checkpoint, and build its step-contract graphs."""
    ckpt = load_checkpoint(model)
    if ckpt.quantization is not None:
        if options.weights != "fp32":
            raise ExportError(
                f"{ckpt.path}: a quantized checkpoint ({ckpt.quantization.policy_name}) stores its own "
                "weight formats; drop --weights"
            )
    else:
        ckpt.rounded = rounded_codes(ckpt.model, options.weights)
    try:
        graphs = ADAPTERS[ckpt.config["model_type"]].build_step_graphs(
            ckpt.model, options.max_target_len, options.max_source_len
        )
    except ValueError as exc:
        raise ExportError(f"{ckpt.path}: {exc}") from exc
    if options.max_source_len > graphs.max_positions:
        raise ExportError(
            f"max source length {options.max_source_len} exceeds the model's {graphs.max_positions} positions"
        )
    return ckpt, graphs


def eager_translator(model: str | Path, options: ExportOptions | None = None) -> Translator:
    """A runtime ``Translator`` over the eager PyTorch model of a checkpoint folder, with the same
    tokenizer, search and limits an exported bundle would have: compare before and after export."""
    options = options or ExportOptions()
    _validate_options(options)
    ckpt, graphs = load_step_graphs(model, options)
    files = {name: file_entry(ckpt.path / name) for name in set(bundle_tokenizer_files(ckpt.path).values())}
    # an in-memory manifest: the graphs entry only satisfies the schema, the eager graphs are passed directly
    manifest = parse_manifest(
        build_manifest(
            ckpt,
            graphs,
            options,
            {"onnx": {"encode": "-", "decode_step": "-"}},
            files,
            reference=REFERENCE_FILE,
        )
    )
    return Translator(Bundle(ckpt.path, manifest), "eager", graphs=EagerGraphs(graphs))


def _build_shortlist(
    staging: Path,
    tokenizer: MarianTokenizer,
    graphs: StepGraphsT,
    options: ExportOptions,
    say: Callable[[str], None],
) -> dict[str, Any] | None:
    """``shortlist.safetensors`` in ``staging`` from ``options``' parallel text; its manifest entry."""
    if options.shortlist_src is None or options.shortlist_tgt is None:
        return None
    say("building the vocabulary shortlist")
    config = ShortlistConfig(
        options.shortlist_src, options.shortlist_tgt, options.shortlist_frequent, options.shortlist_per_token
    )
    try:
        return write_bundle_shortlist(
            staging, config, tokenizer, graphs.dims.vocab_size, never={graphs.special.pad_id}
        )
    except (InputError, ValueError) as exc:
        raise ExportError(f"shortlist: {exc}") from exc


class _ParityError(ExportError):
    """A backend's greedy agreement with eager fell under the gate."""

    def __init__(self, message: str, backend: str, measured: str = "") -> None:
        super().__init__(message)
        self.backend = backend
        self.measured = measured


def export_bundle(
    model: str | Path,
    out_dir: str | Path,
    options: ExportOptions | None = None,
    progress: Callable[[str], None] | None = None,
) -> ExportReport:
    """Export ``model`` to a bundle in ``out_dir``.

    Quantized linears in ONNX compute with the fastest kernels that pass the export gate (greedy
    tokens equal to eager on 95% of the parity sentences), in this order: int8 activations, the
    encoder's per-row int8 linears quantizing per call (``DynamicQuantizeMatMul``); int8 activations,
    row-wise as the decoder's; and, for ``lowbit_compute="auto"`` (the default), fp32 activations.
    The ExecuTorch program of ``--weights int8`` is tried apart from them: int8 activations per token
    (XNNPACK's ``qd8`` linears), then, under ``"auto"``, fp32 ones (weight-only linears).
    ``"int8"`` and ``"fp32"`` keep to their own kind and refuse what fails the gate."""
    options = options or ExportOptions()
    say = progress or (lambda _msg: None)
    _validate_options(options)
    attempts = _COMPUTE_ATTEMPTS[options.lowbit_compute]
    # the program's kernels, tried apart from ONNX's: each backend has its own gate result
    pte_attempts = _PTE_ATTEMPTS[options.lowbit_compute] if options.weights == "int8" else ("fp32",)
    i = j = 0
    while True:
        (compute, per_call), pte = attempts[i], pte_attempts[j]
        try:
            once = replace(options, lowbit_compute=compute, pte_lowbit_compute=pte)
            return _export_once(model, out_dir, once, say, per_call)
        except _ParityError as exc:
            if exc.backend == "onnx" and i + 1 < len(attempts):
                i += 1
                tried, then = _ATTEMPT_NAMES[compute, per_call], _ATTEMPT_NAMES[attempts[i]]
            elif exc.backend == "executorch" and j + 1 < len(pte_attempts):
                j += 1
                tried, then = f"ExecuTorch: {pte} activations", f"{pte_attempts[j]} activations in ExecuTorch"
            else:
                raise
            say(f"{tried} missed the export gate ({exc.measured}): exporting again with {then}")


# lowbit_compute -> the (activations, per-call encoder) kernels tried in turn
_COMPUTE_ATTEMPTS = {
    "auto": (("int8", True), ("int8", False), ("fp32", False)),
    "int8": (("int8", True), ("int8", False)),
    "fp32": (("fp32", False),),
}
# lowbit_compute -> the activations of the ExecuTorch program's int8 linears tried in turn (--weights int8)
_PTE_ATTEMPTS = {"auto": ("int8", "fp32"), "int8": ("int8",), "fp32": ("fp32",)}
_ATTEMPT_NAMES = {
    ("int8", True): "int8 activations quantized per call in the encoder",
    ("int8", False): "row-wise int8 activations in the encoder",
    ("fp32", False): "fp32 activations (--lowbit-compute fp32)",
}


def _pte_compute(ckpt: Checkpoint, options: ExportOptions) -> str:
    """The activations of the program's int8 linears: ``options.pte_lowbit_compute`` for the codes of
    --weights int8; a ``pocketmt quantize`` checkpoint keeps ``pte_quantized``'s own policy."""
    return options.pte_lowbit_compute if ckpt.rounded else "fp32"  # rounded: --weights int8 only


def _pte_int8_policy(ckpt: Checkpoint, options: ExportOptions) -> Callable[[str, str], bool] | None:
    """Every linear on int8 activations (XNNPACK's ``qd8`` kernels: one scale per token, so a batch
    still computes as its rows one at a time), or None: ``pte_quantized``'s default policy."""
    if _pte_compute(ckpt, options) != "int8":
        return None
    return lambda _name, _role: True


def _export_once(
    model: str | Path,
    out_dir: str | Path,
    options: ExportOptions,
    say: Callable[[str], None],
    encoder_per_call: bool,
) -> ExportReport:
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out}: exists and is not a folder")
    if out.exists() and any(out.iterdir()) and not options.overwrite:
        raise ExportError(f"{out}: folder exists and is not empty (pass --overwrite to replace it)")
    try:  # where the bundle is staged: a parent that cannot be a folder fails now, not after the export
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"{out}: cannot create its folder {out.parent} ({exc.strerror})") from exc

    began = time.perf_counter()
    say("loading checkpoint")
    ckpt, graphs = load_step_graphs(model, options)
    report = ExportReport(out)
    report.seconds["load"] = time.perf_counter() - began
    shapes = GraphShapes(graphs.dims, options.beam_size, options.max_source_len, options.max_target_len)

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        tok_names = bundle_tokenizer_files(ckpt.path)
        for name in set(tok_names.values()):
            shutil.copyfile(ckpt.path / name, staging / name)
        tokenizer = MarianTokenizer(*(staging / tok_names[k] for k in ("source_spm", "target_spm", "vocab")))
        shortlist_entry = _build_shortlist(staging, tokenizer, graphs, options, say)
        graph_entries: dict[str, dict[str, Any]] = {}
        if "pte" in options.formats:
            say("exporting ExecuTorch program (XNNPACK)")
            t0 = time.perf_counter()
            from pocketmt.export.to_executorch import export_pte

            # the codes of a quantized checkpoint or of --weights int8: the program keeps them low-bit
            quantized = ckpt.quantization.tensors if ckpt.quantization else (ckpt.rounded or None)
            graph_entries["executorch"] = export_pte(
                graphs, shapes, staging / "model.pte", quantized, _pte_int8_policy(ckpt, options)
            )
            report.seconds["executorch"] = time.perf_counter() - t0
        if "onnx" in options.formats:
            say("exporting ONNX graphs")
            t0 = time.perf_counter()
            from pocketmt.export.to_onnx import export_onnx

            # a quantized checkpoint's codes, or those of --weights int8: MatMulNBits computes on them
            quantized = ckpt.quantization.tensors if ckpt.quantization else (ckpt.rounded or None)
            graph_entries["onnx"] = export_onnx(
                graphs,
                shapes,
                staging,
                quantized,
                options.lowbit_compute,
                options.onnx_step_contract,
                shortlist=shortlist_entry is not None,
                encoder_per_call=encoder_per_call,
            )
            report.seconds["onnx"] = time.perf_counter() - t0

        files = file_table(staging)
        draft = build_manifest(ckpt, graphs, options, graph_entries, files, reference=REFERENCE_FILE)
        if shortlist_entry is not None:
            draft["shortlist"] = shortlist_entry
        manifest = parse_manifest(draft)
        eager_graphs = EagerGraphs(graphs)
        eager = CachedStepModel(eager_graphs, manifest)
        greedy_cfg = search_config(manifest, TranslateOptions(beam_size=1))
        beam_cfg = search_config(manifest, TranslateOptions(beam_size=options.beam_size))

        say("recording reference translations")
        samples = _reference_samples(tokenizer, eager, greedy_cfg, beam_cfg, options.max_source_len)

        say("checking exported graphs against eager")
        t0 = time.perf_counter()
        special = {manifest.tokens.pad_id, manifest.tokens.eos_id}
        probes = _probe_ids(graphs.dims.vocab_size, special, options.max_source_len)
        parity = None
        # int8-activation kernels: (source ids, eager greedy tokens), computed once for every backend
        if ckpt.quantization or (
            ckpt.rounded and "int8" in (options.lowbit_compute, _pte_compute(ckpt, options))
        ):
            parity = [
                (ids, beam_search(eager, ids, greedy_cfg).tokens)
                for ids in _parity_sources(tokenizer, options)
            ]
        checks = _check_backends(
            staging,
            manifest,
            eager_graphs,
            probes,
            samples,
            greedy_cfg,
            beam_cfg,
            graphs.dims,
            options,
            parity,
        )
        _write_reference(staging, manifest, samples, checks, eager, greedy_cfg, beam_cfg)
        report.seconds["check"] = time.perf_counter() - t0
        if shortlist_entry is not None and "onnx" in checks:
            checks["onnx"]["shortlist_step"] = _check_shortlist_step(staging, manifest, probes)
        report.checks = checks

        files[REFERENCE_FILE] = file_entry(staging / REFERENCE_FILE)
        final = {**draft, "files": files, "export_check": {"atol": ATOL, "rtol": RTOL, "backends": checks}}
        parse_manifest(final)
        (staging / MANIFEST_NAME).write_text(json.dumps(final, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    report.files = {p.name: p.stat().st_size for p in sorted(out.iterdir())}
    report.seconds["total"] = time.perf_counter() - began
    return report


def _check_shortlist_step(staging: Path, manifest: Any, probes: list[list[int]]) -> dict[str, Any]:
    """The ONNX step over a vocabulary subset against the full step on the same graphs: each probe
    decoded greedily for a few steps by both, the subset's logits renormalized over the subset on both
    sides, within the export tolerances."""
    from pocketmt.runtime.shortlist import load_shortlist

    graphs = runtime_translator.load_graphs(Bundle(staging, manifest), "onnx")
    if not getattr(graphs, "has_shortlist_step", False):
        return {"graph": False}
    shortlist = load_shortlist(staging / manifest.raw["shortlist"]["file"], manifest.model.vocab_size)
    worst = 0.0
    for source in probes:
        ids = shortlist.candidates(source, (manifest.tokens.eos_id,))
        full, part = make_step_model(graphs, manifest), make_step_model(graphs, manifest)
        full.start(source, rows=1)
        part.start(source, rows=1)
        token = manifest.tokens.decoder_start_id
        for _ in range(min(4, manifest.limits.max_target_len)):
            a = full.step([token])[:, ids]
            b = part.step_restricted([token], ids)  # type: ignore[attr-defined]
            a = a - np.logaddexp.reduce(a, axis=1, keepdims=True)
            b = b - np.logaddexp.reduce(b, axis=1, keepdims=True)
            diff = np.abs(a - b)
            worst = max(worst, float(diff.max()))
            if not np.all(diff <= ATOL + RTOL * np.abs(a)):
                raise ExportError(
                    f"refusing to write the bundle: the ONNX shortlist step differs from the full step "
                    f"by {float(diff.max()):.3g} (tolerance atol={ATOL}, rtol={RTOL})"
                )
            token = int(ids[int(np.argmax(b[0]))])
    return {"graph": True, "max_abs_log_prob_diff": worst}


def _check_backends(
    staging: Path,
    manifest: Any,
    eager: StepGraphs,
    probes: list[list[int]],
    samples: list[dict[str, Any]],
    greedy_cfg: SearchConfig,
    beam_cfg: SearchConfig,
    dims: Any,
    options: ExportOptions,
    parity: list[tuple[list[int], list[int]]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Exported graphs against eager. Unquantized: log-probs within tolerance and reference tokens
    identical. Quantized (``parity`` given): low-bit kernels may compute with int8 activations, so the
    check is greedy tokens identical to eager on at least 95% of the parity sentences."""
    bundle = Bundle(staging, manifest)
    results: dict[str, dict[str, Any]] = {}
    for backend in manifest.backends:
        exported = runtime_translator.load_graphs(bundle, backend)  # by attribute: tests wrap it
        rows = min(2, options.beam_size) if options.beam_size > 1 else 1
        worst_lp, worst_cross, problems = compare_graphs(
            backend,
            exported,
            eager,
            probes,
            options.max_target_len,
            dims.decoder_layers,
            dims.attention_heads,
            dims.head_dim,
            rows,
        )
        model = make_step_model(exported, manifest)
        mismatches = 0
        tokens = []
        for sample in samples:
            greedy = beam_search(model, sample["source_ids"], greedy_cfg).tokens
            beam = beam_search(model, sample["source_ids"], beam_cfg).tokens
            mismatches += (greedy != sample["greedy"]) + (beam != sample["beam"])
            tokens.append({"greedy": greedy, "beam": beam})
        extra: dict[str, Any] = {}
        if parity is not None:
            same = sum(beam_search(model, ids, greedy_cfg).tokens == want for ids, want in parity)
            agreement = same / len(parity)
            extra = {
                "parity_sentences": len(parity),
                "greedy_agreement": round(agreement, 4),
                "tokens": tokens,
            }
            problems = []  # tolerances do not apply to int8-activation kernels; agreement does
            if agreement < PARITY_MIN_AGREEMENT:
                problems.append(
                    f"{backend}: greedy tokens agree with eager on {agreement:.1%} of {len(parity)} "
                    f"sentences, under {PARITY_MIN_AGREEMENT:.0%}"
                    + (
                        " (try --lowbit-compute fp32)"
                        if backend == "onnx" or options.pte_lowbit_compute == "int8"
                        else " (its blockwise-int4 linears take int8 activations: a per-channel scheme runs on fp32 ones)"
                    )
                )
        elif mismatches:
            problems.append(f"{backend}: {mismatches} reference translations differ from eager")
        if problems:
            if parity is not None:
                raise _ParityError(
                    f"refusing to write the bundle: {problems[0]}",
                    backend,
                    f"greedy agreement {agreement:.1%} of {len(parity)} sentences",
                )
            raise ExportError(
                f"refusing to write the bundle: {problems[0]} (tolerance atol={ATOL}, rtol={RTOL})"
            )
        results[backend] = {
            "max_abs_log_prob_diff": worst_lp,
            "max_abs_cross_kv_diff": worst_cross,
            "reference_token_mismatches": mismatches,
            **extra,
        }
    return results
