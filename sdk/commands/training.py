"""``pocketmt train`` and ``pocketmt distill``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pocketmt.runtime.errors import InputError


def _add_train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--src", required=True, help="training source text (plain or gzip)")
    p.add_argument("--tgt", required=True, help="training target text, aligned")
    p.add_argument("--valid-src", dest="valid_src", required=True)
    p.add_argument("--valid-tgt", dest="valid_tgt", required=True)
    p.add_argument(
        "-o", "--output", dest="out", required=True, help="model folder (rerun the command to resume)"
    )
    p.add_argument("--arch", default=None, help="tiny, student, base or teacher (default base)")
    p.add_argument("--config", default=None, help="JSON file of training settings; flags override it")
    p.add_argument("--max-epochs", dest="max_epochs", type=int, default=None)
    p.add_argument("--max-steps", dest="max_steps", type=int, default=None)
    p.add_argument("--batch-tokens", dest="batch_tokens", type=int, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--patience", type=int, default=None)
    p.add_argument(
        "--precision", choices=["fp32", "bf16"], default=None, help="training arithmetic (default fp32)"
    )
    p.add_argument("--source-lang", dest="source_lang", default=None)
    p.add_argument("--target-lang", dest="target_lang", default=None)


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("train", help="train a Marian-architecture model (and its tokenizer) on parallel text")
    _add_train_args(p)
    p.set_defaults(func=run_train)

    p = sub.add_parser(
        "distill", help="sequence-level distillation: train a student on a teacher's translations"
    )
    p.add_argument(
        "--teacher",
        required=True,
        action="append",
        help="teacher model folder (Hugging Face Marian checkpoint); repeat it for an ensemble",
    )
    p.add_argument("--beam", type=int, default=4, help="teacher beam size (default 4)")
    p.add_argument("--mix-original", action="store_true", help="train on the original pairs as well")
    _add_train_args(p)
    p.set_defaults(func=run_distill)


def _train_config(args: argparse.Namespace) -> Any:
    """Settings from ``--config`` (JSON), overridden by the flags given."""
    from pocketmt.export.training.trainer import TrainConfig

    overrides = {}
    if args.config:
        try:
            overrides = json.loads(Path(args.config).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"{args.config}: not a readable JSON config ({exc})") from exc
    fields = set(TrainConfig.__dataclass_fields__)
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise InputError(f"{args.config}: unknown settings {', '.join(unknown)}")
    given = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    return TrainConfig(**{**overrides, **given})


def _report(out: str, progress: dict[str, Any]) -> None:
    print(
        f"model written: {out} (best valid BLEU {progress['best_bleu']:.2f} at epoch {progress['best_epoch']}, "
        f"{progress['step']} steps, {progress['seconds'] / 60:.1f} min of training)"
    )


def run_train(args: argparse.Namespace) -> int:
    from pocketmt.export.training.trainer import train_model

    cfg = _train_config(args)
    _report(cfg.out, train_model(cfg))
    return 0


def run_distill(args: argparse.Namespace) -> int:
    from pocketmt.export.checkpoint import require_checkpoint
    from pocketmt.export.training.distill import DistillConfig, distill

    for teacher in args.teacher:
        require_checkpoint(teacher, "teacher folder is not a model checkpoint")
    cfg = DistillConfig(
        teachers=tuple(args.teacher),
        train=_train_config(args),
        beam=args.beam,
        mix_original=args.mix_original,
    )
    _report(cfg.train.out, distill(cfg))
    return 0
