"""``pocketmt info``, ``verify``, ``keygen`` and ``sign``: a bundle described, checked, and signed by
its publisher (``runtime/signing.py``)."""

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
    p.add_argument(
        "--public-key",
        metavar="PUB",
        default=None,
        help="the publisher's Ed25519 public key (PEM or 32 raw bytes): refuse a bundle it did not sign",
    )
    p.set_defaults(func=run_verify)

    p = sub.add_parser("keygen", help="make an Ed25519 key pair for signing bundles")
    p.add_argument("key", help="where to write the private key; the public key goes to KEY.pub")
    p.add_argument("--format", choices=("pem", "raw"), default="pem", help="PEM (default) or 32 raw bytes")
    p.set_defaults(func=run_keygen)

    p = sub.add_parser("sign", help="sign a bundle's manifest (which holds every file's sha256)")
    p.add_argument("bundle")
    p.add_argument("--key", required=True, help="the publisher's Ed25519 private key (from pocketmt keygen)")
    p.set_defaults(func=run_sign)


def run_info(args: argparse.Namespace) -> int:
    from pocketmt.runtime.bundle import Bundle

    bundle = Bundle.open(args.bundle)
    if args.json:
        print(json.dumps(bundle.manifest.raw, indent=2))
    else:
        print("\n".join(describe(bundle.manifest, args.bundle)))
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from pocketmt.runtime.backends.registry import BACKENDS
    from pocketmt.runtime.bundle import Bundle
    from pocketmt.runtime.verify import read_reference, verify_backend

    bundle = Bundle.open(args.bundle, public_key=args.public_key)
    if bundle.signed_by is not None:
        print(f"signature: manifest signed by key {bundle.signed_by}")
    bundle.check_files()
    print(f"integrity: {len(bundle.manifest.files)} files match their sha256")
    samples = read_reference(bundle)
    backends = [args.backend] if args.backend else bundle.manifest.backends
    if not args.backend:  # a lean install checks what it can run, and says what it leaves out
        absent = [b for b in backends if not BACKENDS[b].installed()]
        backends = [b for b in backends if b not in absent] or backends
        for b in absent:
            need = " and ".join(BACKENDS[b].missing())
            print(
                f"{b}: not checked here ({need} not installed: pip install 'pocketmt[{BACKENDS[b].extra}]')"
            )
    failed = False
    for backend in backends:
        result = verify_backend(bundle, backend, samples)
        print(f"{backend}: {result.summary()}")
        failed = failed or not result.ok
    return 1 if failed else 0


def run_keygen(args: argparse.Namespace) -> int:
    from pocketmt.runtime.signing import write_key_pair

    private, public, kid = write_key_pair(args.key, args.format)
    print(f"private key: {private} (keep it secret; pocketmt sign BUNDLE --key {private})")
    print(
        f"public key: {public} (key {kid}; give it to apps: pocketmt verify --public-key, Translator(public_key=...))"
    )
    return 0


def run_sign(args: argparse.Namespace) -> int:
    from pocketmt.runtime.bundle import Bundle
    from pocketmt.runtime.signing import load_private_key, sign_manifest

    key = load_private_key(args.key)  # a bad key is reported before the bundle is read
    bundle = Bundle.open(args.bundle)
    bundle.check_files()  # never sign a bundle whose files are not the ones its manifest lists
    assert bundle.manifest_bytes is not None
    path, kid = sign_manifest(bundle.path, bundle.manifest_bytes, key)
    print(
        f"signed {bundle.path / 'manifest.json'} ({len(bundle.manifest.files)} files) with key {kid}: {path}"
    )
    return 0
