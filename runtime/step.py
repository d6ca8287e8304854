"""The step interface that every search runs against, and the KV-cache session.

Two layers:

* ``StepGraphs``: what a backend executes, exactly the exported contract
  (``docs/bundle.md``): ``encode`` and ``decode_step`` on numpy arrays.
  ExecuTorch, ONNX Runtime and eager PyTorch each implement it.
* ``StepModel``: what the search calls: ``start`` (encode one source for
  ``rows`` hypotheses), ``step`` (log-probs for the next token of every row)
  and ``reorder`` (rows follow their parent hypothesis after a beam step).
  ``CachedStepModel`` implements it over any ``StepGraphs`` by keeping the
  static self-attention cache on the host (step contract 1).
* ``GrowingStepGraphs`` / ``GrowingStepModel``: step contract 2 (``docs/bundle.md``), where the
  graph takes the cache of the positions filled so far and gives it back one position longer, gathers
  the rows it continues by ``parents`` itself, and reads the encoder output once per sentence.
  ``make_step_model`` picks the model a graph's contract calls for.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

import numpy as np
import numpy.typing as npt

from pocketmt.runtime.manifest import Manifest

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]


class StepGraphs(Protocol):
    def encode(self, input_ids: I64, attention_mask: I64) -> tuple[F32, F32]:
        """[B,S] ids and mask -> cross-attention keys and values, each [L,B,H,S,Dh]."""
        ...

    def decode_step(
        self,
        input_ids: I64,
        position: I64,
        self_k: F32,
        self_v: F32,
        cross_k: F32,
        cross_v: F32,
        attention_mask: I64,
    ) -> tuple[F32, F32, F32]:
        """One token per row -> (log_probs [B,V], new_k [L,B,H,1,Dh], new_v)."""
        ...


class GrowingStepGraphs(Protocol):
    step_contract: int  # 2

    def encode(self, input_ids: I64, attention_mask: I64) -> tuple[F32, F32]: ...

    def decode_grow(
        self,
        input_ids: I64,
        position: I64,
        past_k: F32,
        past_v: F32,
        parents: I64,
        cross_k: F32,
        cross_v: F32,
        attention_mask: I64,
    ) -> tuple[F32, F32, F32]:
        """``R`` rows, one token each; ``past_k [L,R0,H,P,Dh]`` with ``P = position``; row ``r``
        continues past row ``parents[r]``; ``cross_k [L,N,H,S,Dh]`` for ``N`` sentences, whose rows are
        contiguous, ``R / N`` each -> (log_probs [R,V], present_k [L,R,H,P+1,Dh], present_v)."""
        ...


class StepModel(Protocol):
    def start(self, source_ids: list[int], rows: int) -> None: ...

    def step(self, tokens: list[int]) -> F32: ...

    def reorder(self, parents: list[int]) -> None: ...


class BatchStepModel(StepModel, Protocol):
    """A step model that decodes several sentences at once (``GrowingStepModel``)."""

    def start_batch(self, sources: list[list[int]], rows: int, pad_id: int) -> None: ...

    def select_sentences(self, sentences: list[int]) -> None: ...


class _Sizes:
    """The cache's sizes from the manifest, and the graph time a translator reports."""

    def __init__(self, manifest: Manifest) -> None:
        model = manifest.model
        self.layers = int(model["decoder_layers"])
        self.heads = int(model["attention_heads"])
        self.head_dim = int(model["head_dim"])
        self.max_target_len = manifest.limits.max_target_len
        self.position = 0
        # wall time spent in the graphs, for the translator's timings
        self.encode_seconds = 0.0
        self.step_seconds = 0.0
        self.steps = 0


class CachedStepModel(_Sizes):
    """Runs a ``StepGraphs`` with the host-side static KV cache of the contract."""

    def __init__(self, graphs: StepGraphs, manifest: Manifest) -> None:
        super().__init__(manifest)
        self.graphs = graphs
        self._self_k: F32 = np.zeros((0,), np.float32)
        self._self_v: F32 = np.zeros((0,), np.float32)
        self._cross_k: F32 = np.zeros((0,), np.float32)
        self._cross_v: F32 = np.zeros((0,), np.float32)
        self._mask: I64 = np.zeros((0,), np.int64)

    def start(self, source_ids: list[int], rows: int) -> None:
        ids = np.asarray([source_ids], dtype=np.int64)
        mask = np.ones_like(ids)
        began = time.perf_counter()
        cross_k, cross_v = self.graphs.encode(ids, mask)
        self.encode_seconds += time.perf_counter() - began
        # one sentence: every row attends to the same encoder output
        self._cross_k = np.ascontiguousarray(np.repeat(cross_k, rows, axis=1))
        self._cross_v = np.ascontiguousarray(np.repeat(cross_v, rows, axis=1))
        self._mask = np.ones((rows, ids.shape[1]), np.int64)
        shape = (self.layers, rows, self.heads, self.max_target_len, self.head_dim)
        self._self_k = np.zeros(shape, np.float32)
        self._self_v = np.zeros(shape, np.float32)
        self.position = 0

    def step(self, tokens: list[int]) -> F32:
        if self.position >= self.max_target_len:
            raise RuntimeError("decoder cache is full")
        ids = np.asarray(tokens, dtype=np.int64).reshape(-1, 1)
        pos = np.asarray([self.position], dtype=np.int64)
        began = time.perf_counter()
        log_probs, new_k, new_v = self.graphs.decode_step(
            ids, pos, self._self_k, self._self_v, self._cross_k, self._cross_v, self._mask
        )
        self.step_seconds += time.perf_counter() - began
        self.steps += 1
        self._self_k[:, :, :, self.position] = new_k[:, :, :, 0]
        self._self_v[:, :, :, self.position] = new_v[:, :, :, 0]
        self.position += 1
        return np.asarray(log_probs, dtype=np.float32)

    def reorder(self, parents: list[int]) -> None:
        if parents == list(range(len(parents))):
            return  # every row continues itself: nothing moves
        # only the filled slots move, in place: the graph ignores slots from ``position`` on, whatever
        # they hold, so the bytes copied grow with the tokens decoded, not with ``max_target_len``
        idx = np.asarray(parents, dtype=np.int64)
        filled = self.position
        self._self_k[:, :, :, :filled] = self._self_k[:, idx, :, :filled]
        self._self_v[:, :, :, :filled] = self._self_v[:, idx, :, :filled]


