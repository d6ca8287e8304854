"""``pocketmt translate``: TEXT arguments, or stdin line by line, through a bundle.

TEXT arguments are decoded ``--batch`` at a time (default ``DEFAULT_BATCH_SIZE``). Stdin streams: each
line is translated and its result printed (and flushed) as soon as the line has arrived, so another
program can hold a conversation with it over a pipe; with ``--batch N`` given, stdin is read N lines at
a time instead, each group printed once its N lines (or the end of input) have arrived.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from typing import Any

from pocketmt.commands.console import warn
from pocketmt.runtime.backends.registry import BACKEND_NAMES
from pocketmt.runtime.errors import InputError
from pocketmt.runtime.translator import DEFAULT_BATCH_SIZE


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("translate", help="translate TEXT arguments, or stdin line by line")
    p.add_argument("text", nargs="*", metavar="TEXT")
    p.add_argument("--bundle", help="bundle folder (default: the built-in model of --pair)")
    p.add_argument(
        "--pair", default="en-de", help="built-in language pair used without --bundle (default en-de)"
    )
    p.add_argument("--beam", type=int, default=None, help="beam size (1 = greedy; default: the bundle's)")
    p.add_argument("--backend", choices=BACKEND_NAMES, default=None)
    p.add_argument("--max-new-tokens", type=int, default=None)
    p.add_argument("--json", action="store_true", help="one JSON object per input with ids, score, timings")
    p.add_argument("--glossary", help="terms the translation must use: .tsv, .csv, .tbx or WMT .json/.jsonl")
    p.add_argument(
        "--on-conflict",
        dest="on_conflict",
        choices=["error", "first", "last"],
        default="error",
        help="one source term with different targets: fail (default) or keep the first or last",
    )
    p.add_argument(
        "--batch",
        type=int,
        default=None,
        metavar="N",
        help=f"sentences decoded together (1 = one at a time; default {DEFAULT_BATCH_SIZE} for TEXT arguments; "
        "stdin streams line by line unless --batch is given)",
    )
    add_shortlist_switch(p)
    p.set_defaults(func=run)


def add_shortlist_switch(p: Any) -> None:
    """``--no-shortlist``, for every command that translates with a bundle."""
    p.add_argument(
        "--no-shortlist",
        dest="no_shortlist",
        action="store_true",
        help="score the whole vocabulary even if the bundle has a vocabulary shortlist",
    )


def read_stdin_lines(stream: Any) -> Iterator[str]:
    """The lines of a binary stream as text, each as soon as it has arrived; invalid UTF-8 is an error
    naming the line (the lines before it have been translated and printed by then)."""
    for number, raw in enumerate(stream, start=1):  # a line as soon as its newline is in
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(
                f"stdin line {number}: invalid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})"
            ) from exc
        yield text.removesuffix("\n").removesuffix("\r")


def line_groups(lines: Iterable[str], size: int) -> Iterator[list[str]]:
    """``size`` lines at a time (the last group may be shorter). A bad line ends the input: the lines
    before it come as a last group, then its error."""
    group: list[str] = []
    try:
        for line in lines:
            group.append(line)
            if len(group) == size:
                yield group
                group = []
    except InputError:
        if group:
            yield group
        raise
    if group:
        yield group


def run(args: argparse.Namespace) -> int:
    from pocketmt.models import default_bundle
    from pocketmt.runtime.glossary import load_glossary
    from pocketmt.runtime.translator import TranslateOptions, Translator

    if args.batch is not None and args.batch < 1:
        raise InputError(f"--batch must be 1 or more, not {args.batch}")
    bundle = args.bundle if args.bundle is not None else default_bundle(args.pair)
    translator = Translator(bundle, backend=args.backend, shortlist=not args.no_shortlist)
    options = TranslateOptions(beam_size=args.beam, max_new_tokens=args.max_new_tokens)
    translator.search_config(options)  # reject bad options before any work
    glossary = None
    if args.glossary:
        model = translator.manifest.model
        glossary = load_glossary(args.glossary, model.source_lang, model.target_lang, args.on_conflict)
        for warning in glossary.warnings:
            warn(warning)
    # the model is loaded and the options checked before the first line is read
    if args.text:
        batch = args.batch if args.batch is not None else DEFAULT_BATCH_SIZE
        groups: Iterable[list[str]] = [args.text]
    else:
        batch = args.batch if args.batch is not None else 1
        groups = line_groups(read_stdin_lines(sys.stdin.buffer), batch)
    number = 0
    for group in groups:
        for result in translator.translate(group, options, glossary, batch_size=batch):
            number += 1
            for warning in result.warnings:
                warn(f"input {number}: {warning}")
            if result.constraints_dropped:
                warn(f"input {number}: the glossary terms could not all be produced; translated without them")
            print(json.dumps(result.to_json(), ensure_ascii=False) if args.json else result.text)
        sys.stdout.flush()
    return 0
