"""Bundle integrity: file names confined to the bundle folder, and file hashing (sha256, streamed).

A manifest may only name plain files inside its bundle folder: a name with a separator, ``..``, a drive
letter or a control character could make the runtime read (and report on, or trust) any file on the
machine, and a symlink may not lead out of the folder. The Android engine applies the same rule
(``android-demo/engine/.../bundle/FileNames.java``) with the same messages.
"""

from __future__ import annotations

import hashlib
import unicodedata
from pathlib import Path

from pocketmt.runtime.errors import BundleError

_CHUNK = 1 << 20

PLAIN_ONLY = "(only plain names inside the bundle folder)"


def name_problem(name: str) -> str | None:
    """Why ``name`` is not a plain file name inside a folder, or ``None`` when it is one."""
    if not name:
        return "is empty"
    if name in (".", ".."):
        return "is a folder reference"
    if "/" in name or "\\" in name:
        return "has a path separator"
    if len(name) >= 2 and name[1] == ":":
        return "has a drive letter"
    if any(unicodedata.category(c) == "Cc" for c in name):
        return "has a control character"
    return None


def quoted(name: str) -> str:
    """``name`` in quotes with control characters escaped, so a message stays one printable line."""
    return "'" + "".join(f"\\x{ord(c):02x}" if unicodedata.category(c) == "Cc" else c for c in name) + "'"


def name_error(name: str, where: str, field: str) -> BundleError | None:
    """The error for a manifest ``field`` holding ``name``, or ``None`` when the name is plain."""
    why = name_problem(name)
    if why is None:
        return None
    return BundleError(f"{where}: invalid manifest at {field}: file name {quoted(name)} {why} {PLAIN_ONLY}")


def confined(root: Path, name: str) -> Path:
    """The path of the file ``name`` in the folder ``root``, refused when the name is not plain or when
    the file is a symlink that resolves outside the folder (links within the folder are followed).
    Nothing is opened."""
    error = name_error(name, str(root), "files")
    if error is not None:
        raise error
    path = root / name
    if not path.is_symlink():
        return path
    try:
        real = path.resolve()
        real_root = root.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise BundleError(f"{path}: cannot resolve ({exc})") from exc
    if real.parent != real_root:
        raise BundleError(f"{path}: resolves outside the bundle folder ({real})")
    return path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
