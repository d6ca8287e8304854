"""``pocketmt prune``: structured pruning that shrinks tensors, then a short recovery fine-tune.

Targets (``PruneTarget``): keep a fraction of each layer's FFN neurons, and/or drop whole decoder or
encoder layers. Both keep the checkpoint a plain Marian model (every layer keeps the same FFN width,
so ``config.json`` describes it and transformers, CTranslate2 and our export load it unchanged).

Importance is measured, not guessed: on calibration pairs (teacher-forced), an FFN neuron scores
``mean |activation| * ||fc2 column||`` (its average contribution to the layer output), and a layer
scores the rise in the calibration loss when that layer alone is skipped. The least important
neurons and layers go. Attention heads are not pruned: Marian's attention ties the head width to
``d_model``, so fewer heads would not be a standard checkpoint.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from pocketmt.export.arch.marian import load_model
from pocketmt.export.training.trainer import FineTuneOptions, train_model
from pocketmt.io.tokenizer_files import copy_tokenizer
from pocketmt.runtime.tokenizer import MarianTokenizer


@dataclass(frozen=True)
class PruneTarget:
    ffn_keep: float = 1.0  # fraction of FFN neurons kept in every layer
    drop_decoder_layers: int = 0
    drop_encoder_layers: int = 0

    @staticmethod
    def parse(text: str) -> PruneTarget:
        """``ffn=0.75,decoder_layers=1,encoder_layers=0`` (keep 75% of FFN neurons, drop one decoder layer)."""
        values: dict[str, Any] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            key, _, value = part.partition("=")
            try:
                if key == "ffn":
                    values["ffn_keep"] = float(value)
                elif key in ("decoder_layers", "encoder_layers"):
                    values[f"drop_{key}"] = int(value)
                else:
                    raise ValueError(f"unknown target {key!r} (ffn, decoder_layers, encoder_layers)")
            except ValueError as exc:
                raise ValueError(f"--target {part!r}: {exc}") from exc
        target = PruneTarget(**values)
        if not 0 < target.ffn_keep <= 1:
            raise ValueError("--target ffn must be in (0, 1]")
        return target


def _batch(tokenizer: Any, pairs: list[tuple[str, str]], pad: int) -> dict[str, torch.Tensor]:
    src = [tokenizer.encode(s) for s, _ in pairs]
    tgt = [tokenizer.encode(t) for _, t in pairs]
    ws, wt = max(map(len, src)), max(map(len, tgt))
    src_t = torch.tensor([s + [pad] * (ws - len(s)) for s in src])
    tgt_t = torch.tensor([t + [pad] * (wt - len(t)) for t in tgt])
    dec_in = torch.cat([torch.full((len(pairs), 1), pad), tgt_t[:, :-1]], dim=1)
    return {
        "input_ids": src_t,
        "attention_mask": (src_t != pad).long(),
        "decoder_input_ids": dec_in,
        "labels": tgt_t.masked_fill(tgt_t == pad, -100),
    }


@torch.no_grad()
def _loss(model: Any, batches: list[dict[str, torch.Tensor]]) -> float:
    total = 0.0
    for b in batches:
        total += float(model(**b).loss)
    return total / len(batches)


@torch.no_grad()
def ffn_importance(model: Any, batches: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Per layer (``encoder.3``, ``decoder.0``): one score per FFN neuron."""
    sums: dict[str, torch.Tensor] = {}
    hooks = []
    layers = {f"encoder.{i}": layer for i, layer in enumerate(model.model.encoder.layers)}
    layers.update({f"decoder.{i}": layer for i, layer in enumerate(model.model.decoder.layers)})
    for name, layer in layers.items():

        def hook(_m: Any, inputs: tuple[torch.Tensor, ...], _out: Any, name: str = name) -> None:
            act = inputs[0].detach().abs().reshape(-1, inputs[0].shape[-1]).mean(dim=0)
            sums[name] = sums.get(name, 0) + act

        hooks.append(layer.fc2.register_forward_hook(hook))
    try:
        for b in batches:
            model(**b)
    finally:
        for h in hooks:
            h.remove()
    return {name: sums[name] * layers[name].fc2.weight.norm(dim=0) for name in layers}


@torch.no_grad()
def layer_importance(model: Any, batches: list[dict[str, torch.Tensor]], side: str) -> list[float]:
    """Rise of the calibration loss when each ``side`` (encoder/decoder) layer alone is skipped."""
    stack = getattr(model.model, side)
    base = _loss(model, batches)
    scores = []
    original = stack.layers
    for i in range(len(original)):
        stack.layers = torch.nn.ModuleList([layer for j, layer in enumerate(original) if j != i])
        try:
            scores.append(_loss(model, batches) - base)
        finally:
            stack.layers = original
    return scores


