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
from pocketmt.runtime.manifest import GRAPH_SECTIONS

if TYPE_CHECKING:
    from pocketmt.runtime.bundle import Bundle
    from pocketmt.runtime.step import StepGraphs


@dataclass(frozen=True)
class Backend:
    name: str
    requires: tuple[str, ...]  # import names of the runtime libraries it needs, nothing from export
    open_graphs: Callable[[Bundle], StepGraphs]


# ExecuTorch first: the default where a bundle has both
BACKENDS: dict[str, Backend] = {
    "executorch": Backend(
        "executorch",
        ("torch", "executorch.extension.pybindings", "executorch.kernels.quantized"),
        executorch_backend.open_graphs,
    ),
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
