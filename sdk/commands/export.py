"""``pocketmt export``: a Marian checkpoint folder -> a bundle."""

from __future__ import annotations

import argparse
from typing import Any

from pocketmt.commands.console import human_bytes, say
from pocketmt.runtime.shortlist import DEFAULT_FREQUENT, DEFAULT_PER_TOKEN


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("export", help="export a Marian checkpoint folder to a bundle")
    p.add_argument("model", help="Hugging Face Marian checkpoint folder (or hub id where a hub is reachable)")
    p.add_argument("-o", "--output", required=True, help="bundle folder to write")
    p.add_argument("--format", default="pte,onnx", help="comma-separated: pte, onnx (default: both)")
    p.add_argument("--max-source-len", type=int, default=128, help="source tokens per input (default 128)")
    p.add_argument(
        "--max-target-len", type=int, default=128, help="target tokens, the KV-cache size (default 128)"
    )
    p.add_argument("--beam-size", type=int, default=4, help="default beam and largest batch (default 4)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing bundle folder")
    p.add_argument(
        "--weights",
        choices=["fp32", "fp16", "int8"],
        default="fp32",
        help="stored weights: fp32, fp16, or int8 per channel (ONNX computes int8 x int8 unless "
        "--lowbit-compute fp32; default fp32)",
    )
    p.add_argument(
        "--parity-src",
        dest="parity_src",
        help="quantized checkpoints: sentences (first 200) whose greedy tokens must match eager on 95%%",
    )
    p.add_argument(
        "--lowbit-compute",
        dest="lowbit_compute",
        choices=["auto", "int8", "fp32"],
        default="auto",
        help="quantized linears (ONNX, and the .pte of --weights int8): int8 activations (fast "
        "kernels), fp32 (closest to eager), or auto (default): int8 where the export check passes, "
        "else fp32",
    )
    p.add_argument(
        "--shortlist-src",
        dest="shortlist_src",
        help="parallel text (source side) to build a vocabulary shortlist from (with --shortlist-tgt)",
    )
    p.add_argument("--shortlist-tgt", dest="shortlist_tgt", help="the target side of --shortlist-src")
    p.add_argument(
        "--shortlist-frequent",
        dest="shortlist_frequent",
        type=int,
        default=DEFAULT_FREQUENT,
        help=f"target tokens always allowed: the most frequent (default {DEFAULT_FREQUENT})",
    )
    p.add_argument(
        "--shortlist-per-token",
        dest="shortlist_per_token",
        type=int,
        default=DEFAULT_PER_TOKEN,
        help=f"target tokens allowed per source token (default {DEFAULT_PER_TOKEN})",
    )
    p.add_argument("--quiet", action="store_true", help="no progress messages")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pocketmt.export.pipeline import ExportOptions, export_bundle

    options = ExportOptions(
        formats=tuple(f.strip() for f in args.format.split(",") if f.strip()),
        max_source_len=args.max_source_len,
        max_target_len=args.max_target_len,
        beam_size=args.beam_size,
        overwrite=args.overwrite,
        weights=args.weights,
        parity_src=args.parity_src,
        lowbit_compute=args.lowbit_compute,
        shortlist_src=args.shortlist_src,
        shortlist_tgt=args.shortlist_tgt,
        shortlist_frequent=args.shortlist_frequent,
        shortlist_per_token=args.shortlist_per_token,
    )
    report = export_bundle(args.model, args.output, options, progress=None if args.quiet else say)
    print(f"bundle written: {report.bundle}")
    for name, size in report.files.items():
        print(f"  {name:<20} {human_bytes(size):>10}")
    for backend, check in report.checks.items():
        print(
            f"  check {backend}: max |d log p| {check['max_abs_log_prob_diff']:.1e}, "
            f"reference tokens identical to eager"
        )
    print(f"  time: {', '.join(f'{k} {v:.1f}s' for k, v in report.seconds.items())}")
    return 0
