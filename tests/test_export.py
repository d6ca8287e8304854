"""Export: refuses bad model folders, and refuses to write a bundle its own check rejects."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from pocketmt.cli import main
from pocketmt.export.errors import ExportError
from pocketmt.export.pipeline import ExportOptions, export_bundle


def _err(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main([argv[0], "--quiet", *argv[1:]] if argv[0] == "export" else list(argv)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("pocketmt: error:")
    return err[0]


def test_model_folder_problems_are_one_line_errors(
    tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "b")
    assert "model folder not found" in _err(capsys, "export", str(tmp_path / "missing"), "-o", out)
    (tmp_path / "empty").mkdir()
    assert "no config.json" in _err(capsys, "export", str(tmp_path / "empty"), "-o", out)
    bert = tmp_path / "bert"
    bert.mkdir()
    (bert / "config.json").write_text(json.dumps({"model_type": "bert"}))
    assert "not a Marian checkpoint (model_type is 'bert'" in _err(capsys, "export", str(bert), "-o", out)
    partial = tmp_path / "partial"
    shutil.copytree(tiny_model_dir, partial)
    (partial / "source.spm").unlink()
    assert "lacks source.spm" in _err(capsys, "export", str(partial), "-o", out)
    assert "unknown format" in _err(capsys, "export", str(tiny_model_dir), "-o", out, "--format", "tflite")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "keep.txt").write_text("x")
    assert "--overwrite" in _err(capsys, "export", str(tiny_model_dir), "-o", out)
    assert not (tmp_path / "b" / "manifest.json").exists()


def test_export_refuses_a_bundle_that_disagrees_with_eager(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pocketmt.runtime.translator as translator

    real = translator.load_graphs

    class Skewed:
        def __init__(self, inner: object) -> None:
            self.inner = inner

        def encode(self, ids: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return self.inner.encode(ids, mask)  # type: ignore[attr-defined]

        @property
        def step_contract(self) -> int:
            return int(getattr(self.inner, "step_contract", 1))

        def decode_step(self, *args: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            lp, k, v = self.inner.decode_step(*args)  # type: ignore[attr-defined]
            lp = lp.copy()
            lp[:, 5] += 0.01  # a small numeric drift, ten times the tolerance
            return lp, k, v

        def decode_grow(self, *args: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            lp, k, v = self.inner.decode_grow(*args)  # type: ignore[attr-defined]
            lp = lp.copy()
            lp[:, 5] += 0.01
            return lp, k, v

    monkeypatch.setattr(translator, "load_graphs", lambda bundle, backend: Skewed(real(bundle, backend)))
    out = tmp_path / "bundle"
    with pytest.raises(ExportError, match=r"refusing to write the bundle: onnx: decode_step log_probs"):
        export_bundle(
            tiny_model_dir, out, ExportOptions(formats=("onnx",), max_source_len=16, max_target_len=8)
        )
    assert not out.exists()
    assert [p for p in tmp_path.iterdir()] == []  # no partial folder left behind


def test_onnx_only_bundle_translates_and_pte_backend_is_refused(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "onnx-only"
    export_bundle(
        tiny_model_dir,
        out,
        ExportOptions(formats=("onnx",), max_source_len=16, max_target_len=8, beam_size=2),
    )
    assert not (out / "model.pte").exists()
    assert main(["verify", str(out)]) == 0
    capsys.readouterr()
    assert "no executorch graphs" in _err(
        capsys, "translate", "--bundle", str(out), "--backend", "executorch", "x"
    )


def test_joint_sentencepiece_is_stored_once(tiny_bundle: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    from pocketmt.io.tokenizer_files import bundle_tokenizer_files

    manifest = json.loads((tiny_bundle / "manifest.json").read_text())
    assert manifest["tokenizer"]["source_spm"] == manifest["tokenizer"]["target_spm"] == "source.spm"
    assert not (tiny_bundle / "target.spm").exists()
    # different files for the two sides are both kept
    other = tmp_path / "m"
    shutil.copytree(tiny_model_dir, other)
    (other / "target.spm").write_bytes((other / "target.spm").read_bytes() + b"\0")
    assert bundle_tokenizer_files(other)["target_spm"] == "target.spm"
