"""Reading parallel text: plain or gzipped UTF-8, one sentence per line. No torch here."""

from __future__ import annotations

import gzip
from pathlib import Path

from pocketmt.runtime.errors import InputError


def read_lines(path: str | Path) -> list[str]:
    """Lines of a plain or gzipped UTF-8 text file (gzip is detected by content, not by name)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"file not found: {p}")
    raw = p.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise InputError(f"{p}: damaged gzip file ({exc})") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(f"{p}: invalid UTF-8 on line {line}") from exc
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def read_parallel(src: str | Path, tgt: str | Path) -> tuple[list[str], list[str]]:
    sources, targets = read_lines(src), read_lines(tgt)
    if len(sources) != len(targets):
        raise InputError(f"{src} has {len(sources)} lines but {tgt} has {len(targets)}")
    return sources, targets
