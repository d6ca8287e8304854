"""pocketmt: put a translation model on a phone.

Public API::

    import pocketmt
    pocketmt.export_bundle("opus-mt-en-de/", "bundle/")          # needs pip install 'pocketmt[export]'
    tr = pocketmt.Translator("bundle/", backend="executorch")     # or "onnx"
    tr.translate(["A dog runs through the snow."], pocketmt.TranslateOptions(beam_size=4))

Importing ``pocketmt`` loads neither torch nor transformers; ``export_bundle`` imports them when called.
``pip install pocketmt`` is enough to translate and verify with a bundle's ONNX graphs; exporting and the
ExecuTorch backend need the export extra, and say so (a ``PocketMTError``) when it is missing.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pocketmt.runtime import (
    Bundle,
    BundleError,
    InputError,
    PocketMTError,
    TranslateOptions,
    Translation,
    Translator,
)
from pocketmt.runtime.verify import verify_bundle

if TYPE_CHECKING:
    from pocketmt.export.pipeline import ExportOptions, ExportReport

try:
    __version__ = metadata.version("pocketmt")
except metadata.PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0"


def export_bundle(
    model: str | Path, out_dir: str | Path, options: ExportOptions | None = None, **kwargs: Any
) -> ExportReport:
    """Export a Marian checkpoint folder (or hub id) to a bundle. See ``pocketmt.export.pipeline``."""
    try:
        from pocketmt.export.pipeline import export_bundle as _export
    except ModuleNotFoundError as exc:
        if (exc.name or "pocketmt").split(".")[0] == "pocketmt":
            raise
        raise PocketMTError(
            f"export_bundle needs the export extra ({exc.name} not installed): pip install 'pocketmt[export]'"
        ) from exc

    return _export(model, out_dir, options, **kwargs)


__all__ = [
    "Bundle",
    "BundleError",
    "InputError",
    "PocketMTError",
    "TranslateOptions",
    "Translation",
    "Translator",
    "__version__",
    "export_bundle",
    "verify_bundle",
]
