"""``pocketmt bench``: how fast a bundle translates on this machine, and how that compares with
CTranslate2 int8 on the same checkpoint, in the same run.

What one run measures (docs/bench.md lists every field of the result):

* latency of a call, text in to text out (tokenizing, splitting long inputs, encoding, every decoder
  step, detokenizing): one sentence per call, or one batch of ``batch`` sentences per call; median and
  90th percentile (linear interpolation between the two nearest calls);
* tokens/s and sentences/s: target tokens generated (EOS not counted) and sentences, over the summed
  latencies of the calls;
* load time: opening the bundle, checking its files' sha256 and creating the backend's sessions (the
  backend's libraries are imported before the clock starts; their import time is reported apart);
* time to first token: from the start of a call to the return of its first decoder step, so
  tokenizing, encoding and one step (the search holds the first token's log-probabilities then; a beam
  search commits to no token before it ends, so at beam > 1 this is the time to the first step);
* peak RSS: the process's high-water mark (``VmHWM`` of /proc/self/status, ``ru_maxrss`` elsewhere).

With ``against="ctranslate2"`` the checkpoint is converted once with CTranslate2's
``TransformersConverter`` (int8, in a child process so that the converter's torch and transformers stay
out of this process's memory) into a cache under ``~/.cache/pocketmt/ct2``; both engines then
translate the same calls, alternating call by call (the engine that goes first swaps every call), and
both are fed the ids of the bundle's tokenizer: CTranslate2 takes token strings, so the bundle's ids
are written as the bundle's pieces, after checking that the converted vocabulary gives every piece the
bundle's id.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from pocketmt.io.corpus import read_lines
from pocketmt.runtime.backends.registry import backend as backend_entry
from pocketmt.runtime.beam_search import SearchConfig
from pocketmt.runtime.bundle import Bundle
from pocketmt.runtime.errors import InputError
from pocketmt.runtime.manifest import Manifest
from pocketmt.runtime.segment import segment
from pocketmt.runtime.step import F32, StepModel
from pocketmt.runtime.tokenizer import MarianTokenizer
from pocketmt.runtime.translator import TranslateOptions, Translator

ENGINES = ("ctranslate2",)
CT2_COMPUTE_TYPE = "int8"
CT2_INSTALL = "pip install 'pocketmt[bench]' (or pip install ctranslate2)"

# what a batch is to the runtime: one batched search (runtime/batch_search.py) on step-contract-2
# graphs, one sentence after another for others
POCKETMT_BATCHING = (
    "batched: Translator.translate decodes the call's sentences together (sentences x beams rows per "
    "graph call) on step-contract-2 graphs, one after another on contract-1 graphs"
)
FIRST_STEP_NOTE = (
    "start of the call to the return of the first decoder step (tokenize, encode, one step); "
    "at beam > 1 no token is committed before the search ends, so this is the time to the first step"
)
CT2_FIRST_STEP_NOTE = (
    "not measured: CTranslate2 reports tokens as they come only through a per-token Python callback "
    "(greedy only), which would add to the latency being compared"
)

# a child process converts the checkpoint (torch and transformers stay out of the measured process)
_CONVERT = (
    "import sys\n"
    "from ctranslate2.converters import TransformersConverter\n"
    "TransformersConverter(sys.argv[1]).convert(sys.argv[2], quantization=sys.argv[3], force=True)\n"
)


@dataclass(frozen=True)
class BenchConfig:
    bundle: Path
    src: Path
    ref: Path | None = None
    beam: int | None = None  # None: the bundle's default beam
    threads: int = 0  # 0: as many as the CPUs this process may run on
    batch: int = 1
    backend: str | None = None
    limit: int = 0  # 0: every sentence
    against: str | None = None
    checkpoint: Path | None = None
    warmup: int = 1  # untimed calls per engine before the timed ones
    shortlist: bool = True  # the bundle's vocabulary shortlist, where it has one


@dataclass
class Call:
    """One timed call of an engine: a sentence, or a batch of them."""

    texts: list[str]
    tokens: int  # generated target tokens, EOS not counted
    seconds: float
    first_step_seconds: float | None  # None: not measured, or no model call (empty text)


@dataclass
class EngineRun:
    name: str
    load_s: float
    info: dict[str, Any]
    calls: list[Call] = field(default_factory=list)
    rss_growth_mb: float | None = None  # resident memory added by loading and warming up this engine
    peak_rss_mb: float | None = None

    @property
    def hypotheses(self) -> list[str]:
        return [text for call in self.calls for text in call.texts]


# ---------------------------------------------------------------- memory and machine


def _status_kb(field_name: str) -> float | None:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field_name + ":"):
                    return float(line.split()[1])
    except OSError:
        return None
    return None


def rss_mb() -> float | None:
    """Resident memory of this process now (MB), where /proc has it."""
    kb = _status_kb("VmRSS")
    return None if kb is None else kb / 1e3


def peak_rss_mb() -> float:
    """The process's peak resident memory so far (MB)."""
    kb = _status_kb("VmHWM")
    if kb is None:  # not Linux: ru_maxrss is kB on Linux and BSD, bytes on macOS
        raw = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        kb = raw / 1024 if sys.platform == "darwin" else raw
    return float(kb) / 1e3


