"""``pocketmt bench``: latency, throughput, load time, time to first token and peak memory of a bundle,
optionally against CTranslate2 int8 on the same checkpoint (``pocketmt.bench`` measures)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pocketmt.commands.console import say
from pocketmt.commands.translate import add_shortlist_switch
from pocketmt.runtime.backends.registry import BACKEND_NAMES
from pocketmt.runtime.errors import InputError


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "bench",
        help="time a bundle on a test set: latency, tokens/s, load time, first token, peak RSS "
        "(optionally against CTranslate2 int8)",
    )
    p.add_argument("--bundle", required=True, help="bundle folder")
    p.add_argument("--src", required=True, help="source text, one sentence per line (plain or gzip)")
    p.add_argument("--ref", help="reference translations, aligned with --src: adds BLEU")
    p.add_argument("--beam", type=int, default=None, help="beam size (default: the bundle's)")
    p.add_argument(
        "--threads",
        type=int,
        default=0,
        help="intra-op threads of each engine (default: the CPUs this process may run on)",
    )
    p.add_argument(
        "--batch",
        type=int,
        default=1,
        help="sentences per call (default 1), decoded together on step-contract-2 graphs",
    )
    p.add_argument("--backend", choices=BACKEND_NAMES, default=None)
    p.add_argument("--limit", type=int, default=0, help="only the first N sentences")
    p.add_argument(
        "--against",
        choices=["ctranslate2"],
        default=None,
        help="also time CTranslate2 int8 on --checkpoint, alternating call by call",
    )
    p.add_argument("--checkpoint", help="the Hugging Face Marian folder the bundle was exported from")
    add_shortlist_switch(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--output", help="also write the JSON result to this file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pocketmt.bench import BenchConfig, run_bench, summary

    config = BenchConfig(
        bundle=Path(args.bundle),
        src=Path(args.src),
        ref=Path(args.ref) if args.ref else None,
        beam=args.beam,
        threads=args.threads,
        batch=args.batch,
        backend=args.backend,
        limit=args.limit,
        against=args.against,
        checkpoint=Path(args.checkpoint) if args.checkpoint else None,
        shortlist=not args.no_shortlist,
    )
    out = Path(args.output) if args.output else None
    if out is not None and (out.is_dir() or not out.parent.is_dir()):
        raise InputError(f"--output {out}: not a file in an existing folder")
    result = run_bench(config, notice=say)
    if out is not None:
        try:
            out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot write {out}: {exc.strerror}") from exc
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print(summary(result))
        if args.output:
            print(f"written: {args.output}")
    return 0
