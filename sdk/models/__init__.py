"""Bundles that ship inside the package: ``pocketmt translate`` uses them when no ``--bundle`` is given."""

from __future__ import annotations

from pathlib import Path

from pocketmt.runtime.errors import InputError

DEFAULT_PAIR = "en-de"
ROOT = Path(__file__).resolve().parent


def installed_pairs() -> list[str]:
    return sorted(p.name for p in ROOT.iterdir() if (p / "manifest.json").is_file())


def default_bundle(pair: str = DEFAULT_PAIR) -> Path:
    folder = ROOT / pair
    if (folder / "manifest.json").is_file():
        return folder
    have = installed_pairs()
    listing = f"built-in pairs: {', '.join(have)}" if have else "no built-in models ship yet"
    raise InputError(
        f"no --bundle given and no built-in {pair} model ({listing}); export one with "
        "'pocketmt export MODEL_DIR -o BUNDLE' and pass --bundle BUNDLE"
    )
