"""``pocketmt quantize``: apply a ``QuantPolicy`` to a Marian checkpoint folder.

int8 and int4 are post-training (round to nearest, symmetric). Ternary starts from the fp32
checkpoint and fine-tunes with fake-quantized weights (straight-through estimator, BitNet b1.58's
absmean scale), then freezes the weights to exact ``code * scale`` values. This module sits above
the trainer and the quantizer: quantization never imports training.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from pocketmt.export.arch.marian import load_model
from pocketmt.export.compression.quantize import (
    QUANT_JSON,
    add_fake_quant,
    frozen_copy,
    plan,
    quantize_,
    read_tensors,
    save_quantized,
    write_tensors,
)
from pocketmt.export.compression.schemes import QuantPolicy
from pocketmt.export.training.trainer import FineTuneOptions, Trainer
from pocketmt.runtime.errors import InputError


def needs_training(policy: QuantPolicy) -> bool:
    return any(r.scheme is not None and r.scheme.kind == "ternary" for r in policy.rules)


def refuse_overwrite(out: Path, overwrite: bool) -> None:
    if out.exists() and (out / QUANT_JSON).is_file() and not overwrite:
        raise InputError(f"{out}: already holds a quantized model (pass --overwrite to replace it)")


def _freeze_into(model: torch.nn.Module, policy: QuantPolicy, folder: Path) -> torch.nn.Module:
    plain, tensors = frozen_copy(model, policy)
    write_tensors(tensors, folder)
    return plain


def quantize_checkpoint(
    model_dir: str | Path,
    out: str | Path,
    policy: QuantPolicy,
    qat: FineTuneOptions | None = None,
    say: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Quantize ``model_dir`` into ``out``; ternary policies need ``qat`` (fine-tuning data)."""
    say = say or (lambda _m: None)
    source, target = Path(model_dir), Path(out)
    if qat is None:
        model = load_model(source)
        tensors = quantize_(model, policy)
        save_quantized(model, tensors, policy, source, target, {"method": "post-training"})
        return {"tensors": len(tensors), "method": "post-training"}
    trainer = Trainer(
        qat.train_config(target / ".qat", source),
        say,
        prepare=lambda m: add_fake_quant(m, policy),
        materialize=lambda m, folder: _freeze_into(m, policy, folder),
    )
    progress = trainer.run()
    # the trainer kept the best frozen model, with its codes and scales, in .qat
    model = load_model(target / ".qat")
    schemes = {name: scheme for name, (scheme, _) in plan(model, policy).items()}
    tensors = read_tensors(target / ".qat", schemes)
    how = {"method": "quantization-aware training", "qat": asdict(qat), "best": progress.get("best_epoch")}
    save_quantized(model, tensors, policy, source, target, how)
    return {"tensors": len(tensors), **how, "valid_bleu": progress.get("best_bleu")}
