"""The backends a bundle can run on: for each, the manifest section it reads (and so the files it
needs), the libraries it needs installed (and the pocketmt extra that installs them), and the loader
that opens its graphs.

The runtime loads graphs through ``open_graphs``, ``Bundle.resolve_backend`` and the command line's
``--backend`` choices take the names from here; the manifest reads each backend's section with the
class named here (``manifest.GRAPH_SECTIONS``, which sits below this module so that a manifest can be
read without importing any backend).

``pip install pocketmt`` brings ONNX Runtime only; ExecuTorch (and the torch it links against) comes
with ``pocketmt[export]``. Whether a backend's libraries are installed is looked up, never imported,
so choosing a backend costs nothing.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pocketmt.runtime.backends import executorch_backend, onnx_backend
from pocketmt.runtime.errors import BundleError, PocketMTError
from pocketmt.runtime.manifest import GRAPH_SECTIONS

if TYPE_CHECKING:
    from pocketmt.runtime.bundle import Bundle
    from pocketmt.runtime.step import StepGraphs


def is_installed(module: str) -> bool:
    """Whether top-level package ``module`` can be imported here, without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a finder that refuses the name, or a module with no spec
        return False


@dataclass(frozen=True)
class Backend:
    name: str
    requires: tuple[str, ...]  # import names of the runtime libraries it needs, nothing from export
    extra: str | None  # the pocketmt extra that installs them; None: the base install has them
    open_graphs: Callable[[Bundle], StepGraphs]

    def missing(self) -> list[str]:
        """The packages of ``requires`` that are not installed here (top-level names, looked up only)."""
        tops = dict.fromkeys(module.split(".")[0] for module in self.requires)
        return [top for top in tops if not is_installed(top)]

    def installed(self) -> bool:
        return not self.missing()


# ExecuTorch first: what the phone runs, so the default where a bundle has both and it is installed
BACKENDS: dict[str, Backend] = {
    "executorch": Backend(
        "executorch",
        ("torch", "executorch.extension.pybindings", "executorch.kernels.quantized"),
        "export",
        executorch_backend.open_graphs,
    ),
    "onnx": Backend("onnx", ("onnxruntime",), None, onnx_backend.open_graphs),
}
assert set(BACKENDS) == set(GRAPH_SECTIONS), "every backend has a manifest section, and only those"


def preference() -> tuple[str, ...]:
    """Every backend name, the order a bundle's default is chosen in: the registry's order, with the
    backends whose libraries are missing here moved last (so a lean install picks ONNX where a bundle
    has both, and a bundle with only ExecuTorch graphs still names ExecuTorch and its extra)."""
    return tuple(sorted(BACKENDS, key=lambda name: not BACKENDS[name].installed()))


# ``Bundle.resolve_backend`` takes the first of these that a bundle has
BACKEND_NAMES: tuple[str, ...] = preference()


def backend(name: str) -> Backend:
    if name not in BACKENDS:
        raise BundleError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    return BACKENDS[name]


def require_installed(name: str, alternatives: Iterable[str] = ()) -> None:
    """Refuse, in one line naming what to install, a backend whose libraries are missing here."""
    entry = backend(name)
    missing = entry.missing()
    if not missing:
        return
    how = f"pip install 'pocketmt[{entry.extra}]'" if entry.extra else "reinstall pocketmt"
    others = [o for o in alternatives if o != name and o in BACKENDS and BACKENDS[o].installed()]
    instead = f", or use the {others[0]} backend, which this bundle also has" if others else ""
    # exit 2 on the command line, like any input it cannot act on
    raise PocketMTError(
        f"the {name} backend needs {' and '.join(missing)}, not installed here: {how}{instead}"
    )


def open_graphs(bundle: Bundle, name: str) -> StepGraphs:
    """The step graphs of ``bundle`` on backend ``name``, loaded with that backend's runtime library."""
    require_installed(name, bundle.manifest.backends)
    return backend(name).open_graphs(bundle)
