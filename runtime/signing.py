"""Publisher signatures: an Ed25519 signature of a bundle's ``manifest.json``, detached in
``manifest.sig`` beside it.

The manifest lists every file of the bundle with its size and sha256, and the runtime checks those
before it loads anything, so a signature over the manifest's bytes covers the whole bundle: an app
that opens bundles with its publisher's public key (``Bundle.open(path, public_key=...)``,
``pocketmt verify --public-key``) refuses one that is unsigned, signed by another key, or edited after
signing, even when the editor updated the hashes.

``manifest.sig`` is a small JSON object::

    {"format": "pocketmt-signature", "version": 1, "algorithm": "ed25519",
     "signed": "manifest.json", "key_id": "<16 hex>", "manifest_sha256": "<64 hex>",
     "signature": "<base64 of the 64-byte Ed25519 signature of manifest.json's bytes>"}

Only ``signature`` is trusted, and only after it verifies with the caller's key; ``key_id`` (the first
16 hex digits of the sha256 of the raw 32-byte public key) and ``manifest_sha256`` only make the
error say which of key and manifest does not match. Keys are PEM (PKCS#8 private,
SubjectPublicKeyInfo public, as ``openssl genpkey -algorithm ed25519`` writes) or 32 raw bytes.

The ``cryptography`` library is imported only when a key is used, so the runtime runs without it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pocketmt.runtime.errors import BundleError, InputError
from pocketmt.runtime.integrity import confined
from pocketmt.runtime.manifest import MANIFEST_NAME, load_json

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

    PublicKeySource = str | Path | bytes | Ed25519PublicKey
    PrivateKeySource = str | Path | bytes | Ed25519PrivateKey

SIGNATURE_NAME = "manifest.sig"
SIGNATURE_FORMAT = "pocketmt-signature"
SIGNATURE_VERSION = 1
ALGORITHM = "ed25519"
_MAX_FILE_BYTES = 64 << 10  # keys and signature files are a few hundred bytes
KEY_FORMATS = ("pem", "raw")


# mypy sees pocketmt's own imports as Any here (the editable install hides them), hence the ignore
class SignatureError(BundleError):  # type: ignore[misc]
    """The bundle is not signed by the given key: unsigned, signed by another, or altered since."""


def _ed25519() -> Any:
    try:
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:
        raise InputError(
            "signing and signature checks need the cryptography package: pip install cryptography"
        ) from None
    return ed25519


def _serialization() -> Any:
    _ed25519()
    from cryptography.hazmat.primitives import serialization

    return serialization


def _key_bytes(source: str | Path | bytes, what: str) -> tuple[bytes, str]:
    """The key material and how to name it in a message."""
    if isinstance(source, bytes):
        return source, f"the given {what}"
    path = Path(source)
    try:
        with path.open("rb") as fh:
            data = fh.read(_MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise InputError(f"{path}: cannot read the {what} ({exc.strerror or exc})") from exc
    if len(data) > _MAX_FILE_BYTES:
        raise InputError(f"{path}: not an Ed25519 {what} (over {_MAX_FILE_BYTES >> 10} KiB)")
    return data, str(path)


def load_public_key(source: PublicKeySource) -> Ed25519PublicKey:
    """An Ed25519 public key from a PEM or 32-byte raw file (its path) or its bytes."""
    ed25519 = _ed25519()
    if isinstance(source, ed25519.Ed25519PublicKey):
        given: Ed25519PublicKey = source
        return given
    assert isinstance(source, str | Path | bytes)
    data, label = _key_bytes(source, "public key")
    kinds = "PEM SubjectPublicKeyInfo or 32 raw bytes"
    if data.lstrip().startswith(b"-----BEGIN"):
        if b"PRIVATE KEY-----" in data:
            raise InputError(f"{label}: a private key, not an Ed25519 public key; give its public half")
        from cryptography.exceptions import UnsupportedAlgorithm

        try:
            key = _serialization().load_pem_public_key(data)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise InputError(f"{label}: not an Ed25519 public key ({kinds}): {exc}") from exc
        if not isinstance(key, ed25519.Ed25519PublicKey):
            raise InputError(f"{label}: not an Ed25519 public key (a {type(key).__name__})")
        public: Ed25519PublicKey = key
        return public
    if len(data) == 32:
        loaded: Ed25519PublicKey = ed25519.Ed25519PublicKey.from_public_bytes(data)
        return loaded
    raise InputError(f"{label}: not an Ed25519 public key ({kinds}; {len(data)} bytes)")


def load_private_key(source: PrivateKeySource) -> Ed25519PrivateKey:
    """An Ed25519 private key from an unencrypted PEM (PKCS#8) or 32-byte raw file, or its bytes."""
    ed25519 = _ed25519()
    if isinstance(source, ed25519.Ed25519PrivateKey):
        given: Ed25519PrivateKey = source
        return given
    assert isinstance(source, str | Path | bytes)
    data, label = _key_bytes(source, "private key")
    kinds = "unencrypted PEM PKCS#8 or 32 raw bytes"
    if data.lstrip().startswith(b"-----BEGIN"):
        from cryptography.exceptions import UnsupportedAlgorithm

        try:
            key = _serialization().load_pem_private_key(data, password=None)
        except TypeError as exc:  # encrypted
            raise InputError(f"{label}: an encrypted private key; give an unencrypted one ({exc})") from exc
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise InputError(f"{label}: not an Ed25519 private key ({kinds}): {exc}") from exc
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise InputError(f"{label}: not an Ed25519 private key (a {type(key).__name__})")
        private: Ed25519PrivateKey = key
        return private
    if len(data) == 32:
        loaded: Ed25519PrivateKey = ed25519.Ed25519PrivateKey.from_private_bytes(data)
        return loaded
    raise InputError(f"{label}: not an Ed25519 private key ({kinds}; {len(data)} bytes)")


def key_id(public_key: PublicKeySource) -> str:
    """A short name for a public key: the first 16 hex digits of the sha256 of its 32 raw bytes."""
    raw = load_public_key(public_key).public_bytes_raw()
    return hashlib.sha256(raw).hexdigest()[:16]


def _write_new(path: Path, data: bytes, mode: int) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise InputError(f"{path}: already exists; keygen never overwrites a key") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot write ({exc.strerror or exc})") from exc
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def write_key_pair(path: str | Path, key_format: str = "pem") -> tuple[Path, Path, str]:
    """A new key pair: the private key at ``path`` (owner-only permissions), the public key at
    ``path.pub``; returns both paths and the key id. Existing files are never overwritten."""
    if key_format not in KEY_FORMATS:
        raise InputError(f"unknown key format {key_format!r}; choose one of {', '.join(KEY_FORMATS)}")
    private_path = Path(path)
    public_path = private_path.with_name(private_path.name + ".pub")
    for p in (private_path, public_path):
        if p.exists() or p.is_symlink():
            raise InputError(f"{p}: already exists; keygen never overwrites a key")
    key = _ed25519().Ed25519PrivateKey.generate()
    ser = _serialization()
    if key_format == "pem":
        private = key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.NoEncryption())
        public = key.public_key().public_bytes(ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo)
    else:
        private = key.private_bytes_raw()
        public = key.public_key().public_bytes_raw()
    _write_new(private_path, private, 0o600)
    _write_new(public_path, public, 0o644)
    return private_path, public_path, key_id(key.public_key())


