"""Export-side errors (one line each; the CLI exits 2)."""

from __future__ import annotations

from pocketmt.runtime.errors import PocketMTError


class ModelDirError(PocketMTError):
    """The model directory is missing, incomplete, or not a supported checkpoint."""


class ExportError(PocketMTError):
    """Export could not produce a bundle that matches the eager model."""
