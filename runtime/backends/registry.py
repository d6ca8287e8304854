"""The backends a bundle can run on: for each, the manifest section it reads (and so the files it
needs), the libraries it needs installed, and the loader that opens its graphs.

The runtime loads graphs through ``open_graphs``, ``Bundle.resolve_backend`` and the command line's
``--backend`` choices take the names from here; the manifest reads each backend's section with the
class named here (``manifest.GRAPH_SECTIONS``, which sits below this module so that a manifest can be
read without importing any backend).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pocketmt.runtime.backends import executorch_backend, onnx_backend
from pocketmt.runtime.errors import BundleError
from pocketmt.runtime.manifest import GRAPH_SECTIONS, ExecuTorchSection

if TYPE_CHECKING:
    from pocketmt.runtime.bundle import Bundle
    from pocketmt.runtime.step import StepGraphs


@dataclass(frozen=True)
class Backend:
    name: str
    requires: tuple[str, ...]  # import names of the runtime libraries it needs, nothing from export
    open_graphs: Callable[[Bundle], StepGraphs]


def _open_executorch(bundle: Bundle) -> StepGraphs:
    # TODO(pte): this is today's loading path, moved as it was; replace the body with
    # ``return executorch_backend.open_graphs(bundle)`` once that function is committed.
    section = bundle.manifest.graphs["executorch"]
    assert isinstance(section, ExecuTorchSection)
    data = None
    if section.weights is not None:  # low-bit weights, decoded once into a cached data file
        from pocketmt.runtime.packed_weights import materialize

        spec = dict(section.weights)
        sha = bundle.manifest.files[spec["file"]].sha256
        data = materialize(bundle.file(spec["file"]), spec, sha)
    return executorch_backend.ExecuTorchGraphs(
        bundle.file(section.file), section.encode, section.decode_step, data
    )


# ExecuTorch first: the default where a bundle has both
BACKENDS: dict[str, Backend] = {
    "executorch": Backend("executorch", ("executorch.runtime", "torch"), _open_executorch),
    "onnx": Backend("onnx", ("onnxruntime",), onnx_backend.open_graphs),
}
BACKEND_NAMES: tuple[str, ...] = tuple(BACKENDS)
assert set(BACKENDS) == set(GRAPH_SECTIONS), "every backend has a manifest section, and only those"


def backend(name: str) -> Backend:
    if name not in BACKENDS:
        raise BundleError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    return BACKENDS[name]


def open_graphs(bundle: Bundle, name: str) -> StepGraphs:
    """The step graphs of ``bundle`` on backend ``name``, loaded with that backend's runtime library."""
    return backend(name).open_graphs(bundle)
