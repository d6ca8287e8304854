"""``pocketmt pipeline``: parallel text -> teachers -> distilled student -> ternary (or int4) -> phone
bundle, evaluated, with a model card; rerun the same command to resume.

The stages live in ``pocketmt.export.training.pipeline``; this module parses the command and gives
the run its evaluation stage (``evaluate_run``), which uses the evaluation layer (``pocketmt.evaluate``,
``pocketmt.report``) that the training layer may not import.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pocketmt.commands.console import human_bytes


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "pipeline",
        help="parallel text to a phone bundle: teachers, distillation, student, ternary, export, "
        "evaluation, model card (rerun to resume)",
        description="Rerun the same command to resume: every stage continues where it stopped and "
        "finished stages are skipped.",
    )
    p.add_argument("--src", required=True, help="training source text (plain or gzip)")
    p.add_argument("--tgt", required=True, help="training target text, aligned")
    p.add_argument("--valid-src", dest="valid_src", required=True, help="validation source text")
    p.add_argument("--valid-tgt", dest="valid_tgt", required=True, help="validation target text")
    p.add_argument(
        "-o", "--output", dest="out", required=True, help="run folder (rerun the command to resume)"
    )
    p.add_argument(
        "--budget",
        type=float,
        default=None,
        help="hours the whole run may take; epochs are planned to fit (default 8: a working day)",
    )
    p.add_argument(
        "--target-size",
        dest="target_size",
        type=float,
        default=None,
        help="MB the phone downloads (the .pte); picks the largest student that fits (default: student)",
    )
    p.add_argument("--test-src", dest="test_src", default="", help="test source text for the scores")
    p.add_argument("--test-ref", dest="test_ref", default="", help="test references (default: validation)")
    p.add_argument(
        "--teachers", type=int, choices=[1, 2], default=2, help="teacher ensemble size (default 2)"
    )
    p.add_argument(
        "--teacher-arch", dest="teacher_arch", default="base", help="teacher preset (default base)"
    )
    p.add_argument(
        "--student-arch", dest="student_arch", default="", help="student preset (overrides --target-size)"
    )
    p.add_argument(
        "--scheme",
        choices=["ternary", "int4"],
        default="ternary",
        help="ternary (quantization-aware training, default) or int4 (post-training)",
    )
    p.add_argument("--format", default="pte,onnx", help="comma-separated: pte, onnx (default: both)")
    p.add_argument("--source-lang", dest="source_lang", default="")
    p.add_argument("--target-lang", dest="target_lang", default="")
    p.add_argument(
        "--eval-limit", dest="eval_limit", type=int, default=0, help="score only the first N sentences"
    )
    for stage, default in (("teacher", 24), ("student", 16), ("qat", 12)):
        p.add_argument(
            f"--{stage}-epochs",
            dest=f"{stage}_epochs",
            type=int,
            default=default,
            help=f"most epochs of the {stage} stage{'s' if stage == 'teacher' else ''} (default {default}; "
            "the budget may plan fewer, early stopping may end sooner)",
        )
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace) -> Any:
    from pocketmt.export.training.pipeline import PipelineConfig, Recipe
    from pocketmt.runtime.errors import InputError

    for name in ("teacher_epochs", "student_epochs", "qat_epochs"):
        if getattr(args, name) < 1:
            raise InputError(f"--{name.replace('_', '-')} must be at least 1")
    recipe = Recipe(
        teacher_epochs=args.teacher_epochs, student_epochs=args.student_epochs, qat_epochs=args.qat_epochs
    )
    return PipelineConfig(
        src=args.src,
        tgt=args.tgt,
        valid_src=args.valid_src,
        valid_tgt=args.valid_tgt,
        out=args.out,
        test_src=args.test_src,
        test_ref=args.test_ref,
        budget_hours=args.budget,
        target_size_mb=args.target_size,
        teachers=args.teachers,
        teacher_arch=args.teacher_arch,
        student_arch=args.student_arch,
        scheme=args.scheme,
        formats=tuple(f.strip() for f in args.format.split(",") if f.strip()),
        source_lang=args.source_lang,
        target_lang=args.target_lang,
        eval_limit=args.eval_limit,
        recipe=recipe,
    )


def evaluate_run(
    request: Any, progress: Callable[[int, int], None], say: Callable[[str], None]
) -> dict[str, Any]:
    """The evaluation stage: the teachers (one ensemble) and the student run eagerly, then the
    bundle on each of its backends as ``pocketmt report`` measures it (BLEU, chrF, download, latency)."""
    import json

    from pocketmt.evaluate import evaluate, open_ensemble, open_translator
    from pocketmt.io.corpus import read_lines
    from pocketmt.report import run_report
    from pocketmt.runtime.translator import TranslateOptions

    src, ref = read_lines(request.src), read_lines(request.ref)
    if request.limit:
        src, ref = src[: request.limit], ref[: request.limit]
    backends = sorted(json.loads((Path(request.bundle) / "manifest.json").read_text())["graphs"])
    parts = 2 + len(backends)
    rows: list[dict[str, Any]] = []
    options = TranslateOptions(beam_size=request.beam)
    eager = [
        (
            "teacher" if len(request.teachers) == 1 else f"teacher (ensemble of {len(request.teachers)})",
            list(request.teachers),
        ),
        ("student", [request.student]),
    ]
    for done, (name, folders) in enumerate(eager):
        progress(done, parts)
        say(f"scoring the {name} (eager) on {len(src)} sentences")
        translator = open_ensemble(folders) if len(folders) > 1 else open_translator(folders[0], None)
        result = evaluate(translator, src, ref, options)
        rows.append(
            {
                "model": name,
                "how": "eager PyTorch, fp32",
                "bleu": round(result.bleu, 2),
                "chrf": round(result.chrf, 2),
                "seconds": round(result.seconds, 1),
            }
        )
    for i, backend in enumerate(backends):
        progress(2 + i, parts)
        say(f"pocketmt report on the bundle's {backend} graphs")
        (row,) = run_report([request.bundle], backend, src, ref, request.beam, Path(request.out) / backend)
        rows.append({"model": f"student, {row['scheme']}", "how": f"bundle, {backend}", **row})
    progress(parts, parts)
    return {"set": request.set_name, "sentences": len(src), "beam": request.beam, "rows": rows}


def run(args: argparse.Namespace) -> int:
    from pocketmt.export.training.pipeline import run_pipeline

    cfg = config_from_args(args)
    summary = run_pipeline(cfg, evaluate_run, argv=["pocketmt", "pipeline", *_argv_of(args)])
    out = Path(cfg.out)
    if not summary.ran:
        print(f"pipeline already finished: {out / 'bundle'} (card: {out / 'MODEL_CARD.md'})")
        return 0
    print(f"bundle written: {out / 'bundle'}")
    for path in sorted((out / "bundle").iterdir()):
        print(f"  {path.name:<20} {human_bytes(path.stat().st_size):>10}")
    print(f"model card: {out / 'MODEL_CARD.md'}")
    print("  time: " + ", ".join(f"{k} {v / 60:.1f} min" for k, v in summary.seconds.items()))
    return 0


def _argv_of(args: argparse.Namespace) -> list[str]:
    """The command's options as given (for the card when the command did not come from a shell)."""
    flags = {
        "src": "--src",
        "tgt": "--tgt",
        "valid_src": "--valid-src",
        "valid_tgt": "--valid-tgt",
        "out": "-o",
        "budget": "--budget",
        "target_size": "--target-size",
        "test_src": "--test-src",
        "test_ref": "--test-ref",
        "teachers": "--teachers",
        "teacher_arch": "--teacher-arch",
        "student_arch": "--student-arch",
        "scheme": "--scheme",
        "format": "--format",
        "source_lang": "--source-lang",
        "target_lang": "--target-lang",
        "eval_limit": "--eval-limit",
        "teacher_epochs": "--teacher-epochs",
        "student_epochs": "--student-epochs",
        "qat_epochs": "--qat-epochs",
    }
    out: list[str] = []
    for key, flag in flags.items():
        value = getattr(args, key, None)
        if value not in (None, "", 0):
            out += [flag, str(value)]
    return out
