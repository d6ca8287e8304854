"""``pocketmt verify``: integrity of every file, then replay of the reference
translations recorded at export time on each backend in the bundle."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pocketmt.runtime.beam_search import score_tokens
from pocketmt.runtime.bundle import Bundle
from pocketmt.runtime.errors import BundleError
from pocketmt.runtime.translator import TranslateOptions, Translator


@dataclass
class BackendResult:
    backend: str
    samples: int = 0
    mismatches: list[str] = field(default_factory=list)
    ties: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.samples > 0 and not self.mismatches

    def summary(self) -> str:
        """One line: the replay passed (with any near-ties this CPU breaks the other way) or failed."""
        if self.ok:
            ties = (
                f" except {len(self.ties)} near-tie(s) this CPU breaks the other way: {self.ties[0]}"
                if self.ties
                else ""
            )
            return f"{self.samples} reference samples replayed, tokens identical{ties}"
        return f"FAILED, {len(self.mismatches)} mismatches: {self.mismatches[0]}"


# Largest gap in length-normalized log-probability (nats per token) between the recorded hypothesis and
# the one found here that still counts as a near-tie: another CPU's float kernels (AVX2 against AVX-512)
# may break a tie the other way, which is not a defect of the bundle (docs/decoding.md, section 7).
TIE_TOLERANCE = 1e-3


def read_reference(bundle: Bundle) -> list[dict[str, Any]]:
    name = bundle.manifest.raw.get("reference")
    if not name:
        raise BundleError(f"{bundle.path}: manifest names no reference file; nothing to replay")
    try:
        data = json.loads(bundle.file(name).read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{bundle.file(name)}: unreadable reference file ({exc})") from exc
    samples: list[dict[str, Any]] = data.get("samples", []) if isinstance(data, dict) else []
    if not samples:
        raise BundleError(f"{bundle.file(name)}: no reference samples")
    return samples


def replay(translator: Translator, samples: list[dict[str, Any]]) -> BackendResult:
    result = BackendResult(translator.backend)
    for i, sample in enumerate(samples):
        result.samples += 1
        text = sample.get("text")
        if text is not None and translator.tokenizer.encode(text) != sample["source_ids"]:
            result.mismatches.append(f"sample {i}: tokenizer gives different source ids")
        # quantized bundles record each backend's own tokens (low-bit kernels round differently)
        expected = sample.get("backends", {}).get(translator.backend, sample)
        for key, beam in (("greedy", 1), ("beam", int(sample.get("beam_size", 1)))):
            if key not in expected:
                continue
            opts = TranslateOptions(beam_size=beam, max_new_tokens=int(sample["max_new_tokens"]))
            hyp = translator.search_ids(sample["source_ids"], opts)
            if hyp.tokens == expected[key]:
                continue
            recorded = score_tokens(
                translator.model, sample["source_ids"], expected[key], translator.search_config(opts)
            )
            gap = abs(hyp.normalized - recorded.normalized)
            if gap <= TIE_TOLERANCE:
                result.ties.append(f"sample {i}: {key} tokens differ at a near-tie (scores {gap:.1e} apart)")
            elif recorded.normalized > hyp.normalized:
                # the model here still prefers the recorded tokens; the beam lost them on the way
                # (a near-tie at the beam's edge broken the other way), so the numbers agree
                result.ties.append(
                    f"sample {i}: {key} search took another path, but this model scores the recorded "
                    f"tokens higher ({recorded.normalized:.4f} against {hyp.normalized:.4f})"
                )
            else:
                result.mismatches.append(
                    f"sample {i}: {key} tokens differ from the export-time reference (scores {gap:.1e} apart)"
                )
    return result


def verify_bundle(path: str | Path, backends: list[str] | None = None) -> list[BackendResult]:
    bundle = Bundle.open(path)
    bundle.check_files()
    samples = read_reference(bundle)
    results = []
    for backend in backends or bundle.manifest.backends:
        translator = Translator(bundle, bundle.resolve_backend(backend), check_integrity=False)
        results.append(replay(translator, samples))
    return results
