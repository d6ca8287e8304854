"""Shared fixtures: one tiny copy-trained Marian checkpoint and one bundle exported from it.

Everything is made here, from synthetic text; nothing is downloaded and ../shared is not needed.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from pocketmt.export.random_model import TINY_COPY, make_random_marian, synthetic_sentences

for _name in ("torchao", "torch.utils._pytree", "torch.onnx"):
    logging.getLogger(_name).setLevel(logging.ERROR)

MAX_SOURCE_LEN = 32
MAX_TARGET_LEN = 24
BEAM = 4


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_random_marian(tmp_path_factory.mktemp("tiny") / "opus-mt-en-de-tiny", TINY_COPY)


@pytest.fixture(scope="session")
def tiny_bundle(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pocketmt.export.pipeline import ExportOptions, export_bundle

    out = tmp_path_factory.mktemp("bundles") / "tiny"
    export_bundle(
        tiny_model_dir,
        out,
        ExportOptions(max_source_len=MAX_SOURCE_LEN, max_target_len=MAX_TARGET_LEN, beam_size=BEAM),
    )
    return out


@pytest.fixture()
def bundle_copy(tiny_bundle: Path, tmp_path: Path) -> Path:
    """A private copy a test may damage."""
    dst = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, dst)
    return dst


@pytest.fixture(scope="session")
def sentences() -> list[str]:
    # a different seed from the text the tokenizer and the copy task were trained on
    return synthetic_sentences(100, seed=99)
