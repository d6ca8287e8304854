"""Marian (OPUS-MT) adapter: HF ``MarianMTModel`` -> step-contract modules.

The modules reuse the checkpoint's own ``nn.Linear``/``nn.LayerNorm``/
embedding objects (no weight copies), and recompute Marian's post-norm
transformer with an explicit, export-friendly static KV cache.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from pocketmt.export.arch.base import ModelDims, SpecialTokens, StepGraphs
from pocketmt.export.errors import ModelDirError

_ACTIVATIONS = {
    "swish": nn.functional.silu,
    "silu": nn.functional.silu,
    "relu": nn.functional.relu,
    "gelu": nn.functional.gelu,
}

_NEG = -1e9  # additive mask value; finite so that fp16 paths stay NaN-free later


def _split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    b, s, d = x.shape
    return x.view(b, s, heads, d // heads).transpose(1, 2)


def _merge_heads(x: torch.Tensor) -> torch.Tensor:
    b, h, s, dh = x.shape
    return x.transpose(1, 2).reshape(b, s, h * dh)


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """q [B,H,Q,Dh] (already scaled), k/v [B,H,K,Dh], mask additive, broadcastable to [B,H,Q,K]."""
    scores = torch.matmul(q, k.transpose(-1, -2)) + mask
    return torch.matmul(torch.softmax(scores, dim=-1), v)


def _scores_one_query(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Scores ``[B,H,1,K]`` of one query per row, q ``[B,H,1,Dh]`` against k ``[B,H,K,Dh]``, as one 3-D
    ``bmm`` of the keys by the query: a 4-D ``matmul`` against the transposed keys would copy the keys
    twice per call (the transpose, and the broadcast that ExecuTorch's portable kernels materialize)."""
    b, h, n, dh = k.shape
    return torch.bmm(k.reshape(b * h, n, dh), q.reshape(b * h, dh, 1)).reshape(b, h, 1, n)


