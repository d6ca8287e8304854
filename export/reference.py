"""The bundle's ``reference.json``: sentences translated at export, for ``pocketmt verify`` to replay.

Each sample holds the source ids, the eager model's greedy and beam tokens and, under ``log_probs``,
the eager model's masked log-probability of each of those tokens, force-scored (docs/decoding.md,
section 7). A low-bit bundle, whose kernels round differently from eager, also records each backend's
own tokens under ``backends``, with that backend's own log-probabilities of them at export
(``log_probs``) and the eager model's of the same tokens (``eager_log_probs``). ``verify`` force-scores
the recorded tokens on its backend and holds them to these within the tolerances of section 7.

``reference_backfill.add_log_probs`` records the eager log-probabilities in a bundle exported before
they were.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pocketmt.runtime.beam_search import SearchConfig, beam_search
from pocketmt.runtime.step import StepModel
from pocketmt.runtime.tokenizer import MarianTokenizer
from pocketmt.runtime.verify import KEYS, token_log_probs

LOG_PROBS_NOTE = (
    "log_probs: each recorded token's masked log-probability under forced decoding "
    "(docs/decoding.md, section 7), by the eager model; under backends, by that backend at export "
    "(log_probs) and by the eager model (eager_log_probs)"
)


def rounded(values: list[float]) -> list[float]:
    # 7 significant digits: within 1e-6 of the float32 value, far under any tolerance of section 7
    return [float(f"{v:.7g}") for v in values]


def reference_samples(
    texts: tuple[str, ...] | list[str],
    tokenizer: MarianTokenizer,
    eager: StepModel,
    cfg_greedy: SearchConfig,
    cfg_beam: SearchConfig,
    max_source_len: int,
) -> list[dict[str, Any]]:
    """The eager model's greedy and beam translations of ``texts``, with their log-probabilities."""
    samples = []
    for text in texts:
        full = tokenizer.encode(text)
        ids = full[:max_source_len]
        ids[-1] = tokenizer.eos_id
        greedy = beam_search(eager, ids, cfg_greedy).tokens
        beam = beam_search(eager, ids, cfg_beam).tokens
        samples.append(
            {
                # the text is kept only when its ids fit, so verify can check the tokenizer on it
                "text": text if ids == full else None,
                "source_ids": ids,
                "max_new_tokens": cfg_greedy.max_new_tokens,
                "beam_size": cfg_beam.beam_size,
                "greedy": greedy,
                "beam": beam,
                "log_probs": {
                    "greedy": rounded(token_log_probs(eager, ids, greedy, cfg_greedy)),
                    "beam": rounded(token_log_probs(eager, ids, beam, cfg_beam)),
                },
            }
        )
    return samples


def add_backend_records(
    samples: list[dict[str, Any]],
    backend: str,
    tokens: list[dict[str, list[int]]],
    own: StepModel,
    eager: StepModel,
    cfg_greedy: SearchConfig,
    cfg_beam: SearchConfig,
) -> None:
    """Record ``backend``'s own tokens for each sample (a low-bit bundle), with the log-probabilities its
    own graphs and the eager model give them."""
    cfgs = {"greedy": cfg_greedy, "beam": cfg_beam}
    for sample, found in zip(samples, tokens, strict=True):
        record: dict[str, Any] = {key: found[key] for key in KEYS}
        record["log_probs"] = {
            key: rounded(token_log_probs(own, sample["source_ids"], found[key], cfgs[key])) for key in KEYS
        }
        record["eager_log_probs"] = {
            key: rounded(token_log_probs(eager, sample["source_ids"], found[key], cfgs[key])) for key in KEYS
        }
        sample.setdefault("backends", {})[backend] = record


def reference_document(samples: list[dict[str, Any]], made_with: str = "eager") -> dict[str, Any]:
    return {"made_with": made_with, "note": LOG_PROBS_NOTE, "samples": samples}


def write_reference(path: Path, samples: list[dict[str, Any]], made_with: str = "eager") -> None:
    path.write_text(json.dumps(reference_document(samples, made_with), indent=1) + "\n")