def sign_manifest(bundle_dir: Path, manifest_bytes: bytes, private_key: PrivateKeySource) -> tuple[Path, str]:
    """Write ``manifest.sig`` for these manifest bytes (the caller has checked that they are the
    bundle's and that its files match them); returns the signature's path and the key id."""
    key = load_private_key(private_key)
    kid = key_id(key.public_key())
    record = {
        "format": SIGNATURE_FORMAT,
        "version": SIGNATURE_VERSION,
        "algorithm": ALGORITHM,
        "signed": MANIFEST_NAME,
        "key_id": kid,
        "manifest_sha256": hashlib.sha256(manifest_bytes).hexdigest(),
        "signature": base64.b64encode(key.sign(manifest_bytes)).decode("ascii"),
    }
    path = bundle_dir / SIGNATURE_NAME
    tmp = bundle_dir / (SIGNATURE_NAME + ".tmp")
    try:
        tmp.write_text(json.dumps(record, indent=2) + "\n", "utf-8")
        os.replace(tmp, path)  # replaces a symlink itself, never what it points to
    except OSError as exc:
        raise InputError(f"{path}: cannot write ({exc.strerror or exc})") from exc
    return path, kid


def _read_signature(bundle_dir: Path) -> tuple[Path, dict[str, Any]]:
    try:
        path = confined(bundle_dir, SIGNATURE_NAME)
    except BundleError as exc:
        raise SignatureError(str(exc)) from None
    if not path.is_file():
        raise SignatureError(
            f"{bundle_dir}: not signed (no {SIGNATURE_NAME}); a public key was given, so only a bundle "
            "signed by it is accepted"
        )
    try:
        with path.open("rb") as fh:
            raw = fh.read(_MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise SignatureError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if len(raw) > _MAX_FILE_BYTES:
        raise SignatureError(f"{path}: over {_MAX_FILE_BYTES >> 10} KiB, not a pocketmt signature")
    try:
        record = load_json(raw, str(path), "signature file")
    except BundleError as exc:
        raise SignatureError(str(exc)) from None
    if not isinstance(record, dict) or record.get("format") != SIGNATURE_FORMAT:
        raise SignatureError(f"{path}: not a pocketmt signature (format {SIGNATURE_FORMAT!r} expected)")
    if record.get("version") != SIGNATURE_VERSION or record.get("algorithm") != ALGORITHM:
        raise SignatureError(
            f"{path}: signature version {record.get('version')!r}, algorithm {record.get('algorithm')!r}; "
            f"this runtime checks version {SIGNATURE_VERSION}, {ALGORITHM}"
        )
    if record.get("signed") != MANIFEST_NAME:
        raise SignatureError(f"{path}: signs {record.get('signed')!r}, not {MANIFEST_NAME}")
    return path, record


def verify_manifest_signature(bundle_dir: Path, manifest_bytes: bytes, public_key: PublicKeySource) -> str:
    """Check that ``bundle_dir/manifest.sig`` is ``public_key``'s signature of ``manifest_bytes``;
    returns the key id, or raises ``SignatureError`` (``InputError`` for an unusable key)."""
    key = load_public_key(public_key)
    kid = key_id(key)
    path, record = _read_signature(bundle_dir)
    try:
        signature = base64.b64decode(str(record.get("signature", "")), validate=True)
    except (binascii.Error, ValueError):
        signature = b""
    if len(signature) != 64:
        raise SignatureError(f"{path}: damaged (no 64-byte Ed25519 signature in it)")
    signer = record.get("key_id")
    if signer != kid:
        raise SignatureError(f"{path}: signed by key {signer}, not by {kid} (the key given)")
    from cryptography.exceptions import InvalidSignature

    try:
        key.verify(signature, manifest_bytes)
    except InvalidSignature:
        digest = hashlib.sha256(manifest_bytes).hexdigest()
        if record.get("manifest_sha256") != digest:
            raise SignatureError(
                f"{bundle_dir / MANIFEST_NAME}: does not match its signature (changed after signing: "
                f"sha256 {digest[:16]}..., signed {str(record.get('manifest_sha256'))[:16]}...)"
            ) from None
        raise SignatureError(f"{path}: not a valid signature by key {kid} (damaged or forged)") from None
    return kid
