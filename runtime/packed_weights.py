"""Packing of low-bit integer codes, ``8 // bits`` per byte (ONNX Runtime's MatMulNBits layout).

ExecuTorch bundles no longer use this module: their ``model.pte`` holds its low-bit weights itself
(``docs/bundle.md``, "ExecuTorch low-bit weights"). Bundles of the older format, which shipped
``model.weights.safetensors`` for the runtime to decode into a data file at load, are refused with a
one-line error asking for a re-export (``materialize``), because building that file needs
ExecuTorch's compiler.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pocketmt.runtime.errors import BundleError


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


def materialize(weights_file: Path, spec: dict[str, Any], file_sha256: str) -> Path:
    """Older bundles' entry point: refuse them with what to do instead."""
    raise BundleError(
        f"{weights_file.parent}: its ExecuTorch weights ({weights_file.name}) are in the format of an "
        "older pocketmt; re-export the bundle with `pocketmt export`"
    )
