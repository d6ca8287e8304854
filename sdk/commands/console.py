"""How the command line talks: results on stdout, one-line messages on stderr, sizes in words."""

from __future__ import annotations

import sys

PROG = "pocketmt"


def error(msg: str) -> None:
    print(f"{PROG}: error: {msg}", file=sys.stderr)


def warn(msg: str) -> None:
    print(f"{PROG}: warning: {msg}", file=sys.stderr)


def say(msg: str) -> None:
    """A progress message."""
    print(f"{PROG}: {msg}", file=sys.stderr)


def missing_extra(what: str, extra: str, missing: list[str]) -> str:
    """The one line that says which extra to install for ``what``."""
    return f"{what} needs the {extra} extra ({', '.join(missing)} not installed): pip install 'pocketmt[{extra}]'"


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"
