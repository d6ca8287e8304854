"""ExecuTorch backend: runs ``model.pte`` (XNNPACK-lowered) with ``executorch.runtime``."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr
from pathlib import Path
from typing import Any

import numpy as np

from pocketmt.runtime.errors import BundleError
from pocketmt.runtime.step import F32, I64


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


class ExecuTorchGraphs:
    def __init__(
        self,
        pte_path: Path,
        encode_method: str = "encode",
        step_method: str = "decode_step",
        data_path: Path | None = None,
    ) -> None:
        import torch
        from executorch.runtime import Runtime

        self._torch: Any = torch
        with _quiet_native_stderr():
            try:
                runtime = Runtime.get()
                program = runtime.load_program(str(pte_path), data_path=str(data_path) if data_path else None)
                self._encode: Any = program.load_method(encode_method)
                self._step: Any = program.load_method(step_method)
            except Exception as exc:  # the bindings raise RuntimeError/ValueError with native codes
                raise BundleError(f"{pte_path}: not a loadable ExecuTorch program ({exc})") from exc
        if self._encode is None or self._step is None:
            raise BundleError(f"{pte_path}: program lacks method {encode_method!r} or {step_method!r}")

    def _run(self, method: Any, arrays: list[np.ndarray]) -> list[np.ndarray]:
        inputs = [self._torch.from_numpy(np.ascontiguousarray(a)) for a in arrays]
        outputs = method.execute(inputs)
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
