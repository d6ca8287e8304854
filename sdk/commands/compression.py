"""``pocketmt quantize`` and ``pocketmt prune``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pocketmt.commands.console import say
from pocketmt.runtime.errors import InputError


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "quantize", help="quantize a checkpoint: int8, int4 (post-training) or ternary (trained)"
    )
    p.add_argument("model", help="Marian checkpoint folder")
    p.add_argument("-o", "--output", required=True, help="quantized checkpoint folder to write")
    p.add_argument("--scheme", choices=["int8", "int4", "ternary"], default="int8")
    p.add_argument("--policy", help="JSON policy: per-layer schemes by name pattern (overrides --scheme)")
    p.add_argument("--src", help="fine-tuning source text (ternary)")
    p.add_argument("--tgt", help="fine-tuning target text (ternary)")
    p.add_argument("--valid-src", dest="valid_src")
    p.add_argument("--valid-tgt", dest="valid_tgt")
    p.add_argument("--epochs", type=int, default=4, help="quantization-aware epochs (ternary; default 4)")
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--batch-tokens", dest="batch_tokens", type=int, default=2048)
    p.add_argument(
        "--precision",
        choices=["auto", "fp32", "bf16"],
        default="auto",
        help="QAT arithmetic (default auto: bf16 where the hardware computes it natively, else fp32)",
    )
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=run_quantize)

    p = sub.add_parser(
        "prune", help="structured pruning (FFN neurons, whole layers) with a recovery fine-tune"
    )
    p.add_argument("model", help="Marian checkpoint folder")
    p.add_argument("-o", "--output", required=True, help="pruned checkpoint folder")
    p.add_argument(
        "--target", required=True, help="e.g. ffn=0.75,decoder_layers=1 (FFN fraction kept, layers dropped)"
    )
    p.add_argument("--calib-src", dest="calib_src", required=True, help="calibration source text")
    p.add_argument("--calib-tgt", dest="calib_tgt", required=True, help="calibration target text")
    p.add_argument("--calib-size", dest="calib_size", type=int, default=256)
    p.add_argument("--src", help="recovery fine-tune source text (omit to skip the fine-tune)")
    p.add_argument("--tgt")
    p.add_argument("--valid-src", dest="valid_src")
    p.add_argument("--valid-tgt", dest="valid_tgt")
    p.add_argument("--epochs", type=int, default=2, help="recovery epochs (default 2)")
    p.set_defaults(func=run_prune)


def _policy(args: argparse.Namespace) -> Any:
    from pocketmt.export.compression.schemes import POLICIES, QuantPolicy

    if args.policy:
        from pocketmt.runtime.glossary import parse_json

        try:
            text = Path(args.policy).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"--policy {args.policy}: {exc}") from exc
        data = parse_json(text, f"--policy {args.policy}")
        try:
            return QuantPolicy.from_json(data)
        except ValueError as exc:
            raise InputError(f"--policy {args.policy}: {exc}") from exc
    return POLICIES[args.scheme]


def _output_folder(out: Path) -> None:
    """``-o``: a file in its place, or a parent that cannot hold it, fails before any work."""
    if out.exists() and not out.is_dir():
        raise InputError(f"-o {out}: exists and is not a folder")
    parent = next((p for p in out.absolute().parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise InputError(f"-o {out}: {parent} is not a folder")


def _fine_tune_numbers(args: argparse.Namespace) -> None:
    """The fine-tune's numbers (prune has only ``--epochs``), checked before the checkpoint loads."""
    for flag in ("epochs", "batch_tokens"):
        value = getattr(args, flag, 1)
        if value < 1:
            raise InputError(f"--{flag.replace('_', '-')} must be at least 1, not {value}")
    lr = getattr(args, "lr", 1.0)
    if not 0 < lr < float("inf"):
        raise InputError(f"--lr must be a positive number, not {lr}")


def _require_finetune_data(args: argparse.Namespace, why: str) -> None:
    missing = [f for f in ("src", "tgt", "valid_src", "valid_tgt") if not getattr(args, f)]
    if missing:
        raise InputError(
            f"{why}: pass --src, --tgt, --valid-src and --valid-tgt "
            f"(missing {', '.join('--' + m.replace('_', '-') for m in missing)})"
        )


def run_quantize(args: argparse.Namespace) -> int:
    from pocketmt.export.checkpoint import require_checkpoint
    from pocketmt.export.training.quantize_checkpoint import (
        needs_training,
        quantize_checkpoint,
        refuse_overwrite,
    )
    from pocketmt.export.training.trainer import FineTuneOptions

    require_checkpoint(args.model)
    out = Path(args.output)
    _output_folder(out)
    refuse_overwrite(out, args.overwrite)
    policy = _policy(args)
    qat = None
    if needs_training(policy):
        _require_finetune_data(args, "ternary weights are trained")
        _fine_tune_numbers(args)
        qat = FineTuneOptions(
            src=args.src,
            tgt=args.tgt,
            valid_src=args.valid_src,
            valid_tgt=args.valid_tgt,
            max_epochs=args.epochs,
            lr=args.lr,
            batch_tokens=args.batch_tokens,
            precision=args.precision,
        )
    result = quantize_checkpoint(args.model, out, policy, qat, say=say)
    print(f"quantized model written: {out} ({policy.name}, {result['tensors']} tensors, {result['method']})")
    return 0


def run_prune(args: argparse.Namespace) -> int:
    from pocketmt.export.checkpoint import require_checkpoint
    from pocketmt.export.training.prune import PruneTarget, prune_checkpoint, recovery_options
    from pocketmt.io.corpus import read_parallel

    require_checkpoint(args.model)
    try:
        target = PruneTarget.parse(args.target)
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    for side in ("decoder", "encoder"):
        drop = getattr(target, f"drop_{side}_layers")
        if drop < 0:  # a negative count would slice the ranking from the end: all layers but one go
            raise InputError(f"--target {side}_layers={drop}: the layers to drop are 0 or more")
    _output_folder(Path(args.output))
    if args.calib_size < 1:
        raise InputError(f"--calib-size must be at least 1, not {args.calib_size}")
    src, tgt = read_parallel(args.calib_src, args.calib_tgt)
    calib = list(zip(src, tgt, strict=True))[: args.calib_size]
    if not calib:
        raise InputError(f"--calib-src {args.calib_src} and --calib-tgt {args.calib_tgt} are empty")
    recovery = None
    if args.src:
        _require_finetune_data(args, "a recovery fine-tune needs its data")
        _fine_tune_numbers(args)
        recovery = recovery_options(
            args.src, args.tgt, args.valid_src, args.valid_tgt, max_epochs=args.epochs
        )
    try:
        report = prune_checkpoint(args.model, args.output, target, calib, recovery, say=say)
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    print(
        f"pruned model written: {args.output} ({report['parameters_before'] / 1e6:.2f}M -> "
        f"{report['parameters_after'] / 1e6:.2f}M parameters)"
    )
    return 0
