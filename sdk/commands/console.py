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


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"