def _cpu_model() -> str:
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def describe_machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "cpu": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "affinity": affinity,  # the CPUs this process may run on (taskset -c ...)
        "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": {
            name: _version(name) for name in ("numpy", "onnxruntime", "executorch", "torch", "ctranslate2")
        },
        "nice": os.nice(0) if hasattr(os, "nice") else None,  # this process's scheduling niceness
        "env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY") if k in os.environ},
    }


def default_threads() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


# ---------------------------------------------------------------- statistics


def summarize(values: Sequence[float]) -> dict[str, float]:
    """Median, 90th percentile (linear between the two nearest values) and mean, in the values' unit."""
    if not values:
        raise InputError("nothing was timed")
    ordered = sorted(values)
    p90 = statistics.quantiles(ordered, n=10, method="inclusive")[8] if len(ordered) > 1 else ordered[0]
    return {
        "median": round(statistics.median(ordered), 3),
        "p90": round(p90, 3),
        "mean": round(statistics.fmean(ordered), 3),
    }


def bleu(hypotheses: list[str], references: list[str]) -> dict[str, Any]:
    import sacrebleu

    metric = sacrebleu.metrics.BLEU()
    score = metric.corpus_score(hypotheses, [references])
    return {"bleu": round(score.score, 2), "bleu_signature": str(metric.get_signature())}


# ---------------------------------------------------------------- pocketmt


class FirstStepClock:
    """Stands in for the translator's step model and notes when the first decoder step of a call returns;
    everything else goes to the model it wraps (the translator reads its timing counters)."""

    def __init__(self, model: StepModel) -> None:
        self._model = model
        self.first_step_at: float | None = None

    def arm(self) -> None:
        self.first_step_at = None

    def start(self, source_ids: list[int], rows: int) -> None:
        self._model.start(source_ids, rows)

    def step(self, tokens: list[int]) -> F32:
        out = self._model.step(tokens)
        if self.first_step_at is None:
            self.first_step_at = time.perf_counter()
        return out

    def reorder(self, parents: list[int]) -> None:
        self._model.reorder(parents)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)