class GrowingStepModel(_Sizes):
    """Runs a ``GrowingStepGraphs`` (step contract 2). The host keeps the graph's last ``present``
    cache as it came back (no copy, no write), the pending ``parents`` of a reorder (a list of row
    numbers, composed when two reorders come between steps), and the sentence's encoder output once."""

    def __init__(self, graphs: GrowingStepGraphs, manifest: Manifest) -> None:
        super().__init__(manifest)
        self.graphs = graphs
        empty = np.zeros((0,), np.float32)
        self._past_k: F32 = empty
        self._past_v: F32 = empty
        self._parents: I64 = np.zeros((0,), np.int64)
        self._cross_k: F32 = empty
        self._cross_v: F32 = empty
        self._mask: I64 = np.zeros((0,), np.int64)

    def start(self, source_ids: list[int], rows: int) -> None:
        self.start_batch([source_ids], rows, pad_id=0)

    def start_batch(self, sources: list[list[int]], rows: int, pad_id: int) -> None:
        """Encode several sentences together (padded with ``pad_id`` to the longest, the padding masked)
        and give each ``rows`` rows: sentence ``j`` owns rows ``j * rows .. (j + 1) * rows - 1``."""
        width = max(len(s) for s in sources)
        ids = np.full((len(sources), width), pad_id, dtype=np.int64)
        self._mask = np.zeros_like(ids)
        for j, source in enumerate(sources):
            ids[j, : len(source)] = source
            self._mask[j, : len(source)] = 1
        began = time.perf_counter()
        self._cross_k, self._cross_v = self.graphs.encode(ids, self._mask)
        self.encode_seconds += time.perf_counter() - began
        shape = (self.layers, len(sources) * rows, self.heads, 0, self.head_dim)
        self._past_k = np.zeros(shape, np.float32)
        self._past_v = np.zeros(shape, np.float32)
        self._parents = np.arange(len(sources) * rows, dtype=np.int64)
        self.position = 0

    def select_sentences(self, sentences: list[int]) -> None:
        """Keep only these sentences of the batch (indices into it, ascending): their encoder output
        and mask. The rows that go on are named by the next ``reorder`` (``R / N`` per sentence)."""
        idx = np.asarray(sentences, dtype=np.int64)
        self._cross_k = self._cross_k[:, idx]
        self._cross_v = self._cross_v[:, idx]
        self._mask = self._mask[idx]

    def step(self, tokens: list[int]) -> F32:
        return self._advance(tokens, self.graphs.decode_grow)

    def step_restricted(self, tokens: list[int], vocab_ids: I64) -> F32:
        """``step`` for the ids ``vocab_ids`` only, ``[R, K]``, equal to the log-probs up to a constant
        per row: the graph's own projection over them where the bundle has one (``decode_shortlist``),
        else the full step's columns."""
        if not getattr(self.graphs, "has_shortlist_step", False):
            return np.asarray(self.step(tokens)[:, vocab_ids], dtype=np.float32)
        return self._advance(tokens, self.graphs.decode_shortlist, vocab_ids)  # type: ignore[attr-defined]

    def _advance(self, tokens: list[int], call: Callable[..., tuple[F32, F32, F32]], *extra: I64) -> F32:
        """One step through ``call`` (a contract-2 entry point): its scores; the cache moves on."""
        if self.position >= self.max_target_len:
            raise RuntimeError("decoder cache is full")
        if len(tokens) != len(self._parents):
            raise ValueError(f"{len(tokens)} tokens for {len(self._parents)} rows")
        ids = np.asarray(tokens, dtype=np.int64).reshape(-1, 1)
        pos = np.asarray([self.position], dtype=np.int64)
        began = time.perf_counter()
        scores, self._past_k, self._past_v = call(
            ids,
            pos,
            self._past_k,
            self._past_v,
            self._parents,
            self._cross_k,
            self._cross_v,
            self._mask,
            *extra,
        )
        self.step_seconds += time.perf_counter() - began
        self.steps += 1
        self._parents = np.arange(len(tokens), dtype=np.int64)
        self.position += 1
        return np.asarray(scores, dtype=np.float32)

    def reorder(self, parents: list[int]) -> None:
        """Row ``i`` of the next step continues row ``parents[i]`` of the last one (fewer rows when
        sentences left the batch)."""
        self._parents = self._parents[np.asarray(parents, dtype=np.int64)]


def decodes_batches(model: object) -> bool:
    """Whether ``model`` decodes several sentences at once (``BatchStepModel``)."""
    return hasattr(model, "start_batch") and hasattr(model, "select_sentences")


def make_step_model(graphs: StepGraphs | GrowingStepGraphs, manifest: Manifest) -> StepModel:
    """The step model for ``graphs``' step contract (1 unless the graphs say otherwise)."""
    if getattr(graphs, "step_contract", 1) == 2:
        return GrowingStepModel(graphs, manifest)  # type: ignore[arg-type]
    return CachedStepModel(graphs, manifest)  # type: ignore[arg-type]