def _weighted_values(p: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """p ``[B,H,1,K]`` times v ``[B,H,K,Dh]`` -> ``[B,H,1,Dh]``, as one 3-D ``bmm``."""
    b, h, n, dh = v.shape
    return torch.bmm(p.reshape(b * h, 1, n), v.reshape(b * h, n, dh)).reshape(b, h, 1, dh)


def _attend_one_query(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``_attend`` for one query per row (a decoder step), the keys and values read where they are."""
    return _weighted_values(torch.softmax(_scores_one_query(q, k) + mask, dim=-1), v)


def _attend_cache_and_new(
    q: torch.Tensor,
    cache_k: torch.Tensor,
    cache_v: torch.Tensor,
    cache_mask: torch.Tensor,
    k_new: torch.Tensor,
    v_new: torch.Tensor,
) -> torch.Tensor:
    """Self-attention of a contract-1 step: the query over the cache's ``T`` slots (``cache_mask``
    additive, ``[T]``) and over the new token's own key and value, without appending the new token to a
    copy of the cache: its score joins the cache's scores, its value is added after the weighted sum."""
    t = cache_k.shape[2]
    scores = torch.cat([_scores_one_query(q, cache_k) + cache_mask, (q * k_new).sum(-1, keepdim=True)], -1)
    p = torch.softmax(scores, dim=-1)
    return _weighted_values(p[..., :t], cache_v) + p[..., t:] * v_new


def _log_softmax(logits: torch.Tensor) -> torch.Tensor:
    """``log_softmax`` over the last axis of ``[B,V]`` logits, written in ops that XNNPACK runs on 4-D
    tensors (``max.dim``, ``exp``, ``mean.dim`` over the two inner axes, ``log``): ExecuTorch has
    ``log_softmax`` only as a portable kernel, a fifth of a beam-4 step's time on an 8,000-token vocabulary.
    ``log(mean) + log(V)`` is ``log(sum)``; the result agrees with ``torch.log_softmax`` to float rounding."""
    b, v = logits.shape
    x = logits.reshape(b, 1, 1, v)
    z = x - torch.max(x, dim=3, keepdim=True).values  # XNNPACK takes dim 2 or 3, not -1
    lse = torch.log(torch.mean(torch.exp(z), dim=(2, 3), keepdim=True)) + math.log(v)
    return (z - lse).reshape(b, v)


def _position_table(module: Any, rows: int) -> torch.Tensor:
    """The sinusoidal table cut to the positions a bundle can reach: the rest would be dead bytes."""
    return module.weight[:rows].detach().clone()


class MarianEncoderGraph(nn.Module):
    def __init__(self, model: Any, positions: int) -> None:
        super().__init__()
        cfg = model.config
        enc = model.model.encoder
        self.embed_tokens = enc.embed_tokens
        self.register_buffer("positions", _position_table(enc.embed_positions, positions), persistent=False)
        self.layers = enc.layers
        self.cross_layers = nn.ModuleList([layer.encoder_attn for layer in model.model.decoder.layers])
        self.embed_scale = math.sqrt(cfg.d_model) if cfg.scale_embedding else 1.0
        self.heads = cfg.encoder_attention_heads
        self.dec_heads = cfg.decoder_attention_heads
        self.act = _ACTIVATIONS[cfg.activation_function]

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        seq = input_ids.shape[1]
        h = self.embed_tokens(input_ids) * self.embed_scale
        h = h + self.positions[:seq].unsqueeze(0)
        mask = (1.0 - attention_mask.to(h.dtype))[:, None, None, :] * _NEG
        for layer in self.layers:
            att = layer.self_attn
            q = _split_heads(att.q_proj(h) * att.scaling, self.heads)
            k = _split_heads(att.k_proj(h), self.heads)
            v = _split_heads(att.v_proj(h), self.heads)
            h = layer.self_attn_layer_norm(h + att.out_proj(_merge_heads(_attend(q, k, v, mask))))
            ff = layer.fc2(self.act(layer.fc1(h)))
            h = layer.final_layer_norm(h + ff)
        ks = [_split_heads(c.k_proj(h), self.dec_heads) for c in self.cross_layers]
        vs = [_split_heads(c.v_proj(h), self.dec_heads) for c in self.cross_layers]
        return torch.stack(ks), torch.stack(vs)


class _MarianDecoder(nn.Module):
    """What both step contracts' decoder graphs hold: the checkpoint's own decoder modules."""

    def __init__(self, model: Any, positions: int) -> None:
        super().__init__()
        cfg = model.config
        dec = model.model.decoder
        self.embed_tokens = dec.embed_tokens
        self.register_buffer("positions", _position_table(dec.embed_positions, positions), persistent=False)
        self.layers = dec.layers
        self.lm_head = model.lm_head
        self.register_buffer("final_logits_bias", model.final_logits_bias.detach().clone(), persistent=False)
        self.embed_scale = math.sqrt(cfg.d_model) if cfg.scale_embedding else 1.0
        self.heads = cfg.decoder_attention_heads
        self.act = _ACTIVATIONS[cfg.activation_function]


class MarianDecoderStepGraph(_MarianDecoder):
    def __init__(self, model: Any, max_target_len: int, positions: int) -> None:
        super().__init__(model, positions)
        self.register_buffer("cache_positions", torch.arange(max_target_len), persistent=False)

    def forward(
        self,
        input_ids: torch.Tensor,
        position: torch.Tensor,
        self_k: torch.Tensor,
        self_v: torch.Tensor,
        cross_k: torch.Tensor,
        cross_v: torch.Tensor,
        attention_mask: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.embed_tokens(input_ids) * self.embed_scale  # [B,1,D]
        h = h + self.positions.index_select(0, position).unsqueeze(0)
        # cache slots before `position` are filled; the new token attends to itself too
        cache_mask = torch.where(self.cache_positions < position, 0.0, _NEG).to(h.dtype)
        cross_mask = (1.0 - attention_mask.to(h.dtype))[:, None, None, :] * _NEG
        new_ks = []
        new_vs = []
        for i, layer in enumerate(self.layers):
            att = layer.self_attn
            q = _split_heads(att.q_proj(h) * att.scaling, self.heads)
            k_new = _split_heads(att.k_proj(h), self.heads)
            v_new = _split_heads(att.v_proj(h), self.heads)
            new_ks.append(k_new)
            new_vs.append(v_new)
            out = _attend_cache_and_new(q, self_k[i], self_v[i], cache_mask, k_new, v_new)
            h = layer.self_attn_layer_norm(h + att.out_proj(_merge_heads(out)))
            catt = layer.encoder_attn
            q = _split_heads(catt.q_proj(h) * catt.scaling, self.heads)
            out = _attend_one_query(q, cross_k[i], cross_v[i], cross_mask)
            h = layer.encoder_attn_layer_norm(h + catt.out_proj(_merge_heads(out)))
            ff = layer.fc2(self.act(layer.fc1(h)))
            h = layer.final_layer_norm(h + ff)
        logits = self.lm_head(h[:, 0, :]) + self.final_logits_bias
        return _log_softmax(logits), torch.stack(new_ks), torch.stack(new_vs)


class MarianGrowingStepGraph(_MarianDecoder):
    """Step contract 2 (``docs/bundle.md``): the cache holds only the positions filled so far and
    comes back one position longer; rows continue the cache rows that ``parents`` names (the beam's
    reorder, done here by index instead of by the host); the encoder's keys and values come once per
    sentence, and the rows of a sentence (``R / B`` of them, contiguous) read them together, as one
    query block, instead of one tiled copy per row."""

    def forward(
        self,
        input_ids: torch.Tensor,  # [R,1]
        position: torch.Tensor,  # [1]: tokens decoded before this one (= P)
        past_k: torch.Tensor,  # [L,R0,H,P,Dh]
        past_v: torch.Tensor,
        parents: torch.Tensor,  # [R]: the past row each row continues
        cross_k: torch.Tensor,  # [L,B,H,S,Dh]
        cross_v: torch.Tensor,
        attention_mask: torch.Tensor,  # [B,S]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h, ks, vs = self.hidden(
            input_ids, position, past_k, past_v, parents, cross_k, cross_v, attention_mask
        )
        logits = self.lm_head(h) + self.final_logits_bias
        return torch.log_softmax(logits, dim=-1), ks, vs

    def hidden(
        self,
        input_ids: torch.Tensor,
        position: torch.Tensor,
        past_k: torch.Tensor,
        past_v: torch.Tensor,
        parents: torch.Tensor,
        cross_k: torch.Tensor,
        cross_v: torch.Tensor,
        attention_mask: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The decoder's last hidden state ``[R,D]`` and the present cache."""
        rows = input_ids.shape[0]
        sentences = cross_k.shape[1]
        h = self.embed_tokens(input_ids) * self.embed_scale  # [R,1,D]
        h = h + self.positions.index_select(0, position).unsqueeze(0)
        past_k = past_k.index_select(1, parents)
        past_v = past_v.index_select(1, parents)
        cross_mask = (1.0 - attention_mask.to(h.dtype))[:, None, None, :] * _NEG  # [B,1,1,S]
        ks = []
        vs = []
        for i, layer in enumerate(self.layers):
            att = layer.self_attn
            q = _split_heads(att.q_proj(h) * att.scaling, self.heads)
            k = torch.cat([past_k[i], _split_heads(att.k_proj(h), self.heads)], dim=2)
            v = torch.cat([past_v[i], _split_heads(att.v_proj(h), self.heads)], dim=2)
            ks.append(k)
            vs.append(v)
            # every cached position is filled: nothing to mask
            scores = torch.matmul(q, k.transpose(-1, -2))
            out = torch.matmul(torch.softmax(scores, dim=-1), v)
            h = layer.self_attn_layer_norm(h + att.out_proj(_merge_heads(out)))
            catt = layer.encoder_attn
            q = catt.q_proj(h) * catt.scaling  # [R,1,D]
            # the R/B rows of each sentence as one block of queries: [B,H,R/B,Dh]
            q = q.reshape(sentences, -1, self.heads, q.shape[-1] // self.heads).transpose(1, 2)
            out = _attend(q, cross_k[i], cross_v[i], cross_mask)  # [B,H,R/B,Dh]
            out = out.transpose(1, 2).reshape(rows, 1, -1)
            h = layer.encoder_attn_layer_norm(h + catt.out_proj(out))
            ff = layer.fc2(self.act(layer.fc1(h)))
            h = layer.final_layer_norm(h + ff)
        return h[:, 0, :], torch.stack(ks), torch.stack(vs)


class MarianShortlistStepGraph(MarianGrowingStepGraph):
    """Step contract 2 with a vocabulary shortlist (``docs/bundle.md``): the output projection over the
    ids of ``vocab_ids`` only, returned as logits ``[R,K]`` (the host normalizes each sentence's rows
    over its own candidates, ``runtime/shortlist.py``)."""

    def forward(  # type: ignore[override]
        self,
        input_ids: torch.Tensor,
        position: torch.Tensor,
        past_k: torch.Tensor,
        past_v: torch.Tensor,
        parents: torch.Tensor,
        cross_k: torch.Tensor,
        cross_v: torch.Tensor,
        attention_mask: torch.Tensor,
        vocab_ids: torch.Tensor,  # [K]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h, ks, vs = self.hidden(
            input_ids, position, past_k, past_v, parents, cross_k, cross_v, attention_mask
        )
        rows = self.lm_head.weight.index_select(0, vocab_ids)  # [K,D]
        bias = self.final_logits_bias.index_select(1, vocab_ids)  # [1,K]
        return torch.matmul(h, rows.transpose(0, 1)) + bias, ks, vs


def marian_config(
    vocab_size: int,
    d_model: int,
    encoder_layers: int,
    decoder_layers: int,
    heads: int,
    ffn_dim: int,
    max_positions: int = 512,
    dropout: float = 0.1,
    init_std: float = 0.02,
) -> Any:
    """A ``MarianConfig`` in the OPUS-MT layout: ``</s>`` 0, ``<unk>`` 1, ``<pad>`` last and decoder start,
    shared and tied embeddings, swish, scaled embeddings, forced EOS at the length limit."""
    from transformers import MarianConfig

    pad = vocab_size - 1
    return MarianConfig(
        vocab_size=vocab_size,
        decoder_vocab_size=vocab_size,
        d_model=d_model,
        encoder_layers=encoder_layers,
        decoder_layers=decoder_layers,
        encoder_attention_heads=heads,
        decoder_attention_heads=heads,
        encoder_ffn_dim=ffn_dim,
        decoder_ffn_dim=ffn_dim,
        max_position_embeddings=max_positions,
        dropout=dropout,
        attention_dropout=0.0,
        activation_dropout=0.0,
        activation_function="swish",
        scale_embedding=True,
        init_std=init_std,
        pad_token_id=pad,
        eos_token_id=0,
        decoder_start_token_id=pad,
        forced_eos_token_id=0,
        unk_token_id=1,
        share_encoder_decoder_embeddings=True,
        tie_word_embeddings=True,
    )


def load_model(path: Any) -> Any:
    import torch
    from transformers import MarianMTModel

    try:
        return MarianMTModel.from_pretrained(str(path), dtype=torch.float32).eval()
    except Exception as exc:  # corrupt or missing weights, shapes that disagree with config.json
        raise ModelDirError(f"{path}: cannot load the weights ({exc})") from exc


def build_step_graphs(model: Any, max_target_len: int, max_source_len: int | None = None) -> StepGraphs:
    """Step graphs for ``model``; both hold the position table up to the longer of the two limits
    (one identical table, which the bundle stores once)."""
    cfg = model.config
    if cfg.encoder_attention_heads != cfg.decoder_attention_heads:
        raise ValueError("encoder and decoder head counts differ; not supported yet")
    if getattr(cfg, "share_encoder_decoder_embeddings", True) is False:
        raise ValueError("separate source/target vocabularies are not supported yet")
    if max_target_len > cfg.max_position_embeddings:
        raise ValueError(
            f"max target length {max_target_len} exceeds the model's {cfg.max_position_embeddings} positions"
        )
    model.eval()
    dims = ModelDims(
        architecture="marian",
        d_model=cfg.d_model,
        encoder_layers=cfg.encoder_layers,
        decoder_layers=cfg.decoder_layers,
        attention_heads=cfg.decoder_attention_heads,
        ffn_dim=cfg.decoder_ffn_dim,
        vocab_size=cfg.vocab_size,
    )
    gen = getattr(model, "generation_config", None)
    forced_eos = (
        getattr(gen, "forced_eos_token_id", None) is not None
        or cfg.to_dict().get("forced_eos_token_id") is not None
    )
    unk = _unk_id(model)
    special = SpecialTokens(
        pad_id=cfg.pad_token_id,
        eos_id=cfg.eos_token_id,
        unk_id=unk,
        decoder_start_id=cfg.decoder_start_token_id,
    )
    params = sum(p.numel() for p in model.parameters())
    positions = min(
        max(max_source_len or cfg.max_position_embeddings, max_target_len), cfg.max_position_embeddings
    )
    return StepGraphs(
        encoder=MarianEncoderGraph(model, positions).eval(),
        decoder_step=MarianDecoderStepGraph(model, max_target_len, positions).eval(),
        growing_step=MarianGrowingStepGraph(model, positions).eval(),
        shortlist_step=MarianShortlistStepGraph(model, positions).eval(),
        dims=dims,
        special=special,
        max_positions=cfg.max_position_embeddings,
        forced_eos=forced_eos,
        parameter_count=params,
    )


def _unk_id(model: Any) -> int:
    unk = getattr(model.config, "unk_token_id", None)
    return int(unk) if unk is not None else 1
