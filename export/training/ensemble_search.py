"""Batched beam search over an ensemble of Marian checkpoints, for a teacher's distillation outputs.

Each sentence follows ``docs/decoding.md`` section 5 exactly as ``runtime.beam_search`` does (same
candidate order, same EOS rule, same stopping and length normalisation); what differs is only that
many sentences step together and that every step's log-probabilities are the ensemble's:
``log(mean_m p_m)`` over the members (all members must share one vocabulary). With one member this
is the runtime's search, batched. Finished sentences leave the batch, so a batch costs as much as its
live rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pocketmt.export.training.batch_translate import length_sorted_batches
from pocketmt.runtime.beam_search import (
    NEG_INF,
    Hypothesis,
    SearchConfig,
    advance_beam,
    best_finished,
    mask_log_probs,
)
from pocketmt.runtime.errors import InputError


@dataclass
class _Sentence:
    """Search state of one sentence (section 5), its beam rows living in the batch."""

    beam_scores: np.ndarray
    beam_tokens: list[list[int]]
    finished: list[Hypothesis] = field(default_factory=list)


VOCABULARY_FILES = ("source.spm", "target.spm", "vocab.json")


def check_shared_vocabulary(folders: list[Path]) -> None:
    """Ensemble members average probabilities over ids, so their tokenizer files must be identical."""
    for folder in folders[1:]:
        for name in VOCABULARY_FILES:
            if (folder / name).read_bytes() != (folders[0] / name).read_bytes():
                raise InputError(f"ensemble members must share one vocabulary: {folder / name} differs")


class _Member:
    """One model's encoder output and decoder cache for the live rows."""

    def __init__(self, model: Any, ids: torch.Tensor, mask: torch.Tensor, rows: int) -> None:
        from transformers.cache_utils import DynamicCache, EncoderDecoderCache

        self.model = model
        enc = model.model.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        self.enc = enc.repeat_interleave(rows, dim=0)
        self.mask = mask.repeat_interleave(rows, dim=0)
        self.cache = EncoderDecoderCache(DynamicCache(), DynamicCache())

    def log_probs(self, last: torch.Tensor) -> torch.Tensor:
        out = self.model.model.decoder(
            input_ids=last[:, None],
            encoder_hidden_states=self.enc,
            encoder_attention_mask=self.mask,
            cache=self.cache,
            use_cache=True,
        )
        logits = self.model.lm_head(out.last_hidden_state[:, -1]) + self.model.final_logits_bias
        return torch.log_softmax(logits.float(), dim=-1)

    def select(self, rows: torch.Tensor) -> None:
        self.enc = self.enc.index_select(0, rows)
        self.mask = self.mask.index_select(0, rows)
        self.cache.reorder_cache(rows)


class EnsembleStepModel:
    """The runtime's ``StepModel`` over several members (section 5 runs unchanged on top): each step
    returns ``log(mean_m p_m)``, computed as ``ensemble_log_probs`` does. Used by ``pocketmt eval``
    to score a teacher ensemble with exactly the search a bundle runs."""

    def __init__(self, members: list[Any]) -> None:
        self.members = members

    @property
    def encode_seconds(self) -> float:
        return sum(float(m.encode_seconds) for m in self.members)

    @property
    def step_seconds(self) -> float:
        return sum(float(m.step_seconds) for m in self.members)

    @property
    def steps(self) -> int:
        return int(self.members[0].steps)

    def start(self, source_ids: list[int], rows: int) -> None:
        for m in self.members:
            m.start(source_ids, rows)

    def step(self, tokens: list[int]) -> np.ndarray:
        parts = [torch.from_numpy(np.asarray(m.step(tokens), np.float32)) for m in self.members]
        return ensemble_log_probs(parts).numpy().astype(np.float32)

    def reorder(self, parents: list[int]) -> None:
        for m in self.members:
            m.reorder(parents)


def ensemble_log_probs(parts: list[torch.Tensor]) -> torch.Tensor:
    """``log(mean(exp(lp)))`` over members; one member passes through unchanged."""
    if len(parts) == 1:
        return parts[0]
    return torch.logsumexp(torch.stack(parts), dim=0) - math.log(len(parts))


@torch.no_grad()
def search_batch(
    models: list[Any], sources: list[list[int]], pad_id: int, cfg: SearchConfig
) -> list[Hypothesis]:
    """Best hypothesis per source (ids with EOS), searched together by all ``models``."""
    k = cfg.beam_size
    width = max(len(s) for s in sources)
    ids = torch.tensor([s + [pad_id] * (width - len(s)) for s in sources])
    mask = (ids != pad_id).long()
    members = [_Member(m, ids, mask, k) for m in models]
    sentences = [
        _Sentence(np.asarray([0.0] + [NEG_INF] * (k - 1), np.float32), [[] for _ in range(k)])
        for _ in sources
    ]
    live = list(range(len(sources)))  # sentence index of each block of k rows, in batch order
    for t in range(cfg.max_new_tokens):
        last = torch.tensor(
            [toks[-1] if toks else cfg.start_id for b in live for toks in sentences[b].beam_tokens]
        )
        lp = ensemble_log_probs([m.log_probs(last) for m in members]).numpy()
        lp = mask_log_probs(lp.astype(np.float32), t, cfg)
        keep_rows: list[int] = []
        still: list[int] = []
        for block, b in enumerate(live):
            s = sentences[b]
            scores = (s.beam_scores[:, None] + lp[block * k : (block + 1) * k]).astype(np.float32)
            next_rows = advance_beam(scores, s.beam_tokens, s.finished, t, cfg)
            if next_rows is None:
                continue
            keep_rows.extend(block * k + row for row, _, _ in next_rows)
            s.beam_tokens = [s.beam_tokens[row] + [token] for row, token, _ in next_rows]
            s.beam_scores = np.asarray([score for _, _, score in next_rows], dtype=np.float32)
            still.append(b)
        if not still:
            break
        rows = torch.tensor(keep_rows)
        for m in members:
            m.select(rows)
        live = still
    return [best_finished(s.finished) for s in sentences]


def ensemble_translate_lines(
    models: list[Any], tok: Any, lines: list[str], beam: int, batch: int, max_len: int
) -> list[str]:
    """Translate in length-sorted batches; output order follows ``lines``."""
    for m in models:
        m.eval()
    encoded = [tok.encode(s)[:max_len] for s in lines]
    out = [""] * len(lines)
    for idx, width in length_sorted_batches(encoded, batch):
        cfg = SearchConfig(
            beam_size=beam,
            max_new_tokens=int(width * 1.5) + 10,
            eos_id=tok.eos_id,
            start_id=tok.pad_id,
            banned_ids=(tok.pad_id,),
        )
        for i, hyp in zip(idx, search_batch(models, [encoded[i] for i in idx], tok.pad_id, cfg), strict=True):
            out[i] = tok.decode(hyp.tokens)
    return out
