"""``pocketmt eval`` and ``pocketmt report``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pocketmt.commands.translate import add_shortlist_switch
from pocketmt.runtime.backends.registry import BACKEND_NAMES
from pocketmt.runtime.errors import InputError
from pocketmt.runtime.translator import DEFAULT_BATCH_SIZE


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("report", help="compare bundles: BLEU, chrF, size, bits per weight, latency, memory")
    p.add_argument("--bundle", action="append", required=True, help="bundle folder (repeat)")
    p.add_argument("--src", required=True)
    p.add_argument("--ref", required=True)
    p.add_argument("--beam", type=int, default=4)
    p.add_argument("--backend", choices=BACKEND_NAMES, default=None)
    p.add_argument("--limit", type=int, default=0, help="only the first N sentences")
    p.add_argument("-o", "--output", required=True, help="folder for report.md, report.json, report.png")
    p.set_defaults(func=run_report)

    p = sub.add_parser("eval", help="sacreBLEU and chrF of a bundle or checkpoint folder on a test set")
    p.add_argument(
        "--bundle",
        required=True,
        action="append",
        help="bundle folder, or a Hugging Face model folder (run eagerly); "
        "repeat it with model folders to score their ensemble",
    )
    p.add_argument("--src", required=True, help="source text, one sentence per line (plain or gzip)")
    p.add_argument("--ref", required=True, help="reference translations, aligned with --src")
    p.add_argument("--beam", type=int, default=None, help="beam size (default: the bundle's)")
    p.add_argument("--backend", choices=BACKEND_NAMES, default=None)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--output", help="also write the translations to this file")
    p.add_argument(
        "--terms", help="JSONL, one list of WMT-style term pairs per --src line; adds term_success"
    )
    p.add_argument(
        "--no-constraints",
        dest="no_constraints",
        action="store_true",
        help="measure term_success without enforcing the terms (the baseline)",
    )
    p.add_argument(
        "--batch",
        type=int,
        default=None,
        metavar="N",
        help=f"sentences decoded together (1 = one at a time; default {DEFAULT_BATCH_SIZE}); "
        "an ensemble decodes one at a time",
    )
    add_shortlist_switch(p)
    p.set_defaults(func=run_eval)


def output_file(path: str) -> Path:
    """``--output``: refused before any work when it cannot be a file (a folder, a missing folder)."""
    out = Path(path)
    if out.is_dir():
        raise InputError(f"--output {out}: is a folder, not a file")
    if not out.parent.is_dir():
        raise InputError(f"--output {out}: folder {out.parent} does not exist")
    return out


def write_output(out: Path, lines: list[str]) -> None:
    try:
        out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    except OSError as exc:
        raise InputError(f"--output {out}: cannot write ({exc.strerror})") from exc


def aligned_test_set(src: str, ref: str) -> tuple[list[str], list[str]]:
    """``--src`` and ``--ref``: as many lines each, and at least one."""
    from pocketmt.io.corpus import read_lines

    sources, references = read_lines(src), read_lines(ref)
    if len(sources) != len(references):
        raise InputError(
            f"source has {len(sources)} lines but reference has {len(references)} (--src {src}, --ref {ref})"
        )
    if not sources:
        raise InputError(f"--src {src} and --ref {ref} are empty: nothing to score")
    return sources, references


def run_report(args: argparse.Namespace) -> int:
    from pocketmt.report import markdown, run_report

    if args.limit < 0:
        raise InputError(f"--limit must be 0 (every sentence) or more, not {args.limit}")
    src, ref = aligned_test_set(args.src, args.ref)
    if args.limit:
        src, ref = src[: args.limit], ref[: args.limit]
    rows = run_report(args.bundle, args.backend, src, ref, args.beam, Path(args.output))
    print(markdown(rows, args.beam, "see report.json"), end="")
    print(f"written: {Path(args.output) / 'report.md'}, report.json, report.png")
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from pocketmt.evaluate import evaluate, open_ensemble, open_translator, read_terms
    from pocketmt.runtime.translator import TranslateOptions

    batch = args.batch if args.batch is not None else DEFAULT_BATCH_SIZE
    if batch < 1:
        raise InputError(f"--batch must be 1 or more, not {batch}")
    output = output_file(args.output) if args.output else None
    sources, references = aligned_test_set(args.src, args.ref)
    if len(args.bundle) > 1:
        translator = open_ensemble(args.bundle)
    else:
        translator = open_translator(args.bundle[0], args.backend, shortlist=not args.no_shortlist)
    terms = None
    if args.terms:
        model = translator.manifest.model
        terms = read_terms(args.terms, len(sources), model.source_lang, model.target_lang)
    options = TranslateOptions(beam_size=args.beam)
    result = evaluate(
        translator, sources, references, options, terms, enforce=not args.no_constraints, batch_size=batch
    )
    if output is not None:
        write_output(output, result.hypotheses)
    if args.json:
        print(json.dumps({"backend": translator.backend, **result.as_json()}))
        return 0
    print(
        f"BLEU {result.bleu:.2f}  chrF {result.chrf:.2f}  {result.sentences} sentences in "
        f"{result.seconds:.1f} s ({result.sentences_per_second:.1f}/s, {translator.backend})"
    )
    if result.term_success is not None:
        print(f"  term success {result.term_success:.4f} ({'not ' if args.no_constraints else ''}enforced)")
    print(f"  {result.signature_bleu}")
    print(f"  {result.signature_chrf}")
    return 0
