"""``pocketmt eval`` and ``pocketmt report``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pocketmt.runtime.backends.registry import BACKEND_NAMES


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
    p.set_defaults(func=run_eval)


def run_report(args: argparse.Namespace) -> int:
    from pocketmt.io.corpus import read_lines
    from pocketmt.report import markdown, run_report

    src, ref = read_lines(args.src), read_lines(args.ref)
    if args.limit:
        src, ref = src[: args.limit], ref[: args.limit]
    rows = run_report(args.bundle, args.backend, src, ref, args.beam, Path(args.output))
    print(markdown(rows, args.beam, "see report.json"), end="")
    print(f"written: {Path(args.output) / 'report.md'}, report.json, report.png")
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from pocketmt.evaluate import evaluate, open_ensemble, open_translator, read_terms
    from pocketmt.io.corpus import read_lines
    from pocketmt.runtime.translator import TranslateOptions

    sources, references = read_lines(args.src), read_lines(args.ref)
    if len(args.bundle) > 1:
        translator = open_ensemble(args.bundle)
    else:
        translator = open_translator(args.bundle[0], args.backend)
    terms = None
    if args.terms:
        model = translator.manifest.model
        terms = read_terms(args.terms, len(sources), model.source_lang, model.target_lang)
    options = TranslateOptions(beam_size=args.beam)
    result = evaluate(translator, sources, references, options, terms, enforce=not args.no_constraints)
    if args.output:
        Path(args.output).write_text("\n".join(result.hypotheses) + "\n", encoding="utf-8")
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
