"""Architecture adapters, by Hugging Face ``model_type``.

An adapter loads a checkpoint's model and builds the step-contract graphs
(``base.StepGraphs``). Adding T5 or BART means adding a module here and a
line in ``ADAPTERS``; the runtime does not change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pocketmt.export.arch import marian
from pocketmt.export.arch.base import StepGraphs


@dataclass(frozen=True)
class Adapter:
    load_model: Callable[[Path], Any]
    build_step_graphs: Callable[..., StepGraphs]  # (model, max_target_len, max_source_len)


ADAPTERS: dict[str, Adapter] = {
    "marian": Adapter(marian.load_model, marian.build_step_graphs),
}
