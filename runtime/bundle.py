"""Opening a bundle directory and checking that its files are the ones exported.

Every file a bundle uses is named by its manifest with a plain name inside the folder (symlinks out
of it refused), and listed with its size and sha256; with a publisher's public key, the manifest
itself must carry the publisher's signature (``runtime/signing.py``), which covers every one of those
hashes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pocketmt.runtime.backends.registry import BACKEND_NAMES
from pocketmt.runtime.errors import BundleError
from pocketmt.runtime.integrity import confined, sha256_file
from pocketmt.runtime.manifest import MANIFEST_NAME, Manifest, parse_manifest_bytes, read_manifest_bytes

if TYPE_CHECKING:
    from pocketmt.runtime.signing import PublicKeySource


@dataclass(frozen=True)
class Bundle:
    path: Path
    manifest: Manifest
    # the manifest file's bytes, exactly as parsed (what a signature covers); None for in-memory bundles
    manifest_bytes: bytes | None = field(default=None, repr=False, compare=False)
    # the key id whose signature was checked when the bundle was opened, if one was
    signed_by: str | None = None

    @classmethod
    def open(cls, path: str | Path, public_key: PublicKeySource | None = None) -> Bundle:
        """Open and validate the bundle at ``path``. With ``public_key`` (a PEM or raw Ed25519 public
        key: its path or its bytes), the manifest must be signed by that key (``manifest.sig``), and
        the signature is checked before the manifest is even parsed."""
        root = Path(path)
        if not root.exists():
            raise BundleError(f"bundle folder not found: {root}")
        if not root.is_dir():
            raise BundleError(f"not a bundle folder: {root}")
        raw = read_manifest_bytes(root)
        signed_by = None
        if public_key is not None:
            from pocketmt.runtime.signing import verify_manifest_signature

            signed_by = verify_manifest_signature(root, raw, public_key)
        return cls(root, parse_manifest_bytes(raw, str(root / MANIFEST_NAME)), raw, signed_by)

    def check_signature(self, public_key: PublicKeySource) -> str:
        """Check the publisher's signature on the manifest bytes this bundle was opened with (not on
        whatever ``manifest.json`` holds by now); the signing key's id, or ``SignatureError``."""
        from pocketmt.runtime.signing import SignatureError, verify_manifest_signature

        if self.manifest_bytes is None:
            raise SignatureError(
                f"{self.path}: this bundle was not read from a manifest file; nothing to check"
            )
        kid: str = verify_manifest_signature(self.path, self.manifest_bytes, public_key)
        return kid

    def file(self, name: str) -> Path:
        """The path of a file the manifest names: a plain name in the folder, never a symlink out."""
        path: Path = confined(self.path, name)
        return path

    def check_files(self, names: list[str] | None = None) -> None:
        """Refuse missing, truncated or altered files (size, then sha256)."""
        files = self.manifest.files
        for name in names if names is not None else sorted(files):
            entry = files.get(name)
            if entry is None:
                raise BundleError(f"{self.path}: manifest does not list {name}")
            path = self.file(name)
            if not path.is_file():
                raise BundleError(f"{self.path}: file missing: {name}")
            try:
                size = path.stat().st_size
                digest = sha256_file(path) if size == entry.bytes else None
            except OSError as exc:
                raise BundleError(f"{path}: cannot read ({exc.strerror or exc})") from exc
            if size != entry.bytes:
                raise BundleError(
                    f"{path}: size {size} bytes, manifest says {entry.bytes} (truncated or replaced file)"
                )
            if digest != entry.sha256:
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
