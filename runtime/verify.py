"""``pocketmt verify``: integrity of the files each backend needs, then replay of the reference
translations recorded at export time on each backend in the bundle, with the recorded tokens
force-scored here and compared token by token with the log-probabilities recorded at export
(docs/decoding.md, section 7)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from pocketmt.runtime.beam_search import Hypothesis, SearchConfig, length_normalize, mask_log_probs
from pocketmt.runtime.bundle import Bundle
from pocketmt.runtime.errors import BundleError
from pocketmt.runtime.step import StepModel
from pocketmt.runtime.translator import TranslateOptions, Translator

KEYS = ("greedy", "beam")


@dataclass(frozen=True)
class Tolerance:
    """How far a force-scored log-probability here may be from a recorded one: every token within
    ``atol + rtol * |recorded|``, and the mean signed difference over one sequence within ``mean``
    (rounding noise has no sign; a changed model moves the recorded tokens' log-probabilities one way)."""

    atol: float
    rtol: float
    mean: float

    def bound(self, recorded: float) -> float:
        return self.atol + self.rtol * abs(recorded)

    def describe(self) -> str:
        return f"{self.atol:g} + {self.rtol:g}*|lp| per token, {self.mean:g} on average"


# The tolerances and the measurements behind them are in docs/decoding.md, section 7.
# fp32 kernels against the eager model at export (unquantized bundles, and fp16/int8 weights, which
# compute in fp32): the export self-check's own tolerance; both backends differ from eager by < 5e-6.
FP32_TOLERANCE = Tolerance(atol=1e-3, rtol=1e-3, mean=1e-3)
# low-bit kernels (int8 activations) against the same backend's own log-probabilities at export: the
# same graph built with other fusions moves a token by up to 0.016 nats (0.001 on average).
LOWBIT_OWN_TOLERANCE = Tolerance(atol=0.03, rtol=0.02, mean=0.01)
# low-bit kernels against the eager model: up to 0.024 nats per token measured on the built-in
# bundles, growing with -lp (0.002 on tokens above -0.1), 0.0043 on average over a sequence.
LOWBIT_EAGER_TOLERANCE = Tolerance(atol=0.03, rtol=0.05, mean=0.02)

# Largest gap in length-normalized log-probability (nats per token) between the recorded beam hypothesis
# and the one found here that still counts as a near-tie: another CPU's float kernels (AVX2 against
# AVX-512) may break a tie the other way, which is not a defect of the bundle (docs/decoding.md, 7).
TIE_TOLERANCE = 1e-3

NOT_RECORDED = (
    "note: this bundle's reference has no recorded log-probabilities (exported before they were): "
    "only tokens are compared, and a beam that took another path is judged by its score alone; "
    "re-export it to compare force-scored log-probabilities"
)


class ReplayTranslator(Protocol):
    """What ``replay`` needs of a ``Translator``."""

    backend: str

    def search_config(self, options: TranslateOptions | None = None) -> SearchConfig: ...

    def search_ids(self, source_ids: list[int], options: TranslateOptions | None = None) -> Hypothesis: ...

    def new_step_model(self) -> StepModel: ...


@dataclass
class BackendResult:
    backend: str
    samples: int = 0
    mismatches: list[str] = field(default_factory=list)
    ties: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # per reference kind ("eager at export", ...): (tolerance, largest per-token difference seen)
    compared: dict[str, tuple[Tolerance, float]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.samples > 0 and not self.mismatches

    def summary(self) -> str:
        """The replay passed (with any near-ties this CPU breaks the other way) or failed; then a line
        per note."""
        if self.ok:
            ties = (
                f" except {len(self.ties)} near-tie(s) this CPU breaks the other way: {self.ties[0]}"
                if self.ties
                else ""
            )
            scored = "".join(
                f"; log-probs match {kind} (within {tol.describe()}; largest difference {worst:.1e})"
                for kind, (tol, worst) in self.compared.items()
            )
            line = f"{self.samples} reference samples replayed, tokens identical{ties}{scored}"
        else:
            line = f"FAILED, {len(self.mismatches)} mismatches: {self.mismatches[0]}"
        return "\n".join([line, *(f"  {note}" for note in self.notes)])

    def note_compared(self, kind: str, tol: Tolerance, worst: float) -> None:
        seen = self.compared.get(kind, (tol, 0.0))[1]
        self.compared[kind] = (tol, max(seen, worst))


def token_log_probs(
    model: StepModel, source_ids: list[int], tokens: list[int], cfg: SearchConfig
) -> list[float]:
    """Section 7: the masked log-probability (section 2) of each of ``tokens``, fed one by one from the
    start id (forced decoding)."""
    model.start(source_ids, rows=1)
    out: list[float] = []
    last = cfg.start_id
    for t, token in enumerate(tokens):
        out.append(float(mask_log_probs(model.step([last]), t, cfg)[0][token]))
        last = token
    return out


def sequence_score(log_probs: Sequence[float], cfg: SearchConfig) -> float:
    """Sections 3 and 7: the length-normalized score of a forced-scored sequence (float32 sum in order)."""
    score = np.float32(0.0)
    for lp in log_probs:
        score = np.float32(score + np.float32(lp))
    return length_normalize(float(score), len(log_probs), cfg.length_penalty) if log_probs else 0.0


def compare_log_probs(
    here: Sequence[float], recorded: Sequence[float], tol: Tolerance
) -> tuple[float, str | None]:
    """The largest per-token difference, and what is out of tolerance (None when all is within)."""
    worst = 0.0
    for t, (h, r) in enumerate(zip(here, recorded, strict=True)):
        if not math.isfinite(h):
            return math.inf, f"token {t} has log-prob {h} here ({r:.4f} recorded)"
        diff = abs(h - r)
        worst = max(worst, diff)
        if diff > tol.bound(r):
            return worst, f"token {t} has log-prob {h:.4f} here, {r:.4f} recorded"
    if here:
        mean = float(np.mean(np.asarray(here, np.float64) - np.asarray(recorded, np.float64)))
        if abs(mean) > tol.mean:
            return worst, f"log-probs are {mean:+.4f} per token off on average"
    return worst, None


def _floats(value: Any, where: str) -> list[float]:
    if not isinstance(value, list) or not all(
        isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) for x in value
    ):
        raise BundleError(f"{where}: expected a list of finite log-probabilities")
    return [float(x) for x in value]


def _ids(value: Any, vocab_size: int, where: str) -> list[int]:
    if not isinstance(value, list) or not all(
        isinstance(x, int) and not isinstance(x, bool) and 0 <= x < vocab_size for x in value
    ):
        raise BundleError(f"{where}: expected a list of token ids below {vocab_size}")
    return list(value)


def _check_sample(sample: Any, vocab_size: int, where: str) -> None:
    """The shape ``replay`` relies on; a reference that lacks it is a damaged bundle (exit 2)."""
    if not isinstance(sample, dict):
        raise BundleError(f"{where}: not an object")
    if not _ids(sample.get("source_ids"), vocab_size, f"{where} source_ids"):
        raise BundleError(f"{where}: empty source_ids")
    if not isinstance(sample.get("text"), str | None):
        raise BundleError(f"{where}: text must be a string or null")
    for name, value in (
        ("max_new_tokens", sample.get("max_new_tokens")),
        ("beam_size", sample.get("beam_size", 1)),
    ):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise BundleError(f"{where}: {name} must be a positive integer")
    limit = int(sample["max_new_tokens"])
    backends = sample.get("backends", {})
    if not isinstance(backends, dict):
        raise BundleError(f"{where}: backends must be an object")
    for label, record in [("", sample), *((f" backends/{b}", r) for b, r in backends.items())]:
        if not isinstance(record, dict):
            raise BundleError(f"{where}{label}: not an object")
        for key in KEYS:
            if key not in record:
                continue
            if len(_ids(record[key], vocab_size, f"{where}{label} {key}")) > limit:
                raise BundleError(f"{where}{label} {key}: more tokens than max_new_tokens ({limit})")
            for lp_key in ("log_probs", "eager_log_probs"):
                lps = record.get(lp_key, {})
                if not isinstance(lps, dict):
                    raise BundleError(f"{where}{label} {lp_key}: must be an object")
                if key in lps:
                    _floats(lps[key], f"{where}{label} {lp_key}/{key}")


def read_reference(bundle: Bundle) -> list[dict[str, Any]]:
    name = bundle.manifest.raw.get("reference")
    if not name:
        raise BundleError(f"{bundle.path}: manifest names no reference file; nothing to replay")
    try:
        data = json.loads(bundle.file(name).read_text("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise BundleError(f"{bundle.file(name)}: unreadable reference file ({exc})") from exc
    samples = data.get("samples", []) if isinstance(data, dict) else []
    if not isinstance(samples, list) or not samples:
        raise BundleError(f"{bundle.file(name)}: no reference samples")
    vocab_size = int(bundle.manifest.model["vocab_size"])
    for i, sample in enumerate(samples):
        _check_sample(sample, vocab_size, f"{bundle.file(name)}: sample {i}")
    return samples


@dataclass(frozen=True)
class Recorded:
    """What a sample holds for one backend and search: the tokens, the log-probabilities to hold them
    to, and the tolerance of the kernels that recorded the tokens (for a greedy near-tie)."""

    tokens: list[int]
    refs: list[tuple[str, Tolerance, list[float]]]
    kernels: Tolerance


def recorded_for(sample: dict[str, Any], backend: str, key: str) -> Recorded | None:
    """For a low-bit bundle (each backend's own tokens recorded): the backend's own log-probabilities at
    export and the eager model's of the same tokens; otherwise the eager model's at export, with fp32
    kernels. None when the sample has no ``key`` translation."""
    own = sample.get("backends", {}).get(backend)
    if own is not None:
        if key not in own:
            return None
        refs = [
            ("this backend at export", LOWBIT_OWN_TOLERANCE, own.get("log_probs", {}).get(key)),
            ("eager", LOWBIT_EAGER_TOLERANCE, own.get("eager_log_probs", {}).get(key)),
        ]
        return Recorded(own[key], [(k, t, lp) for k, t, lp in refs if lp is not None], LOWBIT_OWN_TOLERANCE)
    if key not in sample:
        return None
    lp = sample.get("log_probs", {}).get(key)
    return Recorded(
        sample[key], [("eager at export", FP32_TOLERANCE, lp)] if lp is not None else [], FP32_TOLERANCE
    )


def replay(translator: ReplayTranslator, samples: list[dict[str, Any]]) -> BackendResult:
    result = BackendResult(translator.backend)
    unrecorded = False
    for i, sample in enumerate(samples):
        result.samples += 1
        text = sample.get("text")
        tokenizer = getattr(translator, "tokenizer", None)
        if text is not None and tokenizer is not None and tokenizer.encode(text) != sample["source_ids"]:
            result.mismatches.append(f"sample {i}: tokenizer gives different source ids")
        for key, beam in (("greedy", 1), ("beam", int(sample.get("beam_size", 1)))):
            recorded = recorded_for(sample, translator.backend, key)
            if recorded is None:
                continue
            unrecorded = unrecorded or not recorded.refs
            problem, tie = _replay_one(translator, sample, beam, recorded, result)
            if problem:
                result.mismatches.append(f"sample {i}: {key} {problem}")
            if tie:
                result.ties.append(f"sample {i}: {key} {tie}")
    if unrecorded:
        result.notes.append(NOT_RECORDED)
    return result


def _replay_one(
    translator: ReplayTranslator,
    sample: dict[str, Any],
    beam: int,
    recorded: Recorded,
    result: BackendResult,
) -> tuple[str | None, str | None]:
    """One recorded hypothesis: (what is wrong, None) when it fails, else (None, the near-tie if the
    tokens differ at one)."""
    expected, refs = recorded.tokens, recorded.refs
    source = sample["source_ids"]
    opts = TranslateOptions(beam_size=beam, max_new_tokens=int(sample["max_new_tokens"]))
    cfg = translator.search_config(opts)
    hyp = translator.search_ids(source, opts)
    if not refs and hyp.tokens == expected:
        return None, None
    here = token_log_probs(translator.new_step_model(), source, expected, cfg)
    for kind, tol, log_probs in refs:
        if len(log_probs) != len(expected):
            return (
                f"reference records {len(log_probs)} log-probs from {kind} for {len(expected)} tokens",
                None,
            )
        worst, problem = compare_log_probs(here, log_probs, tol)
        if problem:
            return f"force-scored log-probs differ from {kind}: {problem} (tolerance {tol.describe()})", None
        result.note_compared(kind, tol, worst)
    if hyp.tokens == expected:
        return None, None
    if beam == 1:
        return _greedy_divergence(translator, source, cfg, hyp.tokens, expected, here, recorded.kernels)
    recorded_score = sequence_score(here, cfg)
    gap = abs(hyp.normalized - recorded_score)
    if gap <= TIE_TOLERANCE:
        return None, f"tokens differ at a near-tie (scores {gap:.1e} apart)"
    if recorded_score > hyp.normalized:
        # the model here still gives the recorded tokens their export-time log-probabilities (checked
        # above when they were recorded): the beam lost them when a near-tie at its edge went the other way
        return None, (
            f"search took another path, but this model scores the recorded tokens higher "
            f"({recorded_score:.4f} against {hyp.normalized:.4f})"
        )
    return f"tokens differ from the export-time reference (scores {gap:.1e} apart)", None


def _greedy_divergence(
    translator: ReplayTranslator,
    source: list[int],
    cfg: SearchConfig,
    found: list[int],
    expected: list[int],
    here: list[float],
    kernels: Tolerance,
) -> tuple[str | None, str | None]:
    """Greedy takes the best token at every step, so its tokens can leave the recorded ones only where
    another token beats the recorded one here by no more than the kernels' rounding can move the two
    (twice the per-token tolerance): a near-tie this CPU breaks the other way. Anything more and this
    model prefers other tokens (a model that loops instead of ending, say)."""
    t = next((j for j, (a, b) in enumerate(zip(found, expected, strict=False)) if a != b), None)
    if t is None:  # one is a prefix of the other: only a length limit differs, which is no tie
        return (
            f"tokens differ from the export-time reference in length ({len(found)} against {len(expected)})",
            None,
        )
    found_lp = token_log_probs(translator.new_step_model(), source, found[: t + 1], cfg)[t]
    margin = found_lp - here[t]
    allowed = 2 * kernels.bound(here[t])
    if margin <= allowed:
        return None, (
            f"tokens differ at a near-tie: at token {t} id {found[t]} beats the recorded {expected[t]} "
            f"by {margin:.1e}"
        )
    return (
        f"tokens differ from the export-time reference: at token {t} this model prefers id {found[t]} "
        f"to the recorded {expected[t]} by {margin:.4f} nats (a near-tie is at most {allowed:.1e})",
        None,
    )


def verify_backend(bundle: Bundle, backend: str, samples: list[dict[str, Any]]) -> BackendResult:
    """Check the files translating on ``backend`` reads (the set ``Translator`` checks), then replay."""
    backend = bundle.resolve_backend(backend)
    bundle.check_backend_files(backend)
    translator = Translator(bundle, backend, check_integrity=False)
    return replay(translator, samples)


def verify_bundle(path: str | Path, backends: list[str] | None = None) -> list[BackendResult]:
    bundle = Bundle.open(path)
    bundle.check_files()
    samples = read_reference(bundle)
    return [verify_backend(bundle, backend, samples) for backend in backends or bundle.manifest.backends]
