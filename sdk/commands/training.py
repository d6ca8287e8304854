"""``pocketmt train`` and ``pocketmt distill``."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from pocketmt.runtime.errors import InputError


def _add_train_args(p: argparse.ArgumentParser) -> None:
    # the preset table (plain data, no torch) is read when the parser is built, not when the CLI imports
    from pocketmt.export.training.presets import PRESETS, arch_help

    p.add_argument("--src", required=True, help="training source text (plain or gzip)")
    p.add_argument("--tgt", required=True, help="training target text, aligned")
    p.add_argument("--valid-src", dest="valid_src", required=True)
    p.add_argument("--valid-tgt", dest="valid_tgt", required=True)
    p.add_argument(
        "-o", "--output", dest="out", required=True, help="model folder (rerun the command to resume)"
    )
    p.add_argument("--arch", default=None, choices=list(PRESETS), metavar="ARCH", help=arch_help())
    p.add_argument("--config", default=None, help="JSON file of training settings; flags override it")
    p.add_argument("--max-epochs", dest="max_epochs", type=int, default=None)
    p.add_argument("--max-steps", dest="max_steps", type=int, default=None)
    p.add_argument(
        "--batch-tokens",
        dest="batch_tokens",
        type=int,
        default=None,
        help="(default: scaled to the corpus: the largest of 4096/2048/1024 giving an epoch 200 steps)",
    )
    p.add_argument(
        "--lr",
        type=float,
        default=None,
        help="peak learning rate (default: 7e-4 at 4096-token batches, 5e-4 at 2048, 3.5e-4 at 1024)",
    )
    p.add_argument(
        "--warmup-steps",
        dest="warmup_steps",
        type=int,
        default=None,
        help="(default: one epoch, at most 4000)",
    )
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--patience", type=int, default=None)
    p.add_argument(
        "--precision",
        choices=["auto", "fp32", "bf16"],
        default=None,
        help="training arithmetic (default auto: bf16 where the CPU (AVX512-BF16/AMX) or GPU computes it natively, else fp32)",
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
    """Settings from ``--config`` (JSON), overridden by the flags given, each checked for its type and
    range before any work (a wrong one would otherwise surface after the first epoch)."""
    from pocketmt.export.training.trainer import TrainConfig
    from pocketmt.runtime.glossary import parse_json

    overrides: Any = {}
    if args.config:
        try:
            text = Path(args.config).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{args.config}: not a readable JSON config ({exc})") from exc
        overrides = parse_json(text, args.config)
        if not isinstance(overrides, dict):
            raise InputError(
                f"{args.config}: a JSON config is an object of settings, not {_json_kind(overrides)}"
            )
    fields = TrainConfig.__dataclass_fields__
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise InputError(f"{args.config}: unknown settings {', '.join(unknown)}")
    given = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    settings = {**overrides, **given}
    for name, value in settings.items():
        where = (
            f"{args.config}: {name}"
            if name in overrides and name not in given
            else f"--{name.replace('_', '-')}"
        )
        _check_setting(where, name, value, str(fields[name].type))
    _prepare_output(settings.get("out", args.out))
    return TrainConfig(**settings)


# the least value each numeric setting takes (``lr`` must also be finite and above 0)
_AT_LEAST = {
    "max_epochs": 1,
    "max_steps": 0,
    "batch_tokens": 1,
    "warmup_steps": 1,
    "patience": 1,
    "max_len": 2,
    "checkpoint_every": 1,
    "valid_limit": 0,
    "average_last": 0,
}


def _json_kind(value: Any) -> str:
    return {list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def _check_setting(where: str, name: str, value: Any, annotation: str) -> None:
    """``value`` fits the setting's declared type (``int``, ``float | None``, ...) and range."""
    kinds = {k.strip() for k in annotation.split("|")}
    if value is None:
        if "None" not in kinds:
            raise InputError(f"{where}: must be set, not null")
        return
    is_int = isinstance(value, int) and not isinstance(value, bool)
    fits = (
        ("int" in kinds and is_int)
        or ("float" in kinds and (is_int or isinstance(value, float)))
        or ("str" in kinds and isinstance(value, str))
        or ("bool" in kinds and isinstance(value, bool))
    )
    if not fits:
        wanted = " or ".join(sorted(k for k in kinds if k != "None"))
        raise InputError(f"{where}: must be {wanted}, not {value!r}")
    if name in _AT_LEAST and value < _AT_LEAST[name]:
        raise InputError(f"{where}: must be at least {_AT_LEAST[name]}, not {value!r}")
    if name == "lr" and not 0 < value < math.inf:
        raise InputError(f"{where}: must be a positive number, not {value!r}")
    if name == "label_smoothing" and not 0 <= value < 1:
        raise InputError(f"{where}: must be at least 0 and below 1, not {value!r}")


def _prepare_output(out: str) -> None:
    """The model folder: a file in its place, or a parent that cannot hold it, fails before training."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise InputError(f"-o {path}: exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"-o {path}: cannot create the folder ({exc.strerror})") from exc


def _require_data(args: argparse.Namespace) -> None:
    """Training text that is there, and a validation set with at least one pair (the trainer would
    otherwise fail only after its first epoch)."""
    from pocketmt.io.corpus import read_parallel

    for flag in ("src", "tgt"):
        path = Path(getattr(args, flag))
        if path.is_file() and path.stat().st_size == 0:
            raise InputError(f"--{flag} {path}: the file is empty")
    valid_src, _ = read_parallel(args.valid_src, args.valid_tgt)
    if not valid_src:
        raise InputError(f"--valid-src {args.valid_src} and --valid-tgt {args.valid_tgt} are empty")


def _report(out: str, progress: dict[str, Any]) -> None:
    print(
        f"model written: {out} (best valid BLEU {progress['best_bleu']:.2f} at epoch {progress['best_epoch']}, "
        f"{progress['step']} steps, {progress['seconds'] / 60:.1f} min of training)"
    )


def run_train(args: argparse.Namespace) -> int:
    from pocketmt.export.training.trainer import train_model

    _require_data(args)
    cfg = _train_config(args)
    _report(cfg.out, train_model(cfg))
    return 0


def run_distill(args: argparse.Namespace) -> int:
    from pocketmt.export.checkpoint import require_checkpoint
    from pocketmt.export.training.distill import DistillConfig, distill

    if args.beam < 1:
        raise InputError(f"--beam must be at least 1, not {args.beam}")
    for teacher in args.teacher:
        require_checkpoint(teacher, "teacher folder is not a model checkpoint")
    _require_data(args)
    cfg = DistillConfig(
        teachers=tuple(args.teacher),
        train=_train_config(args),
        beam=args.beam,
        mix_original=args.mix_original,
    )
    _report(cfg.train.out, distill(cfg))
    return 0