@torch.no_grad()
def _shrink_ffn(layer: Any, keep: torch.Tensor) -> None:
    fc1, fc2 = layer.fc1, layer.fc2
    new1 = torch.nn.Linear(fc1.in_features, len(keep))
    new1.weight.copy_(fc1.weight[keep])
    new1.bias.copy_(fc1.bias[keep])
    new2 = torch.nn.Linear(len(keep), fc2.out_features)
    new2.weight.copy_(fc2.weight[:, keep])
    new2.bias.copy_(fc2.bias)
    layer.fc1, layer.fc2 = new1, new2


def prune_model(model: Any, target: PruneTarget, batches: list[dict[str, torch.Tensor]]) -> dict[str, Any]:
    """Prune ``model`` in place; returns what was removed and why."""
    model.eval()
    report: dict[str, Any] = {"parameters_before": sum(p.numel() for p in model.parameters())}
    cfg = model.config
    for side, drop in (("decoder", target.drop_decoder_layers), ("encoder", target.drop_encoder_layers)):
        if not drop:
            continue
        stack = getattr(model.model, side)
        if drop >= len(stack.layers):
            raise ValueError(f"cannot drop {drop} of {len(stack.layers)} {side} layers")
        scores = layer_importance(model, batches, side)
        gone = sorted(range(len(scores)), key=lambda i: scores[i])[:drop]
        stack.layers = torch.nn.ModuleList([layer for i, layer in enumerate(stack.layers) if i not in gone])
        setattr(cfg, f"{side}_layers", len(stack.layers))
        report[f"{side}_layer_loss_rise"] = [round(s, 4) for s in scores]
        report[f"{side}_layers_dropped"] = sorted(gone)
    if target.ffn_keep < 1:
        scores = ffn_importance(model, batches)
        width = cfg.encoder_ffn_dim
        keep_n = max(1, round(width * target.ffn_keep))
        layers = {f"encoder.{i}": layer for i, layer in enumerate(model.model.encoder.layers)}
        layers.update({f"decoder.{i}": layer for i, layer in enumerate(model.model.decoder.layers)})
        for name, layer in layers.items():
            keep = torch.sort(torch.topk(scores[name], keep_n).indices).values
            _shrink_ffn(layer, keep)
        cfg.encoder_ffn_dim = cfg.decoder_ffn_dim = keep_n
        report["ffn_dim"] = [width, keep_n]
    report["parameters_after"] = sum(p.numel() for p in model.parameters())
    return report


def recovery_options(
    src: str, tgt: str, valid_src: str, valid_tgt: str, max_epochs: int = 2
) -> FineTuneOptions:
    """The recovery fine-tune's schedule: short warm-up, no checkpoint averaging."""
    return FineTuneOptions(
        src,
        tgt,
        valid_src,
        valid_tgt,
        max_epochs=max_epochs,
        warmup_steps=100,
        patience=4,
        checkpoint_every=200,
        average_last=0,
    )


def prune_checkpoint(
    model_dir: str | Path,
    out: str | Path,
    target: PruneTarget,
    calib: list[tuple[str, str]],
    recovery: FineTuneOptions | None = None,
    say: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    say = say or (lambda _m: None)
    source, target_dir = Path(model_dir), Path(out)
    model = load_model(source)
    tok = MarianTokenizer(source / "source.spm", source / "target.spm", source / "vocab.json")
    pad = model.config.pad_token_id
    batches = [_batch(tok, calib[i : i + 32], pad) for i in range(0, len(calib), 32)]
    say(f"measuring importance on {len(calib)} calibration pairs")
    report = prune_model(model, target, batches)
    report["calibration_loss"] = round(_loss(model, batches), 4)
    say(f"parameters {report['parameters_before'] / 1e6:.2f}M -> {report['parameters_after'] / 1e6:.2f}M")
    pruned = target_dir / ".pruned" if recovery else target_dir
    pruned.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(pruned))
    copy_tokenizer(source, pruned)
    if recovery:
        say("recovery fine-tune")
        progress = train_model(recovery.train_config(target_dir, pruned), say)
        report["recovery"] = {**asdict(recovery), "valid_bleu": progress.get("best_bleu")}
    report["target"] = asdict(target)
    (target_dir / "pruning.json").write_text(json.dumps(report, indent=1) + "\n")
    return report
