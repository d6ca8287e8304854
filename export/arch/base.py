"""What an architecture adapter gives the exporter.

An adapter turns one family of Hugging Face checkpoints (Marian today; T5 or
BART later) into two plain ``torch.nn.Module`` graphs that follow the bundle's
step contract (see ``docs/bundle.md``):

* ``encoder(input_ids[B,S], attention_mask[B,S]) -> (cross_k, cross_v)``
  each ``[L, B, H, S, Dh]``: the encoder output already projected to the
  cross-attention keys and values of every decoder layer;
* ``decoder_step(input_ids[B,1], position[1], self_k, self_v, cross_k,
  cross_v, attention_mask[B,S]) -> (log_probs[B,V], new_k, new_v)`` where the
  self-attention cache is ``[L, B, H, T, Dh]`` (``T`` = max target length)
  and ``new_k``/``new_v`` are ``[L, B, H, 1, Dh]``, the entries for
  ``position`` that the runtime writes into its cache.

The runtime only ever sees this contract, so a new architecture needs a new
adapter and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class ModelDims:
    """Sizes the runtime needs to allocate caches and check inputs."""

    architecture: str
    d_model: int
    encoder_layers: int
    decoder_layers: int
    attention_heads: int
    ffn_dim: int
    vocab_size: int

    @property
    def head_dim(self) -> int:
        return self.d_model // self.attention_heads


@dataclass(frozen=True)
class SpecialTokens:
    pad_id: int
    eos_id: int
    unk_id: int
    decoder_start_id: int


@dataclass
class StepGraphs:
    """The two exportable modules plus what describes them."""

    encoder: torch.nn.Module
    decoder_step: torch.nn.Module
    dims: ModelDims
    special: SpecialTokens
    max_positions: int
    # generation behaviour read from the checkpoint, recorded in the manifest
    forced_eos: bool
    parameter_count: int
    # step contract 2 (the ONNX graphs since schema 2): the cache grows, rows follow ``parents``
    growing_step: torch.nn.Module | None = None
    # contract 2 with a vocabulary shortlist: logits over the ``vocab_ids`` input only
    shortlist_step: torch.nn.Module | None = None