def open_translator(
    bundle: Bundle, backend: str, threads: int, shortlist: bool = True
) -> tuple[Translator, str]:
    """The bundle's translator on ``backend``, and how many threads it computes with.

    The backend registry opens graphs with the libraries' default thread counts, so ONNX Runtime's
    sessions are made here, through ``open_graphs(threads=...)``; ExecuTorch's one thread pool of the
    process is resized to ``threads`` the same way (the library sizes it from the machine's cores, not
    from the process's affinity, so under ``taskset -c 0`` it would keep two threads on one core)."""
    if backend in ("onnx", "executorch"):
        bundle.check_backend_files(backend)
    if backend == "onnx":
        from pocketmt.runtime.backends.onnx_backend import open_graphs

        graphs = open_graphs(bundle, threads=threads, shortlist=shortlist)
        translator = Translator(bundle, "onnx", graphs=graphs, check_integrity=False, shortlist=shortlist)
        return translator, f"ONNX Runtime intra_op_num_threads={threads}"
    if backend == "executorch":
        from pocketmt.runtime.backends import executorch_backend
        from pocketmt.runtime.backends.registry import require_installed

        require_installed("executorch", bundle.manifest.backends)
        graphs = executorch_backend.open_graphs(bundle, threads=threads)
        translator = Translator(
            bundle, "executorch", graphs=graphs, check_integrity=False, shortlist=shortlist
        )
        return translator, f"ExecuTorch thread pool of {executorch_backend.pool_threads()} threads"
    translator = Translator(bundle, backend, shortlist=shortlist)
    return translator, f"{backend}: the library's default threads"


class PocketEngine:
    name = "pocketmt"

    def __init__(
        self,
        bundle_path: Path,
        backend: str | None,
        threads: int,
        beam: int | None,
        shortlist: bool = True,
    ) -> None:
        bundle = Bundle.open(bundle_path)
        self.backend = bundle.resolve_backend(backend)
        began = time.perf_counter()
        for module in backend_entry(self.backend).requires:
            importlib.import_module(module)
        self.import_s = time.perf_counter() - began
        began = time.perf_counter()
        self.translator, self.threads_note = open_translator(bundle, self.backend, threads, shortlist)
        entry = bundle.manifest.raw.get("shortlist")
        self.shortlist_note = (
            "none in the bundle"
            if entry is None
            else "off (--no-shortlist)"
            if self.translator.shortlist is None
            else f"on ({entry['frequent']} frequent + {entry['per_token']} per source token)"
        )
        self.load_s = time.perf_counter() - began
        self.options = TranslateOptions(beam_size=beam)
        self.search: SearchConfig = self.translator.search_config(self.options)  # checks the beam
        self.clock = FirstStepClock(self.translator.model)
        self.translator.model = self.clock  # type: ignore[assignment]

    @property
    def manifest(self) -> Manifest:
        return self.translator.manifest

    @property
    def tokenizer(self) -> MarianTokenizer:
        return self.translator.tokenizer

    def run(self, texts: list[str]) -> Call:
        self.clock.arm()
        began = time.perf_counter()
        outs = self.translator.translate(texts, self.options, batch_size=max(1, len(texts)))
        seconds = time.perf_counter() - began
        first = None if self.clock.first_step_at is None else self.clock.first_step_at - began
        eos = self.tokenizer.eos_id
        tokens = sum(len(o.token_ids) - o.token_ids.count(eos) for o in outs)
        return Call([o.text for o in outs], tokens, seconds, first)


# ---------------------------------------------------------------- CTranslate2


def require_ctranslate2() -> Any:
    try:
        import ctranslate2
    except ImportError as exc:
        raise InputError(
            f"--against ctranslate2 needs CTranslate2, which is not installed: {CT2_INSTALL}"
        ) from exc
    return ctranslate2


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pocketmt" / "ct2"


