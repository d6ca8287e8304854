"""Low-bit weights of an ExecuTorch bundle: packed on disk, decoded once when the bundle loads.

XNNPACK has no 2-bit type, and decoding weights inside the graph at every step costs more than the
matrix product itself. So a quantized ``.pte`` bundle ships its program without weights, plus
``model.weights.safetensors``: each quantized tensor's codes packed ``8 // bits`` per byte
(``pack`` below) with fp16 scales, and the few tensors that are not quantized (biases, layer norms,
position tables) as raw bytes. The file's header lists the program's named constants and, for each,
the tensor it decodes from (``docs/bundle.md``, "ExecuTorch low-bit weights"). At load the runtime decodes
every constant to the exact fp32 values the export checked, verifies the XNNPACK ones against their
content-hash keys, and writes them once as an ExecuTorch data file (``.ptd``) in a cache folder; the
program then loads with it and XNNPACK packs its fp32 weights as for any bundle. The download stays
low-bit; the phone pays the decode once, at first launch.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from pocketmt.runtime.errors import BundleError

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
ENTRIES_KEY = "pocketmt.constants"  # the weights file's header entry listing the program's constants


def pack_codes(codes: np.ndarray, bits: int) -> np.ndarray:
    """Pack signed codes along the last axis, ``8 // bits`` per byte, first code in the lowest bits,
    each stored with the offset ``2 ** (bits - 1)`` (ONNX Runtime's MatMulNBits layout and zero point)."""
    if bits == 8:
        return (codes.astype(np.int16) + 128).astype(np.uint8)
    per = 8 // bits
    if codes.shape[-1] % per:
        raise ValueError(f"last dimension {codes.shape[-1]} is not a multiple of {per}")
    unsigned = (codes.astype(np.int16) + (1 << (bits - 1))).astype(np.uint8)
    lanes = unsigned.reshape(*codes.shape[:-1], codes.shape[-1] // per, per)
    packed = np.zeros(lanes.shape[:-1], dtype=np.uint8)
    for j in range(per):
        packed |= (lanes[..., j] << (bits * j)).astype(np.uint8)
    return packed


def unpack_codes(packed: np.ndarray, bits: int) -> np.ndarray:
    """The inverse of ``pack_codes``: signed int8 codes."""
    if bits == 8:
        return (packed.astype(np.int16) - 128).astype(np.int8)
    per = 8 // bits
    mask = (1 << bits) - 1
    lanes = [(packed >> (bits * j)) & mask for j in range(per)]
    unsigned = np.stack(lanes, axis=-1).reshape(*packed.shape[:-1], packed.shape[-1] * per)
    return (unsigned.astype(np.int16) - (1 << (bits - 1))).astype(np.int8)


def decode_tensor(packed: np.ndarray, scales: np.ndarray, bits: int) -> np.ndarray:
    """fp32 ``[rows, cols]`` = codes times their group's scale (fp16 on disk, exact in fp32)."""
    codes = unpack_codes(packed, bits).astype(np.float32)
    rows, cols = codes.shape
    groups = scales.shape[1]
    w = codes.reshape(rows, groups, cols // groups) * scales.astype(np.float32)[..., None]
    return np.ascontiguousarray(w.reshape(rows, cols), dtype=np.float32)


def cache_dir() -> Path:
    """Where decoded weights are kept: ``$POCKETMT_CACHE``, else the user's cache folder."""
    env = os.environ.get("POCKETMT_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pocketmt"


def _decoded_entries(weights_file: Path, spec: dict[str, Any]) -> dict[str, tuple[bytes, Any]]:
    from safetensors import safe_open
    from safetensors.numpy import load_file

    stored = load_file(str(weights_file))
    with safe_open(str(weights_file), "numpy") as fh:
        meta = fh.metadata() or {}
    if ENTRIES_KEY not in meta:
        raise BundleError(f"{weights_file.name}: no constant table in its header")
    entries = json.loads(meta[ENTRIES_KEY])
    tensors = spec["tensors"]
    decoded: dict[tuple[str, str], bytes] = {}
    out: dict[str, tuple[bytes, Any]] = {}
    for entry in entries:
        key, name = entry["key"], entry.get("tensor")
        if name is None:
            data = stored[f"raw/{entry['raw']}"].tobytes()
        else:
            layout = entry["layout"]
            if (name, layout) not in decoded:
                t = tensors[name]
                w = decode_tensor(stored[f"{name}/codes"], stored[f"{name}/scales"], int(t["bits"]))
                if list(w.shape) != list(t["shape"]):
                    raise BundleError(
                        f"{weights_file.name}: {name} decodes to {list(w.shape)}, not {t['shape']}"
                    )
                decoded[(name, layout)] = (
                    np.ascontiguousarray(w.T) if layout == "transposed" else w
                ).tobytes()
            data = decoded[(name, layout)]
        if _SHA256.match(key) and hashlib.sha256(data).hexdigest() != key:
            raise BundleError(f"{weights_file.name}: constant {key[:16]} does not decode to its content hash")
        out[key] = (data, entry.get("tensor_layout"))
    return out


def build_ptd(weights_file: Path, spec: dict[str, Any], share: bool = True) -> bytes:
    """The ExecuTorch data file (FlatTensor) holding every named constant of the program, decoded.
    ``share=False`` writes one segment per name, the layout of bundles exported before segments were shared."""
    from executorch.exir._serialize.data_serializer import DataEntry, DataPayload
    from executorch.exir.scalar_type import ScalarType
    from executorch.exir.tensor_layout import TensorLayout
    from executorch.extension.flat_tensor.serialize.serialize import FlatTensorSerializer

    # one segment per content: the tied embedding is referenced by the encoder's lookup, the
    # decoder's and the output projection
    buffers: list[bytes] = []
    index: dict[bytes, int] = {}
    named: dict[str, Any] = {}
    for key, (data, layout) in _decoded_entries(weights_file, spec).items():
        tensor_layout = (
            TensorLayout(ScalarType(layout["scalar_type"]), list(layout["sizes"]), list(layout["dim_order"]))
            if layout
            else None
        )
        if data not in index or not share:
            index[data] = len(buffers)
            buffers.append(data)
        named[key] = DataEntry(index[data], int(spec.get("alignment", 16)), tensor_layout)
    return bytes(FlatTensorSerializer().serialize(DataPayload(buffers=buffers, named_data=named)))


def materialize(weights_file: Path, spec: dict[str, Any], file_sha256: str) -> Path:
    """The data file for a bundle's packed weights, decoded and written once per bundle version
    (named by the weights file's sha256, which the bundle's integrity check has verified)."""
    from pocketmt.runtime.integrity import sha256_file

    target = cache_dir() / f"{file_sha256[:32]}.ptd"
    if (
        target.is_file()
        and target.stat().st_size == spec["ptd_bytes"]
        and sha256_file(target) == spec["ptd_sha256"]
    ):
        return target  # decoded before, and unchanged since
    blob = build_ptd(weights_file, spec)
    if hashlib.sha256(blob).hexdigest() != spec["ptd_sha256"]:  # an older export's layout?
        blob = build_ptd(weights_file, spec, share=False)
    if hashlib.sha256(blob).hexdigest() != spec["ptd_sha256"]:
        raise BundleError(f"{weights_file}: decoded weights differ from what the export checked")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".ptd-", dir=target.parent)
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
        os.replace(tmp, target)
    except OSError as exc:
        raise BundleError(
            f"cannot write decoded weights to {target.parent} ({exc}); set POCKETMT_CACHE"
        ) from exc
    return target
