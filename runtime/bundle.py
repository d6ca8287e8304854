"""Opening a bundle directory and checking that its files are the ones exported."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pocketmt.runtime.backends.registry import BACKEND_NAMES
from pocketmt.runtime.errors import BundleError
from pocketmt.runtime.integrity import sha256_file
from pocketmt.runtime.manifest import Manifest, read_manifest


@dataclass(frozen=True)
class Bundle:
    path: Path
    manifest: Manifest

    @classmethod
    def open(cls, path: str | Path) -> Bundle:
        root = Path(path)
        if not root.exists():
            raise BundleError(f"bundle folder not found: {root}")
        if not root.is_dir():
            raise BundleError(f"not a bundle folder: {root}")
        return cls(root, read_manifest(root))

    def file(self, name: str) -> Path:
        return self.path / name

    def check_files(self, names: list[str] | None = None) -> None:
        """Refuse missing, truncated or altered files (size, then sha256)."""
        files = self.manifest.files
        for name in names if names is not None else sorted(files):
            entry = files.get(name)
            if entry is None:
                raise BundleError(f"{self.path}: manifest does not list {name}")
            path = self.path / name
            if not path.is_file():
                raise BundleError(f"{self.path}: file missing: {name}")
            size = path.stat().st_size
            if size != entry.bytes:
                raise BundleError(
                    f"{path}: size {size} bytes, manifest says {entry.bytes} (truncated or replaced file)"
                )
            if sha256_file(path) != entry.sha256:
                raise BundleError(f"{path}: sha256 mismatch (file altered or corrupted)")

    def resolve_backend(self, backend: str | None) -> str:
        available = self.manifest.backends
        if backend is None:
            first: str = next(name for name in BACKEND_NAMES if name in available)  # the registry's order
            return first
        if backend not in BACKEND_NAMES:
            raise BundleError(f"unknown backend {backend!r}; choose one of {', '.join(BACKEND_NAMES)}")
        if backend not in available:
            raise BundleError(f"{self.path}: bundle has no {backend} graphs (it has: {', '.join(available)})")
        return backend

    def check_backend_files(self, backend: str) -> None:
        self.check_files(self.manifest.files_for_backend(backend))