def checkpoint_key(checkpoint: Path, ct2_version: str) -> str:
    """A digest of the checkpoint's files (names and contents) and of the converter's version."""
    digest = hashlib.sha256(f"ctranslate2 {ct2_version} {CT2_COMPUTE_TYPE}\n".encode())
    for path in sorted(p for p in checkpoint.iterdir() if p.is_file() and not p.name.startswith(".")):
        digest.update(f"{path.name}\n".encode())
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def convert_checkpoint(checkpoint: Path, ct2_version: str) -> tuple[Path, float | None]:
    """The CTranslate2 int8 model of ``checkpoint`` in the cache (converted now if it is not there yet),
    and the seconds the conversion took (None: it was cached)."""
    if not (checkpoint / "config.json").is_file():
        raise InputError(f"--checkpoint {checkpoint}: not a Hugging Face checkpoint folder (no config.json)")
    root = cache_root()
    target = (
        root / f"{checkpoint.resolve().name}-{checkpoint_key(checkpoint, ct2_version)}-{CT2_COMPUTE_TYPE}"
    )
    if (target / "model.bin").is_file():
        return target, None
    try:
        root.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".converting-", dir=root))
    except OSError as exc:
        raise InputError(f"cannot write the CTranslate2 cache {root}: {exc.strerror}") from exc
    try:
        began = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", _CONVERT, str(checkpoint), str(work / "model"), CT2_COMPUTE_TYPE],
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - began
        if proc.returncode != 0:
            lines = [line for line in proc.stderr.splitlines() if line.strip()]
            last = lines[-1] if lines else f"exit code {proc.returncode}"
            raise InputError(f"CTranslate2 could not convert {checkpoint}: {last}")
        with contextlib.suppress(OSError):  # another run converted it meanwhile: keep that one
            os.replace(work / "model", target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target, seconds


def check_vocabulary(model_dir: Path, tokenizer: MarianTokenizer, checkpoint: Path) -> int:
    """Refuse a converted model whose vocabulary gives some piece another id than the bundle's (the two
    engines would not see the same ids). Returns the converted vocabulary's size."""
    names = ("shared_vocabulary.json", "source_vocabulary.json", "target_vocabulary.json")
    found = [model_dir / n for n in names if (model_dir / n).is_file()]
    if not found:
        raise InputError(f"{model_dir}: no vocabulary file in the converted model (looked for {names[0]})")
    size = 0
    for path in found:
        pieces = json.loads(path.read_text("utf-8"))
        for i, piece in enumerate(pieces):
            ours = tokenizer.id_to_piece.get(i)
            if ours != piece:
                raise InputError(
                    f"--checkpoint {checkpoint}: its vocabulary gives id {i} to {piece!r}, the bundle's to "
                    f"{ours!r}: the two engines would not see the same ids"
                )
        size = len(pieces)
    return size


class CTranslate2Engine:
    name = "ctranslate2"

    def __init__(
        self,
        checkpoint: Path,
        tokenizer: MarianTokenizer,
        manifest: Manifest,
        search: SearchConfig,
        threads: int,
        batch: int,
    ) -> None:
        ct2 = require_ctranslate2()
        self.version = str(ct2.__version__)
        self.model_dir, self.convert_s = convert_checkpoint(checkpoint, self.version)
        self.vocab_size = check_vocabulary(self.model_dir, tokenizer, checkpoint)
        self.tokenizer = tokenizer
        self.max_source_len = manifest.limits.max_source_len
        began = time.perf_counter()
        self.translator = ct2.Translator(
            str(self.model_dir),
            device="cpu",
            compute_type=CT2_COMPUTE_TYPE,
            intra_threads=threads,
            inter_threads=1,
        )
        self.load_s = time.perf_counter() - began
        # banned ids the converted vocabulary still has (its Marian converter drops <pad>)
        banned = [[tokenizer.id_to_piece[i]] for i in search.banned_ids if i < self.vocab_size]
        self.options: dict[str, Any] = {
            "beam_size": search.beam_size,
            "max_batch_size": batch,
            "max_decoding_length": search.max_new_tokens,
            "min_decoding_length": 0,  # EOS may come first, as in docs/decoding.md sections 4 and 5
            "length_penalty": search.length_penalty,
            "max_input_length": 0,  # the inputs are already split to the bundle's max source length
            "return_end_token": True,  # so that its length normalisation counts EOS, as section 3 does
            "num_hypotheses": 1,
        }
        if banned:
            self.options["suppress_sequences"] = banned

    def run(self, texts: list[str]) -> Call:
        tok = self.tokenizer
        began = time.perf_counter()
        pieces_per_text: list[int] = []
        batch: list[list[str]] = []
        for text in texts:
            if not text.strip():  # the runtime's rule: empty text, no model call
                pieces_per_text.append(0)
                continue
            seg = segment(text, tok.encode, self.max_source_len, tok.eos_id)
            pieces_per_text.append(len(seg.pieces))
            batch.extend([tok.id_to_piece[i] for i in ids] for ids in seg.pieces)
        results = self.translator.translate_batch(batch, **self.options) if batch else []
        out: list[str] = []
        tokens = 0
        at = 0
        for count in pieces_per_text:
            parts = []
            for result in results[at : at + count]:
                ids = [tok.piece_to_id.get(p, tok.unk_id) for p in result.hypotheses[0]]
                tokens += len(ids) - ids.count(tok.eos_id)
                parts.append(tok.decode(ids))
            at += count
            out.append(" ".join(p for p in parts if p))
        seconds = time.perf_counter() - began
        return Call(out, tokens, seconds, None)


def start_embedding_max(checkpoint: Path, start_id: int) -> float | None:
    """The largest magnitude in the checkpoint's embedding row of the decoder's start token (None: the
    weights could not be read). transformers and the bundle feed the decoder that row at its first
    step; CTranslate2's Marian converter feeds a zero vector instead (``start_from_zero_embedding``)."""
    path = checkpoint / "model.safetensors"
    if not path.is_file():
        return None
    try:
        import numpy as np
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as weights:
            names = set(weights.keys())
            for key in ("model.shared.weight", "model.decoder.embed_tokens.weight"):
                if key in names:
                    row = weights.get_slice(key)[start_id : start_id + 1]
                    return float(np.abs(np.asarray(row, dtype=np.float32)).max())
    except Exception:  # an unreadable dtype (bf16 in numpy) or file: the difference is then unknown
        return None
    return None


def decoding_differences(search: SearchConfig, start_row_max: float | None = None) -> list[str]:
    """Where CTranslate2's search, as called here, departs from docs/decoding.md."""
    start = (
        "first decoder input: CTranslate2's Marian converter starts the decoder from a zero vector "
        "(start_from_zero_embedding), transformers and the bundle from the embedding of "
        f"decoder_start_id {search.start_id}; "
    )
    if start_row_max is None:
        start += "this checkpoint's row could not be read, so whether they differ is not known"
    elif start_row_max == 0:
        start += "this checkpoint's row is zero, so they agree"
    else:
        start += (
            f"this checkpoint's row is not zero (largest |x| {start_row_max:.3g}), so CTranslate2 runs "
            "a slightly different model from the first step on"
        )
    out = [
        start,
        "forced EOS: the bundle allows only EOS at the last step (section 2); CTranslate2 has no "
        "forced EOS and returns the unfinished hypotheses at max_decoding_length (only sentences that "
        f"reach {search.max_new_tokens} tokens differ)"
        if search.forced_eos
        else "forced EOS: off in the bundle and in CTranslate2",
        "banned ids: CTranslate2's Marian converter drops <pad> from the vocabulary, so it is never "
        "generated, as banning it does; any other banned id goes to suppress_sequences",
        "arithmetic: CTranslate2 int8 kernels (weights and activations quantized by CTranslate2 from the "
        "checkpoint); pocketmt the bundle's stored formats, so scores and near-ties differ",
    ]
    if search.beam_size > 1:
        out += [
            "length normalisation: both score / length^alpha with EOS counted "
            f"(alpha {search.length_penalty}; return_end_token=True makes CTranslate2 count EOS)",
            "candidates: both take the 2K best and let EOS finish only within the first K (5.2, 5.3); "
            "equal scores follow CTranslate2's top-k, not the lower-flat-index rule of 5.2",
        ]
        if search.length_penalty == 0:
            out.append(
                "stopping: with length penalty 0 CTranslate2 stops as soon as its best beam finishes; "
                "the bundle waits for K finished hypotheses (5.4)"
            )
        else:
            out.append("stopping: both stop once K hypotheses have finished (CTranslate2 patience 1)")
    return out


# ---------------------------------------------------------------- the run


def _validate(cfg: BenchConfig) -> None:
    if cfg.batch < 1:
        raise InputError(f"--batch must be at least 1, got {cfg.batch}")
    if cfg.threads < 0:
        raise InputError(f"--threads must be 0 (default) or more, got {cfg.threads}")
    if cfg.limit < 0:
        raise InputError(f"--limit must be 0 (all) or more, got {cfg.limit}")
    if cfg.against is not None and cfg.against not in ENGINES:
        raise InputError(f"--against {cfg.against}: choose one of {', '.join(ENGINES)}")
    if cfg.against is not None and cfg.checkpoint is None:
        raise InputError(
            f"--against {cfg.against} needs --checkpoint (the Hugging Face folder of the bundle's model)"
        )
    if cfg.checkpoint is not None and cfg.against is None:
        raise InputError("--checkpoint is only used with --against ctranslate2")
    if cfg.checkpoint is not None and not cfg.checkpoint.is_dir():
        raise InputError(f"--checkpoint {cfg.checkpoint}: not a folder")


def _engine_json(run: EngineRun, unit: str, sentences: int, references: list[str] | None) -> dict[str, Any]:
    seconds = sum(c.seconds for c in run.calls)
    tokens = sum(c.tokens for c in run.calls)
    firsts = [c.first_step_seconds * 1000 for c in run.calls if c.first_step_seconds is not None]
    out: dict[str, Any] = {
        **run.info,
        "load_s": round(run.load_s, 4),
        "latency_ms": summarize([c.seconds * 1000 for c in run.calls]),
        "latency_unit": unit,
        "time_to_first_token_ms": summarize(firsts) if firsts else None,
        "tokens": tokens,
        "tokens_per_s": round(tokens / seconds, 1) if seconds else None,
        "sentences_per_s": round(sentences / seconds, 2) if seconds else None,
        "seconds": round(seconds, 3),
        "rss_growth_mb": None if run.rss_growth_mb is None else round(run.rss_growth_mb, 1),
        "peak_rss_mb": None if run.peak_rss_mb is None else round(run.peak_rss_mb, 1),
    }
    if references is not None:
        out.update(bleu(run.hypotheses, references))
    return out


def _progress(total: int) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc="bench", unit="call", file=sys.stderr, disable=None, leave=False)


