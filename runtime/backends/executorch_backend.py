"""ExecuTorch backend: runs the bundle's one-file ``model.pte`` (XNNPACK-lowered) on ExecuTorch's
native runtime, as the phone does.

Only the runtime is loaded, never the compiler: ``executorch.runtime`` is a thin wrapper over the
native bindings (``executorch.extension.pybindings._C``) whose Python module imports the whole of
``executorch.exir`` on the way (for one warning class), about 3 s and most of ExecuTorch's Python.
So the bindings are used directly, through the same calls ``executorch.runtime`` makes. ``torch``
itself cannot be avoided with the pip wheel: the bindings link ``libtorch`` and take and return
torch tensors. The quantized embedding kernels that low-bit programs use are registered by loading
ExecuTorch's quantized kernel library (``executorch.kernels.quantized``), as the Android AAR links them.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pocketmt.runtime.errors import BundleError
from pocketmt.runtime.manifest import check_graph_shapes, pte_shapes
from pocketmt.runtime.step import F32, I64

if TYPE_CHECKING:
    from pocketmt.runtime.bundle import Bundle
    from pocketmt.runtime.step import StepGraphs

# what bundles of pocketmt before the one-file program shipped beside model.pte
OLD_WEIGHTS_KEY = "weights"


@contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """ExecuTorch logs CPU probing and load failures both natively (fd 2) and through Python's
    stderr; the failure comes back as an exception, so keep stderr for pocketmt's own messages."""
    try:
        saved = os.dup(2)
    except OSError:
        with redirect_stderr(io.StringIO()):
            yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        with redirect_stderr(io.StringIO()):
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _native() -> Any:
    """The native runtime bindings, with the quantized kernels registered."""
    # imports torch first, which loads the libtorch that the bindings link against
    import executorch.kernels.quantized  # noqa: F401  (registers embedding_4bit, embedding_byte, ...)
    from executorch.extension.pybindings import _C

    return _C


class ExecuTorchGraphs:
    """The program's two methods. A loaded ExecuTorch method is not safe to execute from two threads at
    once (it runs in its own memory-planned buffers, and its outputs live there until the next run), so
    one lock serialises the runs of both methods and the copying of their outputs; translations in
    several threads still overlap in everything else (search, tokenizing)."""

    def __init__(
        self,
        pte_path: Path,
        encode_method: str = "encode",
        step_method: str = "decode_step",
        data_path: Path | None = None,
    ) -> None:
        # ``data_path`` stays for callers of the two-file format; a program never needs one now
        if data_path is not None:
            raise BundleError(
                f"{pte_path}: a separate ExecuTorch data file is no longer supported; re-export"
            )
        import torch

        self._torch: Any = torch
        self._lock = threading.Lock()
        with _quiet_native_stderr():
            try:
                native = _native()
                self._program: Any = native._load_program(
                    str(pte_path), program_verification=native.Verification.InternalConsistency
                )
                names = {self._program.get_method_name(i) for i in range(self._program.num_methods())}
                if encode_method not in names or step_method not in names:
                    raise BundleError(
                        f"{pte_path}: program lacks method {encode_method!r} or {step_method!r}"
                    )
                self._encode: Any = self._program.load_method(encode_method)
                self._step: Any = self._program.load_method(step_method)
            except BundleError:
                raise
            except Exception as exc:  # the bindings raise RuntimeError/ValueError with native codes
                raise BundleError(f"{pte_path}: not a loadable ExecuTorch program ({exc})") from exc

    def _run(self, method: Any, arrays: list[np.ndarray]) -> list[np.ndarray]:
        inputs = [self._torch.from_numpy(np.ascontiguousarray(a)) for a in arrays]
        with self._lock:
            outputs = method(inputs)
            return [np.array(o.numpy(), copy=True) for o in outputs]

    def encode(self, input_ids: I64, attention_mask: I64) -> tuple[F32, F32]:
        k, v = self._run(self._encode, [input_ids, attention_mask])
        return k, v

    def decode_step(
        self,
        input_ids: I64,
        position: I64,
        self_k: F32,
        self_v: F32,
        cross_k: F32,
        cross_v: F32,
        attention_mask: I64,
    ) -> tuple[F32, F32, F32]:
        lp, nk, nv = self._run(
            self._step, [input_ids, position, self_k, self_v, cross_k, cross_v, attention_mask]
        )
        return lp, nk, nv


def refuse_old_weights(bundle_path: Path, entry: dict[str, Any]) -> None:
    """Bundles whose program needs a data file rebuilt by ExecuTorch's compiler are not loaded."""
    if OLD_WEIGHTS_KEY in entry:
        name = entry[OLD_WEIGHTS_KEY].get("file", "model.weights.safetensors")
        raise BundleError(
            f"{bundle_path}: its ExecuTorch weights ({name}) are in the format of an older pocketmt; "
            "re-export the bundle with `pocketmt export`"
        )


def pool_threads() -> int:
    """The size of ExecuTorch's XNNPACK thread pool (one per process)."""
    return int(_native()._threadpool_get_thread_count())


def set_pool_threads(threads: int) -> None:
    """Resize ExecuTorch's thread pool. It is one pool for the whole process, sized by the library from
    the machine's cores, not from the CPUs the process may run on: under ``taskset -c 0`` it keeps two
    threads on one core, which costs a third of a beam-4 step here. Call it when no method runs."""
    if threads < 1:
        raise ValueError(f"threads must be 1 or more, got {threads}")
    if pool_threads() != threads:
        with _quiet_native_stderr():  # the library logs the reset on fd 2
            _native()._unsafe_reset_threadpool(threads)


def open_graphs(bundle: Bundle, threads: int = 0) -> StepGraphs:
    """The bundle's ExecuTorch graphs (``manifest.graphs["executorch"]``), ready to run; ``threads`` > 0
    resizes the process's ExecuTorch thread pool first (0: the library's own size)."""
    if threads:
        set_pool_threads(threads)
    entry = bundle.manifest.graphs["executorch"]
    refuse_old_weights(bundle.path, entry)
    graphs = ExecuTorchGraphs(bundle.file(entry["file"]), entry["encode"], entry["decode_step"])
    # a manifest whose sizes or limits the program contradicts is refused before anything runs
    check_graph_shapes(
        bundle.manifest,
        str(bundle.file(entry["file"])),
        encode=pte_shapes(graphs._program, entry["encode"]),
        step=pte_shapes(graphs._program, entry["decode_step"]),
    )
    return graphs
