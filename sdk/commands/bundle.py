"""``pocketmt info`` and ``pocketmt verify``: a bundle described and checked."""

from __future__ import annotations

import argparse
import json
from typing import Any

from pocketmt.commands.describe import describe
from pocketmt.runtime.backends.registry import BACKEND_NAMES


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("info", help="describe a bundle")
    p.add_argument("bundle")
    p.add_argument("--json", action="store_true", help="print the manifest itself")
    p.set_defaults(func=run_info)

    p = sub.add_parser("verify", help="check a bundle's files and replay its reference translations")
    p.add_argument("bundle")
    p.add_argument("--backend", choices=BACKEND_NAMES, default=None)
    p.set_defaults(func=run_verify)


def run_info(args: argparse.Namespace) -> int:
    from pocketmt.runtime.bundle import Bundle

    bundle = Bundle.open(args.bundle)
    if args.json:
        print(json.dumps(bundle.manifest.raw, indent=2))
    else:
        print("\n".join(describe(bundle.manifest, args.bundle)))
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from pocketmt.runtime.bundle import Bundle
    from pocketmt.runtime.translator import Translator
    from pocketmt.runtime.verify import read_reference, replay

    bundle = Bundle.open(args.bundle)
    bundle.check_files()
    print(f"integrity: {len(bundle.manifest.files)} files match their sha256")
    samples = read_reference(bundle)
    backends = [args.backend] if args.backend else bundle.manifest.backends
    failed = False
    for backend in backends:
        translator = Translator(bundle, bundle.resolve_backend(backend), check_integrity=False)
        result = replay(translator, samples)
        print(f"{backend}: {result.summary()}")
        failed = failed or not result.ok
    return 1 if failed else 0