def run_bench(cfg: BenchConfig, notice: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Measure per the module docstring; returns the result ``pocketmt bench --json`` prints."""
    _validate(cfg)
    sources = read_lines(cfg.src)
    references = read_lines(cfg.ref) if cfg.ref is not None else None
    if references is not None and len(references) != len(sources):
        raise InputError(f"--src has {len(sources)} lines but --ref has {len(references)}")
    if cfg.limit:
        sources = sources[: cfg.limit]
        references = references[: cfg.limit] if references is not None else None
    if not sources:
        raise InputError(f"{cfg.src}: no sentences")
    if cfg.against is not None:
        require_ctranslate2()  # before minutes of work, not after
    threads = cfg.threads or default_threads()
    machine = describe_machine()

    rss_before = rss_mb()
    pocket = PocketEngine(cfg.bundle, cfg.backend, threads, cfg.beam, cfg.shortlist)
    # warm up on the longest sentences: the first calls allocate, and the longest input reaches the
    # largest working set, so the peak below is the bundle's peak over the run
    longest = sorted(sources, key=len, reverse=True)[: max(cfg.warmup, 0)]
    for text in longest:
        pocket.run([text])
    runs = {
        pocket.name: EngineRun(
            pocket.name,
            pocket.load_s,
            {
                "engine": "pocketmt",
                "backend": pocket.backend,
                "threads": pocket.threads_note,
                "shortlist": pocket.shortlist_note,
                "import_s": round(pocket.import_s, 3),
                "time_to_first_token": FIRST_STEP_NOTE,
            },
        )
    }
    after = rss_mb()
    runs[pocket.name].rss_growth_mb = None if after is None or rss_before is None else after - rss_before
    runs[pocket.name].peak_rss_mb = peak_rss_mb()
    engines: list[Any] = [pocket]

    if cfg.against == "ctranslate2":
        assert cfg.checkpoint is not None
        if notice is not None:
            notice("converting the checkpoint with CTranslate2 (int8), or taking it from the cache")
        ct2 = CTranslate2Engine(
            cfg.checkpoint, pocket.tokenizer, pocket.manifest, pocket.search, threads, cfg.batch
        )
        for text in longest:
            ct2.run([text])
        now = rss_mb()
        runs[ct2.name] = EngineRun(
            ct2.name,
            ct2.load_s,
            {
                "engine": f"CTranslate2 {ct2.version}",
                "compute_type": CT2_COMPUTE_TYPE,
                "threads": f"intra_threads={threads}, inter_threads=1",
                "model_dir": str(ct2.model_dir),
                "convert_s": None if ct2.convert_s is None else round(ct2.convert_s, 1),
                "options": {k: v for k, v in ct2.options.items()},
                "time_to_first_token": CT2_FIRST_STEP_NOTE,
            },
            rss_growth_mb=None if now is None or after is None else now - after,
        )
        engines.append(ct2)

    chunks = [sources[i : i + cfg.batch] for i in range(0, len(sources), cfg.batch)]
    # one thread: the engines alternate call by call, so a load change hits both alike. More threads:
    # one engine runs all its calls, then the other, because each library's pool keeps its threads
    # spinning for a while after a call, on the cores the other engine would be using next
    sequential = threads > 1 and len(engines) > 1
    with _progress(len(chunks) * len(engines)) as bar:
        if sequential:
            for engine in engines:
                for chunk in chunks:
                    runs[engine.name].calls.append(engine.run(chunk))
                    bar.update(1)
        else:
            for number, chunk in enumerate(chunks):
                order = engines if number % 2 == 0 else engines[::-1]
                for engine in order:
                    runs[engine.name].calls.append(engine.run(chunk))
                    bar.update(1)
    if sequential:
        result_order = "one engine after the other (more than one thread: the pools would fight)"
    elif len(engines) > 1:
        result_order = "alternating call by call, the engine that goes first swapping every call"
    else:
        result_order = "one engine"
    process_peak = peak_rss_mb()
    if cfg.against is None:
        runs[pocket.name].peak_rss_mb = process_peak

    unit = "sentence" if cfg.batch == 1 else f"batch of up to {cfg.batch} sentences"
    result: dict[str, Any] = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "bundle": str(cfg.bundle),
        "model": pocket.manifest.model.get("source"),
        "tensor_formats": pocket.manifest.raw.get("tensor_formats"),
        "src": str(cfg.src),
        "ref": None if cfg.ref is None else str(cfg.ref),
        "sentences": len(sources),
        "calls": len(chunks),
        "beam": pocket.search.beam_size,
        "max_new_tokens": pocket.search.max_new_tokens,
        "length_penalty": pocket.search.length_penalty,
        "batch": cfg.batch,
        "threads": threads,
        "warmup_calls": len(longest),
        "order": result_order,
        "machine": machine,
        "engines": {name: _engine_json(run, unit, len(sources), references) for name, run in runs.items()},
        "process_peak_rss_mb": round(process_peak, 1),
        "notes": [],
    }
    result["machine"]["load_average_end"] = (
        [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None
    )
    notes: list[str] = result["notes"]
    if cfg.batch > 1:
        result["batching"] = {"pocketmt": POCKETMT_BATCHING}
        if cfg.against == "ctranslate2":
            result["batching"]["ctranslate2"] = f"batched: translate_batch with max_batch_size={cfg.batch}"
        notes.append(f"batch mode: pocketmt is {POCKETMT_BATCHING}")
    if cfg.against == "ctranslate2":
        mine, theirs = result["engines"]["pocketmt"], result["engines"]["ctranslate2"]
        result["ratio_pocketmt_over_ctranslate2"] = {
            key: round(mine["latency_ms"][key] / theirs["latency_ms"][key], 3)
            for key in ("median", "p90")
            if theirs["latency_ms"][key] > 0
        }
        same = sum(
            a == b for a, b in zip(runs["pocketmt"].hypotheses, runs["ctranslate2"].hypotheses, strict=True)
        )
        result["identical_translations"] = round(same / len(sources), 4)
        assert cfg.checkpoint is not None
        start_row = start_embedding_max(cfg.checkpoint, pocket.search.start_id)
        result["decoding_differences"] = decoding_differences(pocket.search, start_row)
        notes.append(
            "peak RSS: pocketmt's is the process peak after loading and warming it up, before CTranslate2 "
            "was loaded; CTranslate2's own is its rss_growth_mb; process_peak_rss_mb holds both engines"
        )
        if threads > 1:
            notes.append(
                "both engines' thread pools live in one process and may spin between calls (ONNX Runtime's "
                "does): multi-core figures are fairer from separate runs, one engine each"
            )
    return result


# ---------------------------------------------------------------- text output


def _fmt(value: Any, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def summary(result: dict[str, Any]) -> str:
    """The result as a few lines of text (what ``pocketmt bench`` prints without --json)."""
    engines = result["engines"]
    names = list(engines)
    m = result["machine"]
    lines = [
        f"{result['sentences']} sentences, beam {result['beam']}, batch {result['batch']}, "
        f"{result['threads']} thread(s); {m['cpu']}, CPUs {m['affinity']}, load average "
        f"{' '.join(str(x) for x in (m['load_average'] or []))}",
        "",
        f"{'':28}" + "".join(f"{n:>14}" for n in names),
    ]
    unit = engines[names[0]]["latency_unit"]

    def row(label: str, values: list[Any]) -> None:
        lines.append(f"{label:28}" + "".join(f"{v:>14}" for v in values))

    row("load (s)", [_fmt(e["load_s"], ".3f") for e in engines.values()])
    row(f"median per {unit.split()[0]} (ms)", [_fmt(e["latency_ms"]["median"]) for e in engines.values()])
    row(f"p90 per {unit.split()[0]} (ms)", [_fmt(e["latency_ms"]["p90"]) for e in engines.values()])
    row(
        "first token median (ms)",
        [_fmt((e["time_to_first_token_ms"] or {}).get("median")) for e in engines.values()],
    )
    row("tokens/s", [_fmt(e["tokens_per_s"], ".0f") for e in engines.values()])
    row("sentences/s", [_fmt(e["sentences_per_s"], ".1f") for e in engines.values()])
    row("peak RSS (MB)", [_fmt(e["peak_rss_mb"], ".0f") for e in engines.values()])
    row("RSS added by loading (MB)", [_fmt(e["rss_growth_mb"], ".0f") for e in engines.values()])
    if all("bleu" in e for e in engines.values()):
        row("BLEU", [_fmt(e["bleu"], ".2f") for e in engines.values()])
    lines.append("")
    pocket = engines["pocketmt"]
    lines.append(f"pocketmt: {pocket['backend']}, {pocket['threads']}; shortlist: {pocket['shortlist']}")
    if "ratio_pocketmt_over_ctranslate2" in result:
        ratio = result["ratio_pocketmt_over_ctranslate2"]
        theirs = engines["ctranslate2"]
        lines.append(f"ctranslate2: {theirs['engine']} {theirs['compute_type']}, {theirs['threads']}")
        lines.append(
            f"ratio pocketmt / ctranslate2: median {_fmt(ratio.get('median'), '.2f')}x, "
            f"p90 {_fmt(ratio.get('p90'), '.2f')}x; identical translations "
            f"{result['identical_translations'] * 100:.1f}%"
        )
        lines.append("decoding differences:")
        lines.extend(f"  - {d}" for d in result["decoding_differences"])
    lines.append(f"time to first token: {pocket['time_to_first_token']}")
    for note in result["notes"]:
        lines.append(f"note: {note}")
    return "\n".join(lines)
