"""``pocketmt eval``: BLEU/chrF JSON, gzip input, and the same score before and after export."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from pocketmt.cli import main
from pocketmt.evaluate import term_found


@pytest.fixture()
def test_set(tmp_path: Path, sentences: list[str]) -> tuple[Path, Path]:
    src = tmp_path / "test.en.gz"
    src.write_bytes(gzip.compress(("\n".join(sentences[:30]) + "\n").encode()))
    ref = tmp_path / "test.ref"  # the tiny model copies, so its source is its reference
    ref.write_text("\n".join(sentences[:30]) + "\n")
    return src, ref


def _eval_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, float]:
    assert main(["eval", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_eval_scores_bundle_and_checkpoint_alike(
    tiny_bundle: Path, tiny_model_dir: Path, test_set: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    src, ref = test_set
    common = ["--src", str(src), "--ref", str(ref), "--beam", "2"]
    on_pte = _eval_json(capsys, "--bundle", str(tiny_bundle), "--backend", "executorch", *common)
    on_onnx = _eval_json(capsys, "--bundle", str(tiny_bundle), "--backend", "onnx", *common)
    eager = _eval_json(capsys, "--bundle", str(tiny_model_dir), *common)
    for key in ("bleu", "chrf", "sentences", "seconds"):
        assert key in on_pte
    assert on_pte["sentences"] == 30
    assert 10 < on_pte["chrf"] <= 100 and 0 < on_pte["bleu"] <= 100
    assert on_pte["bleu"] == on_onnx["bleu"] == eager["bleu"]
    assert on_pte["chrf"] == on_onnx["chrf"] == eager["chrf"]


def test_misaligned_files_are_an_error(
    tiny_bundle: Path, test_set: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src, _ = test_set
    short = tmp_path / "short.txt"
    short.write_text("one line\n")
    assert main(["eval", "--bundle", str(tiny_bundle), "--src", str(src), "--ref", str(short)]) == 2
    assert "source has 30 lines but reference has 1" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("forms", "hypothesis", "found"),
    [
        (["Haus"], "Das HAUS ist rot.", True),  # case-insensitive
        (["cat"], "a category", False),  # whole words only
        (["&"], "F & E", True),  # punctuation-only terms count
        ([") -"], "3 ) - - 13", True),
        (["科学"], "科学院 of Wuhan", True),  # unspaced scripts match per character
        (["GDP"], "product (GDP)", True),
        (["Global Index", "Index"], "the global index", True),  # any form
        (["ﬁne"], "fine", True),  # NFKC
    ],
)
def test_term_success_rule(forms: list[str], hypothesis: str, found: bool) -> None:
    assert term_found(forms, hypothesis) is found
